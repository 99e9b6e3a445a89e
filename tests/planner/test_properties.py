"""Invariants of every plan, on random small fleets (hypothesis).

For any fleet, strategy and policy: replaying the plan never puts a host over capacity, never
puts two members of an anti-affinity group on one host, never moves a VM where its verdict
forbids or to a lower profile, reinstalls every targeted host that is not skipped exactly once
and only when empty, and loses or duplicates no VM.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hvroll.domain import Fleet, HostProfile
from hvroll.inventory.references import check
from hvroll.planner.build import Targets, plan
from hvroll.planner.model import Policy, Strategy
from hvroll.planner.replay import replay
from strategies import NEW, NEW_NOSMAP, fleets

POLICIES = st.builds(
    Policy, hosts_per_wave=st.sampled_from((None, 1, 2, 3)),
    canary_hosts=st.integers(0, 3), allow_cold_migration=st.booleans())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=fleets(), policy=POLICIES, strategy=st.sampled_from(list(Strategy)),
       target=st.sampled_from((NEW, NEW_NOSMAP)))
def test_every_plan_keeps_the_invariants(fleet: Fleet, policy: Policy, strategy: Strategy,
                                         target: HostProfile) -> None:
    assert check(fleet) == []
    result = plan(fleet, Targets(default=target), policy, strategy)
    targeted = {h.name for h in fleet.hosts if fleet.profile_of(h).rank < target.rank}
    resolved = dict.fromkeys(targeted, target)
    replayed = replay(_with(fleet, target), result, resolved)
    assert replayed.violations == []
    skipped = {s.host for s in result.skipped}
    assert set(replayed.reinstalled) == targeted - skipped
    assert sorted(replayed.final_location) == sorted(vm.name for vm in fleet.vms)
    # VMs on hosts that need no upgrade and were never drained stay where they are.
    if strategy is Strategy.ROLL_FORWARD:
        for vm in fleet.vms:
            if vm.host not in targeted:
                assert replayed.final_location[vm.name] == vm.host


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=fleets(), policy=POLICIES)
def test_roll_forward_moves_each_vm_at_most_twice_and_blocked_vms_stay_off_upgraded_hosts(
        fleet: Fleet, policy: Policy) -> None:
    """Once in the normal case; twice only for the VMs of a bootstrap host in a cluster that
    has no empty host to start from. A VM left to an operator ends on a host kept out of the
    upgrade (its own, or its cluster's legacy pool) and is never sent to an upgraded host."""
    result = plan(fleet, NEW, policy)
    moves: dict[str, int] = {}
    for wave in result.waves:
        for step in wave.steps:
            for m in step.drain:
                moves[m.vm] = moves.get(m.vm, 0) + 1
    assert max(moves.values(), default=0) <= 2
    skipped = {s.host for s in result.skipped}
    upgraded = {s.host for w in result.waves for s in w.steps if s.reinstall}
    for u in result.unmovable:
        if u.action.value == "operator":
            # It stays on its host, kept back, or moves to its cluster's legacy pool.
            pooled = [m.dest for w in result.waves for s in w.steps for m in s.drain
                      if m.vm == u.vm]
            assert (pooled[-1] if pooled else u.host) in skipped
            assert not any(m.vm == u.vm and m.dest in upgraded
                           for w in result.waves for s in w.steps for m in s.drain)


def _with(fleet: Fleet, profile: HostProfile) -> Fleet:
    if profile.name in fleet.profile_by_name:
        return fleet
    return fleet.model_copy(update={"profiles": (*fleet.profiles, profile)})
