"""Synthetic fleets, deterministic by seed (``hvroll fleet generate``).

The same preset and seed always give the same fleet, byte for byte once saved. Numbers that
shape a preset (cluster sizes, guest OS mix, share of noisy VMs) live in ``presets.py``.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from hvroll.bulk import construct as _construct
from hvroll.bulk import long_lived
from hvroll.compat.cpu import model_features
from hvroll.compat.exposure import host_model_cpu
from hvroll.domain import (
    Cluster,
    ConfigDrive,
    CpuMode,
    Devices,
    Disk,
    DiskKind,
    Fleet,
    GroupPolicy,
    GuestCpu,
    GuestOs,
    GuestOsFamily,
    Host,
    HostRole,
    Passthrough,
    PowerState,
    Region,
    ServerGroup,
    Vm,
    VmHistory,
)
from hvroll.errors import InputError
from hvroll.synthetic.presets import PRESETS, Flavor, Hardware, Preset

EPOCH = datetime(2026, 6, 1, tzinfo=UTC)
"""Reference time of generated histories, so that fleets do not depend on today's date."""

T = TypeVar("T")
Progress = Callable[[int, int], None]


def generate(preset: str | Preset, seed: int, progress: Progress | None = None) -> Fleet:
    """A fleet of the named preset; ``progress(done, total)`` is called once per cluster.

    Built with the cyclic collector paused and frozen once built, as a loaded fleet is
    (:func:`hvroll.bulk.long_lived`): later collections do not walk its objects."""
    spec = _preset(preset) if isinstance(preset, str) else preset
    with long_lived():
        return _Generator(spec, seed, progress).fleet()


def _preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown preset {name!r} (expected one of: "
                         f"{', '.join(PRESETS)})") from None


class _Picker(Generic[T]):
    """Weighted choice with precomputed cumulative weights (fast for many draws)."""

    def __init__(self, rng: random.Random, items: Sequence[T], weights: Sequence[float]) -> None:
        self._random = rng.random
        self._items = list(items)
        self._cum = list(itertools.accumulate(weights))
        self._total = self._cum[-1]

    def __call__(self) -> T:
        return self._items[bisect.bisect_right(self._cum, self._random() * self._total)]


class _Generator:
    def __init__(self, spec: Preset, seed: int, progress: Progress | None) -> None:
        self.spec = spec
        self.rng = random.Random(f"{spec.name}:{seed}")
        self.progress = progress
        rng = self.rng
        self.image = _Picker(rng, spec.images, [i.weight for i in spec.images])
        self.flavor = _Picker(rng, spec.flavors, [f.weight for f in spec.flavors])
        self.vm_seq = itertools.count(1)
        profiles = {p.name: p for p in spec.profiles}
        self.cpus = {
            hw.generation.name: host_model_cpu(
                hw.generation, profiles[hw.profile], model_features(hw.generation.model))
            for hw in spec.hardware
        }
        self.guests = {
            i: GuestOs(family=i.family, distro=i.distro, version=i.version,
                       smap_support=i.smap_support) for i in spec.images}
        self.oldest_model = spec.hardware[0].generation.model
        total_vms = sum(spec.clusters_per_region) * (spec.cluster_size - spec.spares) \
            * spec.vms_per_host
        n_tenants = max(4, int(total_vms / 12))
        self.tenants = [f"tenant-{i:05d}" for i in range(n_tenants)]
        self.internal = {t for t in self.tenants if rng.random() < spec.internal_tenant_share}
        self.internal.add(self.tenants[0])
        self.tenant = _Picker(rng, self.tenants, [1.0 / (i + 1) ** 0.7 for i in range(n_tenants)])

    def fleet(self) -> Fleet:
        spec = self.spec
        regions: list[Region] = []
        clusters: list[Cluster] = []
        hosts: list[Host] = []
        vms: list[Vm] = []
        groups: list[ServerGroup] = []
        hardware = self._cluster_hardware(sum(spec.clusters_per_region))
        n_clusters = len(hardware)
        done = 0
        for r, count in enumerate(spec.clusters_per_region, start=1):
            region = Region(name=f"{spec.region_prefix}{r:02d}")
            regions.append(region)
            for c in range(1, count + 1):
                hw = hardware[done]
                cluster = Cluster(name=f"{region.name}-c{c:02d}", region=region.name)
                clusters.append(cluster)
                chosts = self._hosts(cluster, hw)
                hosts += chosts
                cvms, cgroups = self._vms(chosts, hw, passthrough=self._passthrough())
                vms += cvms
                groups += cgroups
                done += 1
                if self.progress is not None:
                    self.progress(done, n_clusters)
        return Fleet(
            regions=tuple(regions), clusters=tuple(clusters),
            generations=tuple(hw.generation for hw in spec.hardware),
            profiles=spec.profiles, server_groups=tuple(groups),
            hosts=tuple(hosts), vms=tuple(vms),
        )

    def _cluster_hardware(self, n: int) -> list[Hardware]:
        """Hardware per cluster in proportion to the weights (largest remainder), shuffled."""
        hw = self.spec.hardware
        total = sum(h.weight for h in hw)
        exact = [h.weight / total * n for h in hw]
        counts = [math.floor(x) for x in exact]
        by_remainder = sorted(range(len(hw)), key=lambda i: exact[i] - counts[i], reverse=True)
        for i in by_remainder[: n - sum(counts)]:
            counts[i] += 1
        out = [h for h, k in zip(hw, counts, strict=True) for _ in range(k)]
        self.rng.shuffle(out)
        return out

    def _passthrough(self) -> bool:
        return self.rng.random() < self.spec.passthrough_cluster_share

    def _hosts(self, cluster: Cluster, hw: Hardware) -> list[Host]:
        shape = self.spec.host
        size = self.spec.cluster_size
        return [
            Host(
                name=f"{cluster.name}-hv{h:02d}", cluster=cluster.name,
                generation=hw.generation.name, profile=hw.profile,
                vcpus=shape.vcpus, ram_mib=shape.ram_mib, disk_gib=shape.disk_gib,
                cpu_allocation_ratio=shape.cpu_allocation_ratio,
                ram_allocation_ratio=shape.ram_allocation_ratio, link_mib_s=shape.link_mib_s,
                role=HostRole.SPARE if h > size - self.spec.spares else HostRole.ACTIVE,
            )
            for h in range(1, size + 1)
        ]

    def _vms(self, hosts: list[Host], hw: Hardware,
             passthrough: bool) -> tuple[list[Vm], list[ServerGroup]]:
        rng = self.rng
        spec = self.spec
        placed: dict[str, list[dict[str, object]]] = {}
        for host in hosts:
            if host.role is HostRole.SPARE:
                continue
            target = max(1, round(spec.vms_per_host * rng.uniform(0.7, 1.3)))
            placed[host.name] = self._fill(host, target)
        groups = self._groups(placed)
        vms = [self._vm(host, raw, hw, passthrough)
               for host, raws in placed.items() for raw in raws]
        return vms, groups

    def _fill(self, host: Host, target: int) -> list[dict[str, object]]:
        cpu = ram = disk = 0
        out: list[dict[str, object]] = []
        for _ in range(target * 3):
            if len(out) == target:
                break
            flavor: Flavor = self.flavor()
            local = self.rng.random() < self.spec.local_root_share
            need_disk = flavor.disk_gib if local else 0
            if (cpu + flavor.vcpus > host.vcpu_capacity
                    or ram + flavor.ram_mib > host.ram_capacity_mib
                    or disk + need_disk > host.disk_capacity_gib):
                continue
            cpu, ram, disk = cpu + flavor.vcpus, ram + flavor.ram_mib, disk + need_disk
            out.append({"flavor": flavor, "local": local, "tenant": self.tenant()})
        return out

    def _groups(self, placed: dict[str, list[dict[str, object]]]) -> list[ServerGroup]:
        """Anti-affinity groups of 2–4 VMs, members on distinct hosts, one tenant each."""
        rng = self.rng
        n_vms = sum(len(v) for v in placed.values())
        hosts = [h for h, raws in placed.items() if raws]
        groups: list[ServerGroup] = []
        for _ in range(round(n_vms * self.spec.group_share / 3)):
            size = min(rng.choice((2, 3, 3, 4)), len(hosts))
            if size < 2:
                break
            name = f"sg-{len(groups) + 1:04d}-{hosts[0]}"
            members = [rng.choice(placed[h]) for h in rng.sample(hosts, size)]
            if any("group" in m for m in members):
                continue
            tenant = members[0]["tenant"]
            for m in members:
                m["group"] = name
                m["tenant"] = tenant
            groups.append(ServerGroup(name=name, policy=GroupPolicy.ANTI_AFFINITY))
        return groups

    def _vm(self, host: str, raw: dict[str, object], hw: Hardware, passthrough: bool) -> Vm:
        rng = self.rng
        spec = self.spec
        flavor = raw["flavor"]
        assert isinstance(flavor, Flavor)
        tenant = str(raw["tenant"])
        image = self.image()
        n = next(self.vm_seq)
        # Values here are valid by construction; the saved file is validated when loaded.
        disks = [_construct(Disk, kind=DiskKind.LOCAL if raw["local"] else DiskKind.SHARED,
                            size_gib=flavor.disk_gib)]
        if (spec.volumes_on_local_root or not raw["local"]) and rng.random() < spec.volume_share:
            disks += [_construct(Disk, kind=DiskKind.VOLUME,
                                 size_gib=rng.choice((50, 100, 200, 500)))
                      for _ in range(rng.choice((1, 1, 2)))]
        r = rng.random()
        drive = (ConfigDrive.ISO9660 if r < spec.config_drive_iso_share else
                 ConfigDrive.VFAT if r < spec.config_drive_iso_share + spec.config_drive_vfat_share
                 else ConfigDrive.NONE)
        devices = _construct(
            Devices,
            config_drive=drive,
            passthrough=((Passthrough.GPU if rng.random() < 0.8 else Passthrough.FPGA),)
            if passthrough else (),
        )
        migrated = 0
        if rng.random() < (0.3 if image.family is GuestOsFamily.WINDOWS else 0.15):
            migrated = rng.choice((1, 1, 2, 3))
        history = _construct(
            VmHistory,
            live_migrations_since_power_cycle=migrated,
            last_power_cycle=EPOCH - timedelta(seconds=rng.randrange(3600, 900 * 86400)),
        )
        r = rng.random()
        power = (PowerState.SHUTOFF if r < 0.05 else PowerState.PAUSED if r < 0.06
                 else PowerState.RUNNING)
        if rng.random() < spec.noisy_share:
            dirty = round(rng.uniform(400.0, 1600.0), 1)
        else:
            dirty = round(min(300.0, rng.lognormvariate(math.log(8.0), 1.0)), 1)
        return _construct(
            Vm,
            name=f"vm-{n:06d}", uuid=_uuid4(rng),
            host=host, vcpus=flavor.vcpus, ram_mib=flavor.ram_mib, disks=tuple(disks),
            guest=self.guests[image],
            cpu=self._cpu(hw), devices=devices, tenant=tenant,
            internal=tenant in self.internal, server_group=_opt_str(raw.get("group")),
            power=power, history=history, dirty_rate_mib_s=dirty,
        )

    def _cpu(self, hw: Hardware) -> GuestCpu:
        r = self.rng.random()
        started = self.cpus[hw.generation.name]
        if r < self.spec.custom_cpu_share:
            # An operator-pinned model: the fleet's oldest (a common baseline), or the host's
            # own model less what the host hides (as it could have started there).
            if self.rng.random() < 0.5:
                return GuestCpu(mode=CpuMode.CUSTOM, model=self.oldest_model)
            return GuestCpu(mode=CpuMode.CUSTOM, model=started.model, disabled=started.disabled)
        if r < self.spec.custom_cpu_share + self.spec.passthrough_cpu_share:
            # What the host's kernel lets through; CPv1's kernel predates SMAP for guests, so
            # the same features are hidden as for host-model.
            return started.model_copy(update={"mode": CpuMode.HOST_PASSTHROUGH})
        return started


def _uuid4(rng: random.Random) -> str:
    """A random (version 4) UUID drawn from ``rng``, formatted like ``str(uuid.uuid4())``."""
    bits = rng.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48)
    h = f"{bits | (0x4000 << 64) | (0x8000 << 48):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
