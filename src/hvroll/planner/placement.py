"""Choosing a destination for one VM: shared by the planner and the executor's re-planning."""

from __future__ import annotations

from collections.abc import Sequence

from hvroll.compat.verdict import Checker, Verdict
from hvroll.domain import Vm
from hvroll.planner.state import PlanState


def pick(state: PlanState, vm: Vm,
         allowed: Sequence[tuple[str, Verdict]]) -> tuple[str, Verdict] | None:
    """Among destinations the verdicts allow, the one with room (allocation ratios) and no
    anti-affinity conflict that has the most free RAM; ties go to the first name."""
    fit = [(d, v) for d, v in allowed if state.fits(vm, d) and state.anti_affinity_ok(vm, d)]
    if not fit:
        return None
    return max(fit, key=lambda dv: (state.free_ram_share(dv[0]), _neg(dv[0])))


def choose_destination(state: PlanState, checker: Checker, vm: Vm, source: str,
                       candidates: Sequence[str], *, live: bool = True) -> str | None:
    """The best destination among ``candidates`` for ``vm`` leaving ``source`` now."""
    allowed = []
    for dest in candidates:
        verdict = (checker.migration(vm, state.host[source], state.host[dest]) if live
                   else checker.spawn(vm, state.host[dest]))
        if verdict.allowed:
            allowed.append((dest, verdict))
    choice = pick(state, vm, allowed)
    return None if choice is None else choice[0]


def _neg(name: str) -> tuple[int, ...]:
    """Sort key that makes ``max`` prefer the alphabetically first name."""
    return tuple(-ord(c) for c in name)
