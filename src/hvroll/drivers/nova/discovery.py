"""A cloud read through Nova's and placement's APIs, turned into an inventory.

Reading (:func:`read_cloud`, I/O through openstacksdk) is kept apart from the translation into
domain objects (:func:`fleet_from_cloud`, pure, tested on plain records):

- hosts from nova-compute services and hypervisors (name, state, disabled reason, zone), CPU
  generation from the hypervisor's ``cpu_info`` (model, vendor, features), profile from
  ``hypervisor_type``/``hypervisor_version`` and placement traits through the host-facts
  file, capacity and allocation ratios from placement inventories; clusters from aggregates,
  zones or a host-name pattern;
- VMs from the servers of all projects: flavor, image properties → guest, config drive,
  volumes and boot-from-volume, server group, power state, and from the instance actions the
  live migrations since the last power cycle (a reboot, stop, start, shelve, resize … resets
  the count).

What the API cannot tell (the CPU a guest started with, a host's libvirt and OS) is left at the
inventory's defaults or taken from the host-facts file, and listed in :attr:`Discovery.notes`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hvroll.domain import (
    Cluster,
    ConfigDrive,
    CpuGeneration,
    Devices,
    Disk,
    DiskKind,
    Fleet,
    GroupPolicy,
    GuestOs,
    GuestOsFamily,
    Host,
    HostProfile,
    PowerState,
    Region,
    SchedulingState,
    ServerGroup,
    Vm,
    VmHistory,
)
from hvroll.drivers.nova.facts import HostFacts
from hvroll.errors import InputError

POWER_CYCLE_ACTIONS = frozenset({
    "create", "reboot", "stop", "start", "shelve", "unshelve", "shelveOffload", "resize",
    "confirmResize", "revertResize", "rebuild", "migrate", "evacuate", "suspend", "resume",
    "rescue", "unrescue",
})
"""Instance actions after which the guest runs in a fresh QEMU process (a power cycle)."""
LIVE_MIGRATION_ACTION = "live-migration"
_POWER = {1: PowerState.RUNNING, 3: PowerState.PAUSED, 4: PowerState.SHUTOFF,
          6: PowerState.CRASHED, 7: PowerState.PAUSED}
"""Nova's ``power_state`` values (running, paused, shutdown, crashed, suspended)."""
_NAME_OK = re.compile(r"[^A-Za-z0-9._:@/-]")


@dataclass(frozen=True, slots=True)
class RawHost:
    name: str
    """The nova-compute service's host (what servers name as their ``compute_host``)."""
    zone: str
    state: str
    status: str
    disabled_reason: str | None
    hypervisor_type: str | None
    hypervisor_version: int | None
    cpu_info: dict[str, Any]
    inventories: dict[str, dict[str, Any]]
    """Placement inventories by resource class (``VCPU``, ``MEMORY_MB``, ``DISK_GB``)."""
    aggregates: tuple[str, ...] = ()
    traits: tuple[str, ...] = ()
    """The placement traits of the hypervisor's resource provider (read only when the
    host-facts file matches a profile on a trait)."""


@dataclass(frozen=True, slots=True)
class RawServer:
    id: str
    name: str
    host: str | None
    project_id: str
    status: str
    power_state: int | None
    vcpus: int
    ram_mib: int
    disk_gib: int
    extra_specs: dict[str, str]
    image_properties: dict[str, str] | None
    """None: booted from a volume (no image)."""
    volumes: tuple[str, ...]
    config_drive: bool
    actions: tuple[tuple[str, str], ...]
    """(action, start time ISO 8601), oldest first."""


@dataclass(frozen=True, slots=True)
class RawGroup:
    id: str
    name: str
    policy: str
    members: tuple[str, ...]


@dataclass(slots=True)
class RawCloud:
    region: str
    hosts: list[RawHost] = field(default_factory=list)
    servers: list[RawServer] = field(default_factory=list)
    groups: list[RawGroup] = field(default_factory=list)


@dataclass(slots=True)
class Discovery:
    fleet: Fleet
    notes: list[str]
    counts: dict[str, int]


def check_cluster_by(cluster_by: str) -> str:
    """``cluster_by`` if valid, else ``InputError`` (checked before the cloud is read)."""
    if cluster_by in ("az", "aggregate"):
        return cluster_by
    if cluster_by.startswith("regex:"):
        try:
            re.compile(cluster_by.removeprefix("regex:"))
        except re.error as exc:
            raise InputError(f"--cluster-by {cluster_by}: not a regular expression "
                             f"({exc})") from exc
        return cluster_by
    raise InputError(f"--cluster-by {cluster_by!r}: expected aggregate, az or regex:PATTERN")


def cluster_of(host: RawHost, cluster_by: str) -> str:
    """The cluster a host belongs to: ``aggregate`` (its first aggregate by name, else its
    zone), ``az`` (its availability zone) or ``regex:PATTERN`` (the first group of the match
    on its name, or the whole match)."""
    if cluster_by == "az":
        return host.zone or "nova"
    if cluster_by == "aggregate":
        return sorted(host.aggregates)[0] if host.aggregates else (host.zone or "nova")
    if cluster_by.startswith("regex:"):
        pattern = cluster_by.removeprefix("regex:")
        try:
            found = re.search(pattern, host.name)
        except re.error as exc:
            raise InputError(f"--cluster-by regex:{pattern}: not a regular expression "
                             f"({exc})") from exc
        if found is None:
            raise InputError(f"--cluster-by regex:{pattern}: host {host.name!r} does not match "
                             "(every host must)")
        return found.group(1) if found.groups() else found.group(0)
    raise InputError(f"--cluster-by {cluster_by!r}: expected aggregate, az or regex:PATTERN")


def guest_of(props: dict[str, str] | None) -> GuestOs:
    """The guest OS from image properties (``os_type``, ``os_distro``, ``os_version``); an
    image without them gives family ``other``: unknown, not guessed."""
    p = props or {}
    distro = str(p.get("os_distro", "")).lower()
    os_type = str(p.get("os_type", "")).lower()
    if os_type == "windows" or distro == "windows":
        family = GuestOsFamily.WINDOWS
    elif distro in ("freebsd", "openbsd", "netbsd"):
        family = GuestOsFamily.FREEBSD
    elif os_type == "linux" or distro:
        family = GuestOsFamily.LINUX
    else:
        family = GuestOsFamily.OTHER
    return GuestOs(family=family, distro=distro, version=str(p.get("os_version", "")))


def history_of(actions: tuple[tuple[str, str], ...]) -> VmHistory:
    """Live migrations since the last power cycle, and when that cycle was."""
    count, last = 0, None
    for action, when in actions:
        if action == LIVE_MIGRATION_ACTION:
            count += 1
        elif action in POWER_CYCLE_ACTIONS:
            count, last = 0, when
    cycle = datetime.fromisoformat(last.replace("Z", "+00:00")) if last else None
    return VmHistory(live_migrations_since_power_cycle=count, last_power_cycle=cycle)


def _name(raw: str, fallback: str) -> str:
    clean = _NAME_OK.sub("-", raw).lstrip("._:@/-")
    return clean[:255] or fallback


def fleet_from_cloud(cloud: RawCloud, facts: HostFacts, cluster_by: str = "az") -> Discovery:
    """The cloud as a ``Fleet`` (pure)."""
    notes: list[str] = []
    def profile_of(h: RawHost) -> HostProfile | None:
        return facts.profile_for(h.hypervisor_type, h.hypervisor_version, h.traits)

    unmatched = sorted({f"{h.hypervisor_type} {h.hypervisor_version}" for h in cloud.hosts
                        if profile_of(h) is None})
    if unmatched:
        which = [h.name for h in cloud.hosts if profile_of(h) is None]
        raise InputError(f"hypervisor {', '.join(unmatched)} (hosts {', '.join(which[:5])}) "
                         "matches no profile of the host-facts file: add one (docs/nova.md)")
    generations: dict[tuple[str, str, tuple[str, ...]], CpuGeneration] = {}
    hosts: list[Host] = []
    clusters: dict[str, Cluster] = {}
    for h in sorted(cloud.hosts, key=lambda x: x.name):
        model = str(h.cpu_info.get("model") or "unknown")
        vendor = str(h.cpu_info.get("vendor") or "unknown")
        features = tuple(sorted(str(f) for f in h.cpu_info.get("features") or ()))
        key = (model, vendor, features)
        if key not in generations:
            same_model = sum(1 for k in generations if k[0] == model)
            gname = model if not same_model else f"{model}-{same_model + 1}"
            generations[key] = CpuGeneration(name=_name(gname, "cpu"), model=_name(model, "cpu"),
                                             vendor=vendor, features=features)
        profile = profile_of(h)
        assert profile is not None
        cluster = _name(cluster_of(h, cluster_by), "cluster")
        clusters.setdefault(cluster, Cluster(name=cluster, region=cloud.region))
        inv = h.inventories
        extra = facts.hosts.get(h.name, {})
        if not inv.get("VCPU") or not inv.get("MEMORY_MB"):
            notes.append(f"host {h.name}: placement has no VCPU/MEMORY_MB inventory; "
                         "capacity from nothing is not invented: host left out")
            continue
        hosts.append(Host(
            name=_name(h.name, "host"), cluster=cluster, generation=generations[key].name,
            profile=profile.name,
            vcpus=int(inv["VCPU"]["total"]), ram_mib=int(inv["MEMORY_MB"]["total"]),
            disk_gib=int(inv.get("DISK_GB", {}).get("total", 0)),
            cpu_allocation_ratio=float(inv["VCPU"].get("allocation_ratio", 1.0)),
            ram_allocation_ratio=float(inv["MEMORY_MB"].get("allocation_ratio", 1.0)),
            disk_allocation_ratio=float(inv.get("DISK_GB", {}).get("allocation_ratio", 1.0)),
            scheduling=(SchedulingState.DISABLED if h.status == "disabled"
                        else SchedulingState.ENABLED),
            **extra,
        ))
        if h.state != "up":
            notes.append(f"host {h.name}: nova-compute is {h.state}")
        if h.status == "disabled":
            notes.append(f"host {h.name}: disabled ({h.disabled_reason or 'no reason given'})")
    known_hosts = {h.name for h in hosts}
    group_of: dict[str, str] = {}
    groups: list[ServerGroup] = []
    name_count = Counter(g.name for g in cloud.groups)
    for g in cloud.groups:
        gname = _name(g.name if name_count[g.name] == 1 else f"{g.name}-{g.id[:8]}", "group")
        try:
            policy = GroupPolicy(g.policy)
        except ValueError:
            notes.append(f"server group {g.name}: policy {g.policy!r} left out")
            continue
        groups.append(ServerGroup(name=gname, policy=policy))
        for member in g.members:
            group_of[member] = gname
    vm_names = Counter(s.name for s in cloud.servers)
    vms: list[Vm] = []
    skipped = 0
    for s in cloud.servers:
        host = _name(s.host, "host") if s.host else None
        if host is None or host not in known_hosts:
            skipped += 1
            notes.append(f"server {s.name} ({s.id}): status {s.status} on "
                         f"{s.host or 'no host'}: not a VM of any discovered host, left out")
            continue
        disks = [Disk(kind=DiskKind.VOLUME) for _ in s.volumes]
        if s.image_properties is not None and s.disk_gib:
            disks.insert(0, Disk(kind=DiskKind.LOCAL, size_gib=s.disk_gib))
        name = s.name if vm_names[s.name] == 1 else f"{s.name}-{s.id[:8]}"
        vms.append(Vm(
            name=_name(name, s.id), uuid=s.id.lower(), host=host, vcpus=max(1, s.vcpus),
            ram_mib=max(1, s.ram_mib), disks=tuple(disks), guest=guest_of(s.image_properties),
            devices=Devices(config_drive=ConfigDrive.ISO9660 if s.config_drive
                            else ConfigDrive.NONE),
            tenant=s.project_id, server_group=group_of.get(s.id),
            power=_POWER.get(s.power_state or 0, PowerState.SHUTOFF),
            history=history_of(s.actions),
        ))
    notes.append("guest CPU mode: not in Nova's API; every VM is left at the inventory default "
                 "(host-model)")
    fleet = Fleet(
        regions=(Region(name=_name(cloud.region, "region")),),
        clusters=tuple(clusters.values()),
        generations=tuple(generations.values()),
        profiles=tuple(m.profile for m in facts.profiles),
        server_groups=tuple(groups),
        hosts=tuple(hosts),
        vms=tuple(vms),
    )
    counts = {"hosts": len(hosts), "vms": len(vms), "skipped_servers": skipped,
              "server_groups": len(groups), "clusters": len(clusters),
              "projects": len({s.project_id for s in cloud.servers})}
    return Discovery(fleet=fleet, notes=notes, counts=counts)


def cpu_info_of(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        data = json.loads(value or "{}")
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
