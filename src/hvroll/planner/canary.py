"""The canary wave, chosen as operators pick it.

Verification in staging cannot cover every combination, so a release goes to production
canaries first (seed 000): hosts holding **internal tenants' VMs** that cover the
heterogeneous combinations — guest family × host OS × CPU generation × what is special about
the VM for a migration (a Windows guest live-migrated before with its balloon, FreeBSD, a
config drive, local disk + volume, passthrough, a guest fact no source decides). Rules:

1. every upgraded (CPU generation, host OS) pair gets a canary host, unless impossible — and
   then the plan says why;
2. a canary never holds a VM that cannot move when another host of its pair would do;
3. then, up to the policy's number of canary hosts, hosts that add the most uncovered
   combinations of internal VMs (heterogeneous pairs count double), more internal VMs and
   fewer customers' VMs first; one canary per cluster.

:func:`choose_canaries` returns the hosts and what they cover and do not (with reasons), which
``hvroll plan`` prints and the plan file keeps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hvroll.compat.guestos import FACT, smap_fact
from hvroll.domain import ConfigDrive, Fleet, GuestOsFamily, Host, Vm

Combo = tuple[str, str, str, str]
"""(CPU generation, host OS, guest OS family, device class)."""
Pair = tuple[str, str]
"""(CPU generation, host OS)."""


def device_classes(vm: Vm) -> list[str]:
    """What is special about a VM for migration: a Windows guest migrated before with its
    balloon, passthrough, config drive, disks, and a fact no source decides
    (``unverified:smap_support``: the canary tries the assumption first)."""
    out = [f"passthrough:{p.value}" for p in vm.devices.passthrough]
    if (vm.guest.family is GuestOsFamily.WINDOWS and vm.devices.balloon
            and vm.history.live_migrations_since_power_cycle >= 1):
        out.append("migrated-with-balloon")
    if not smap_fact(vm.guest).verified:
        out.append(f"unverified:{FACT}")
    if vm.devices.config_drive is not ConfigDrive.NONE:
        out.append(f"config-drive:{vm.devices.config_drive.value}")
    if vm.has_local_disk and vm.has_volume:
        out.append("local-disk+volume")
    elif vm.has_local_disk:
        out.append("local-disk")
    return out or ["plain"]


def host_os(fleet: Fleet, host: Host) -> str:
    return fleet.profile_of(host).os_name


def pair_of(fleet: Fleet, host: Host) -> Pair:
    return (host.generation, host_os(fleet, host))


def combos(fleet: Fleet, host: Host, *, internal_only: bool = False) -> set[Combo]:
    """The combinations the VMs of ``host`` show (only its internal tenants' when asked)."""
    gen, os_name = pair_of(fleet, host)
    return {(gen, os_name, vm.guest.family.value, d)
            for vm in fleet.vms_by_host[host.name] if vm.internal or not internal_only
            for d in device_classes(vm)}


def weight(combo: Combo) -> int:
    """Heterogeneous host/guest pairs (a non-Linux guest on a Linux host) count double."""
    return 2 if combo[2] != GuestOsFamily.LINUX.value else 1


def label(combo: Combo) -> str:
    return "/".join(combo)


@dataclass(frozen=True, slots=True)
class CanaryChoice:
    hosts: tuple[Host, ...]
    covered: tuple[Combo, ...]
    """Combinations of internal VMs on the canary hosts."""
    uncovered: tuple[tuple[Combo, str], ...]
    """Combinations of internal VMs no canary holds, and why."""
    pairs_without: tuple[tuple[Pair, str], ...]
    """(generation, host OS) pairs to upgrade that got no canary, and why."""


def choose_canaries(fleet: Fleet, candidates: Sequence[Host], most: int,
                    movable: Callable[[Host], bool] | None = None) -> CanaryChoice:
    """The canary hosts among ``candidates`` (hosts to upgrade that hold VMs), at most
    ``most`` (one per cluster); ``movable(host)`` says whether every VM of a host can leave
    it (default: every VM can)."""
    hosts = [h for h in candidates if fleet.vms_by_host[h.name]]
    ok = {h.name: movable is None or movable(h) for h in hosts}
    internal = {h.name: combos(fleet, h, internal_only=True) for h in hosts}
    universe: set[Combo] = set().union(*internal.values()) if internal else set()
    pairs = {pair_of(fleet, h) for h in hosts}
    uncovered, open_pairs = set(universe), set(pairs)
    chosen: list[Host] = []
    clusters: set[str] = set()

    pair_by_host = {h.name: pair_of(fleet, h) for h in hosts}
    fixed: dict[str, tuple[int, int, int, tuple[int, ...]]] = {}
    for h in hosts:
        vms = fleet.vms_by_host[h.name]
        n_internal = sum(vm.internal for vm in vms)
        fixed[h.name] = (n_internal, -(len(vms) - n_internal), -len(vms), _neg(h.name))

    def key(h: Host) -> tuple[object, ...]:
        return (pair_by_host[h.name] in open_pairs,
                sum(weight(c) for c in internal[h.name] & uncovered), *fixed[h.name])

    while len(chosen) < most:
        options = [h for h in hosts if ok[h.name] and h.cluster not in clusters]
        best = max(options, key=key, default=None)
        if best is None or not (pair_of(fleet, best) in open_pairs
                                or internal[best.name] & uncovered):
            break
        chosen.append(best)
        clusters.add(best.cluster)
        uncovered -= internal[best.name]
        open_pairs.discard(pair_of(fleet, best))

    names = {h.name for h in chosen}
    pairs_without = []
    for pair in sorted(open_pairs):
        members = [h for h in hosts if pair_of(fleet, h) == pair]
        if not any(ok[h.name] for h in members):
            why = (f"every {pair[0]} host on {pair[1]} to upgrade holds a VM that cannot move "
                   f"(e.g. {members[0].name})")
        elif all(h.cluster in clusters for h in members if ok[h.name]):
            why = "its clusters' canary is already another host (one canary per cluster)"
        else:
            why = f"the canary wave is limited to {most} hosts (--canary-hosts)"
        pairs_without.append((pair, why))
    missing = []
    for combo in sorted(uncovered):
        holders = [h for h in hosts if combo in internal[h.name]]
        if not any(ok[h.name] for h in holders):
            why = "only on hosts holding a VM that cannot move"
        elif all(h.cluster in clusters for h in holders if ok[h.name]):
            why = "its clusters' canary is another host (one canary per cluster)"
        else:
            why = f"the canary wave is limited to {most} hosts (--canary-hosts)"
        missing.append((combo, why))
    covered = sorted(set().union(*(internal[n] for n in names)) if names else set())
    return CanaryChoice(tuple(chosen), tuple(covered), tuple(missing), tuple(pairs_without))


def _neg(name: str) -> tuple[int, ...]:
    """Sort key that makes ``max`` prefer the alphabetically first name."""
    return tuple(-ord(c) for c in name)
