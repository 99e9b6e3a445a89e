"""Choosing a destination for one VM: shared by the planner and the executor's re-planning."""

from __future__ import annotations

from collections.abc import Sequence

from hvroll.compat.verdict import Checker, Verdict
from hvroll.domain import Host, PowerState, Vm
from hvroll.planner.state import PlanState


def move_verdict(checker: Checker, vm: Vm, source: Host, dest: Host, *, live: bool) -> Verdict:
    """The verdict of one move: a live migration; for a cold move, that of a VM moved while
    off (a shut-off VM stays off: its next boot is later, :meth:`Checker.cold_migration`), or
    of a running VM's start on ``dest`` (:meth:`Checker.spawn`)."""
    if live:
        return checker.migration(vm, source, dest)
    if vm.power is PowerState.SHUTOFF:
        return checker.cold_migration(vm, source, dest)
    return checker.spawn(vm, dest)


def pick(state: PlanState, vm: Vm,
         allowed: Sequence[tuple[str, Verdict]]) -> tuple[str, Verdict] | None:
    """Among destinations the verdicts allow, the one with room (allocation ratios) and no
    anti-affinity conflict that has the most free RAM; ties go to the first name."""
    best: tuple[str, Verdict] | None = None
    best_share = 0.0
    vcpus, ram_mib, disk_gib = state.needs(vm)
    members = state.spread(vm)
    usage, capacity = state.usage, state.capacity
    for d, v in allowed:
        use = usage[d]
        vcpu_cap, ram_cap, disk_cap = capacity[d]
        free = 1.0 - use.ram_mib / ram_cap  # state.free_ram_share(d)
        if best is not None and (free < best_share or (free == best_share
                                                       and not _before(d, best[0]))):
            continue  # cannot beat the best so far: its room need not be checked
        if (use.vcpus + vcpus > vcpu_cap or use.ram_mib + ram_mib > ram_cap
                or use.disk_gib + disk_gib > disk_cap
                or (members is not None and members[d] != 0)):
            continue
        best, best_share = (d, v), free
    return best


def choose_destination(state: PlanState, checker: Checker, vm: Vm, source: str,
                       candidates: Sequence[str], *, live: bool = True) -> str | None:
    """The best destination among ``candidates`` for ``vm`` leaving ``source`` now."""
    allowed = []
    for dest in candidates:
        verdict = move_verdict(checker, vm, state.host[source], state.host[dest], live=live)
        if verdict.allowed:
            allowed.append((dest, verdict))
    choice = pick(state, vm, allowed)
    return None if choice is None else choice[0]


def _before(name: str, other: str) -> bool:
    """Whether ties go to ``name`` rather than ``other``: the first different character
    decides (the smaller wins); when one name starts the other, the longer wins.

    >>> _before("hv-2", "hv-10"), _before("hv-1", "hv-10"), _before("hv-10", "hv-1")
    (False, False, True)
    """
    for a, b in zip(name, other, strict=False):
        if a != b:
            return a < b
    return len(name) > len(other)
