"""The canary wave: few hosts whose VMs cover every combination the fleet has.

Verification in staging cannot cover every (CPU generation × guest OS × device) combination,
so hvroll releases to production canaries first: hosts whose VMs together cover every
combination present on the hosts to upgrade, heterogeneous host/guest pairs first (Windows or
FreeBSD on a Linux host), preferring hosts whose VMs belong to internal tenants.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hvroll.compat.guestos import FACT, smap_fact
from hvroll.domain import ConfigDrive, Fleet, GuestOsFamily, Host, Vm

Combo = tuple[str, str, str]
"""(CPU generation, guest OS family, device class)."""


def device_classes(vm: Vm) -> list[str]:
    """What is special about a VM for migration: passthrough, config drive, disks, and a fact
    no source decides (``unverified:smap_support``: the canary tries the assumption first)."""
    out = [f"passthrough:{p.value}" for p in vm.devices.passthrough]
    if not smap_fact(vm.guest).verified:
        out.append(f"unverified:{FACT}")
    if vm.devices.config_drive is not ConfigDrive.NONE:
        out.append(f"config-drive:{vm.devices.config_drive.value}")
    if vm.has_local_disk and vm.has_volume:
        out.append("local-disk+volume")
    elif vm.has_local_disk:
        out.append("local-disk")
    return out or ["plain"]


def combos(fleet: Fleet, host: Host) -> set[Combo]:
    return {(host.generation, vm.guest.family.value, d)
            for vm in fleet.vms_by_host[host.name] for d in device_classes(vm)}


def weight(combo: Combo) -> int:
    """Heterogeneous host/guest pairs (a non-Linux guest on a Linux host) count double."""
    return 2 if combo[1] != GuestOsFamily.LINUX.value else 1


def internal_share(fleet: Fleet, host: Host) -> float:
    vms = fleet.vms_by_host[host.name]
    return sum(vm.internal for vm in vms) / len(vms) if vms else 0.0


def choose_canaries(fleet: Fleet, candidates: Sequence[Host], most: int) -> list[Host]:
    """Greedy weighted set cover: each pick adds the most uncovered combination weight, ties
    broken by a larger share of internal VMs, then fewer VMs, then name. One host per cluster;
    stops when everything is covered or after ``most`` hosts."""
    cover = {h.name: combos(fleet, h) for h in candidates if fleet.vms_by_host[h.name]}
    share = {name: internal_share(fleet, fleet.host_by_name[name]) for name in cover}
    uncovered: set[Combo] = set().union(*cover.values()) if cover else set()
    chosen: list[Host] = []
    clusters: set[str] = set()
    while uncovered and len(chosen) < most:
        best = max(
            (name for name in cover if fleet.host_by_name[name].cluster not in clusters),
            key=lambda n: (_gain(cover[n] & uncovered), share[n],
                           -len(fleet.vms_by_host[n]), _neg(n)),
            default=None,
        )
        if best is None or not cover[best] & uncovered:
            break
        host = fleet.host_by_name[best]
        chosen.append(host)
        clusters.add(host.cluster)
        uncovered -= cover[best]
    return chosen


def _gain(new: Iterable[Combo]) -> int:
    return sum(weight(c) for c in new)


def _neg(name: str) -> tuple[int, ...]:
    """Sort key that makes ``max`` prefer the alphabetically first name."""
    return tuple(-ord(c) for c in name)
