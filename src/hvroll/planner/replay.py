"""Replay a plan on the inventory and check every safety invariant at each step.

Independent of how the plan was built: it applies the waves in order (per wave: reinstalls of
empty hosts that others drain into, then drains, then reinstalls, then returns) and reports
every violation it sees. Used by the property tests and by ``hvroll plan --verify``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hvroll.compat.verdict import Checker
from hvroll.domain import Fleet, HostProfile
from hvroll.planner.model import Migration, MoveKind, Plan
from hvroll.planner.placement import move_verdict
from hvroll.planner.state import PlanState


@dataclass(slots=True)
class Replay:
    """What replaying a plan found."""

    violations: list[str] = field(default_factory=list)
    reinstalled: Counter[str] = field(default_factory=Counter)
    final_location: dict[str, str] = field(default_factory=dict)


def replay(fleet: Fleet, plan: Plan, targets: dict[str, HostProfile]) -> Replay:
    """Apply ``plan`` to ``fleet``; ``targets`` maps each host to its target profile (as the
    planner's ``Targets`` resolved them). The fleet must list the target profiles."""
    state = PlanState(fleet)
    checker = Checker(fleet)
    out = Replay()
    before = {vm.name for vm in fleet.vms}

    def reinstall(host: str) -> None:
        if state.on_host[host]:
            out.violations.append(f"wave {wave.index}: {host} reinstalled while holding "
                                  f"{sorted(state.on_host[host])}")
        out.reinstalled[host] += 1
        if host not in targets:
            out.violations.append(f"wave {wave.index}: {host} reinstalled but not targeted")
            return
        state.upgrade(host, targets[host])

    def migrate(m: Migration) -> None:
        vm = state.vm(m.vm)
        if state.location[vm.name] != m.source:
            out.violations.append(f"wave {wave.index}: {vm.name} expected on {m.source}, "
                                  f"is on {state.location[vm.name]}")
            return
        if state.rank(m.dest) < state.rank(m.source):
            out.violations.append(f"wave {wave.index}: {vm.name} moves to a lower profile "
                                  f"({m.source} → {m.dest})")
        src, dst = state.host[m.source], state.host[m.dest]
        verdict = move_verdict(checker, vm, src, dst, live=m.kind is MoveKind.LIVE)
        if not verdict.allowed:
            out.violations.append(f"wave {wave.index}: {vm.name} to {m.dest} is blocked: "
                                  f"{verdict.reasons[0].message if verdict.reasons else ''}")
        if not state.fits(vm, m.dest):
            out.violations.append(f"wave {wave.index}: {m.dest} over capacity with {vm.name}")
        if not state.anti_affinity_ok(vm, m.dest):
            out.violations.append(f"wave {wave.index}: {vm.name} joins a member of its "
                                  f"anti-affinity group on {m.dest}")
        state.move(vm, m.dest)

    for wave in plan.waves:
        dests = {m.dest for s in wave.steps for m in s.drain}
        first = [s for s in wave.steps if s.host in dests]
        for step in first:
            if step.drain:
                out.violations.append(f"wave {wave.index}: {step.host} is drained and "
                                      f"receives VMs in the same wave")
            reinstall(step.host)
        for step in wave.steps:
            if step in first:
                continue
            for m in step.drain:
                migrate(m)
        for step in wave.steps:
            if step not in first and step.reinstall:
                reinstall(step.host)
        for m in wave.returns:
            migrate(m)
    for host, count in out.reinstalled.items():
        if count > 1:
            out.violations.append(f"{host} reinstalled {count} times")
    after = set(state.location)
    if after != before:
        out.violations.append(f"VMs lost or made up: {sorted(before ^ after)[:5]}")
    out.final_location = dict(state.location)
    return out
