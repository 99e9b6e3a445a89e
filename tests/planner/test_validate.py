"""A plan is checked against its inventory and itself before a campaign is created."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hvroll.domain import Fleet, HostProfile
from hvroll.planner.build import Targets, plan
from hvroll.planner.model import HostStep, Plan, Policy, Strategy, Wave
from hvroll.planner.validate import plan_problems
from strategies import NEW_NOSMAP, fleets


@pytest.fixture
def planned(tiny: Fleet) -> Plan:
    """tiny: hv1 (CPv1, rank 1) holds every VM, hv2 (CPv2, rank 2) is an empty spare. Wave 0
    drains hv1 to hv2; wave 1 reinstalls hv1 with CPv2."""
    return plan(tiny, Targets(default=tiny.profile_by_name["CPv2"]), Policy())


def with_waves(p: Plan, *waves: Wave) -> Plan:
    return p.model_copy(update={"waves": waves})


def edit_step(p: Plan, wave: int, **changes: object) -> Plan:
    w = p.waves[wave]
    step = w.steps[0].model_copy(update=changes)
    waves = list(p.waves)
    waves[wave] = w.model_copy(update={"steps": (step, *w.steps[1:])})
    return with_waves(p, *waves)


def fleet_with(tiny: Fleet, **profiles: str) -> Fleet:
    """``tiny`` with hosts moved to other profiles (and CPv0, rank 0, defined)."""
    cpv0 = tiny.profile_by_name["CPv1"].model_copy(update={"name": "CPv0", "rank": 0})
    hosts = tuple(h.model_copy(update={"profile": profiles.get(h.name, h.profile)})
                  for h in tiny.hosts)
    return tiny.model_copy(update={"profiles": (*tiny.profiles, cpv0), "hosts": hosts})


@pytest.mark.parametrize("strategy", list(Strategy))
def test_the_planners_own_plans_pass(small: Fleet, strategy: Strategy) -> None:
    p = plan(small, Targets(default=small.profile_by_name["CPv2"],
                            by_name={"Broadwell": small.profile_by_name["CPv2n"]}),
             Policy(allow_suspend=True), strategy)
    assert p.inventory_fingerprint
    assert plan_problems(p, small) == []


def test_a_plan_for_another_inventory_is_refused(planned: Plan, tiny: Fleet) -> None:
    other = tiny.model_copy(update={"vms": tiny.vms[:-1]})
    [problem] = plan_problems(planned, other)
    assert problem.startswith(f"the plan was made for another inventory (expected the "
                              f"inventory it was planned from, fingerprint "
                              f"{planned.inventory_fingerprint}, got ")


def test_an_unknown_vm_is_refused(planned: Plan, tiny: Fleet) -> None:
    w0 = planned.waves[0]
    move = w0.steps[0].drain[0].model_copy(update={"vm": "ghost"})
    tampered = edit_step(planned, 0, drain=(move, *w0.steps[0].drain[1:]))
    assert plan_problems(tampered, tiny) == [
        "wave 0: vm 'ghost' is not in the inventory (expected a VM of the inventory)"]


def test_an_unknown_host_is_refused(planned: Plan, tiny: Fleet) -> None:
    assert plan_problems(edit_step(planned, 1, host="hv9"), tiny) == [
        "wave 1: host 'hv9' is not in the inventory (expected one of its 2 hosts)"]


def test_an_unknown_target_profile_is_refused(planned: Plan, tiny: Fleet) -> None:
    assert plan_problems(edit_step(planned, 1, target="CPv9"), tiny) == [
        "wave 1: host 'hv1' targets unknown profile 'CPv9' (expected one of: CPv1, CPv2)"]


def test_a_step_to_a_lower_rank_profile_is_refused(planned: Plan, tiny: Fleet) -> None:
    fleet = fleet_with(tiny)
    tampered = edit_step(planned, 1, target="CPv0").model_copy(
        update={"inventory_fingerprint": ""})
    assert plan_problems(tampered, fleet) == [
        "wave 1: host 'hv1' would go from profile 'CPv1' (rank 1) to 'CPv0' (rank 0) "
        "(expected a target of the same or a higher rank)"]


def test_a_migration_to_a_lower_rank_host_is_refused(planned: Plan, tiny: Fleet) -> None:
    fleet = fleet_with(tiny, hv2="CPv0")
    tampered = planned.model_copy(update={"inventory_fingerprint": ""})
    first = planned.waves[0].steps[0].drain[0].vm
    assert plan_problems(tampered, fleet)[0] == (
        f"wave 0: vm {first!r} would go from profile 'CPv1' (rank 1) on 'hv1' to 'CPv0' "
        f"(rank 0) on 'hv2' (expected a destination of the same or a higher rank)")


def test_roll_forward_to_a_host_being_reinstalled_is_refused(planned: Plan,
                                                             tiny: Fleet) -> None:
    """hv2 (CPv1 here) drains into hv1 and is reinstalled in wave 0 while hv1 drains into
    it: both receive, so neither is reinstalled before the other drains."""
    fleet = fleet_with(tiny, hv2="CPv1")
    w0 = planned.waves[0]
    back = w0.steps[0].drain[0].model_copy(update={"vm": "nobody", "source": "hv2",
                                                   "dest": "hv1"})
    hv2 = HostStep(host="hv2", cluster="c1", region="r1", target="CPv2", drain=(back,))
    tampered = with_waves(planned, w0.model_copy(update={"steps": (*w0.steps, hv2)}),
                          *planned.waves[1:]).model_copy(update={"inventory_fingerprint": ""})
    first = w0.steps[0].drain[0].vm
    assert plan_problems(tampered, fleet)[0] == (
        f"wave 0: vm {first!r} would go to host 'hv2' while it is being reinstalled (expected "
        f"a roll-forward plan to send VMs only to a host of the wave that is reinstalled "
        f"before the others drain, or to one not reinstalled then)")


def test_a_bootstrap_move_to_a_host_upgraded_later_is_accepted(tiny: Fleet) -> None:
    """A cluster without a spare: the first host empties onto one still on the old profile."""
    fleet = fleet_with(tiny, hv2="CPv1")
    p = plan(fleet, Targets(default=fleet.profile_by_name["CPv2"]), Policy())
    assert plan_problems(p, fleet) == []


def test_roll_forward_moving_a_vm_off_an_upgraded_host_is_refused(planned: Plan,
                                                                 tiny: Fleet) -> None:
    """After the plan (hv1 upgraded in wave 1), hv2 sends a VM to hv1 and hv1 sends it back:
    a roll-forward plan empties a host before its upgrade, never after. (evacuate-return's
    returns leave upgraded hosts.)"""
    first = planned.waves[0].steps[0].drain[0]
    to_hv1 = first.model_copy(update={"source": "hv2", "dest": "hv1"})
    back = first.model_copy(update={"source": "hv1", "dest": "hv2"})
    [w0, w1] = planned.waves
    assert [(w.index, s.host) for w in planned.waves for s in w.steps if s.reinstall] == [
        (1, "hv1")]
    tampered = with_waves(planned, w0, w1, *(
        Wave(index=i, steps=(HostStep(host=move.source, cluster="c1", region="r1",
                                      target="CPv2", drain=(move,), reinstall=False),))
        for i, move in ((2, to_hv1), (3, back))))
    assert plan_problems(tampered, tiny) == [
        "wave 3: host 'hv1', upgraded in wave 1, would send 1 VM(s) away (expected a "
        "roll-forward plan to move VMs off a host only before its upgrade)"]
    evacuate = tampered.model_copy(update={"strategy": Strategy.EVACUATE_RETURN})
    assert plan_problems(evacuate, tiny) == []


def test_a_migration_to_another_cluster_is_refused(planned: Plan, tiny: Fleet) -> None:
    """hv2 put in a cluster of its own: wave 0's moves from hv1 to hv2 would leave c1."""
    c2 = tiny.clusters[0].model_copy(update={"name": "c2"})
    hosts = tuple(h.model_copy(update={"cluster": "c2"}) if h.name == "hv2" else h
                  for h in tiny.hosts)
    fleet = tiny.model_copy(update={"clusters": (*tiny.clusters, c2), "hosts": hosts})
    tampered = planned.model_copy(update={"inventory_fingerprint": ""})
    first = planned.waves[0].steps[0].drain[0].vm
    assert plan_problems(tampered, fleet)[0] == (
        f"wave 0: vm {first!r} would go from cluster 'c1' to 'c2' on 'hv2' (expected a host "
        f"of its own cluster)")


def test_a_vm_moved_from_where_it_is_not_is_refused(planned: Plan, tiny: Fleet) -> None:
    w0 = planned.waves[0]
    move = w0.steps[0].drain[0].model_copy(update={"source": "hv2", "dest": "hv1"})
    tampered = edit_step(planned, 0, drain=(move,))
    assert plan_problems(tampered, tiny) == [
        f"wave 0: vm {move.vm!r} is on host 'hv1' at that point (expected the plan to move it "
        f"from there, got 'hv2')"]


def test_target_profiles_may_come_with_the_plan(tiny: Fleet) -> None:
    cpv3 = HostProfile(name="CPv3", os_name="debian", os_version="13", qemu_version="9.2",
                       libvirt_version="11.0", rank=3)
    p = plan(tiny, Targets(default=cpv3), Policy())
    assert plan_problems(p, tiny) == []


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(fleet=fleets(), strategy=st.sampled_from(list(Strategy)),
       cold=st.booleans())
def test_the_planners_plans_of_random_fleets_pass(fleet: Fleet, strategy: Strategy,
                                                  cold: bool) -> None:
    """Clusters without a spare, cold moves, every strategy: nothing the planner makes is
    refused (a refusal would stop 'hvroll run' of a good plan)."""
    p = plan(fleet, NEW_NOSMAP, Policy(allow_suspend=True, allow_cold_migration=cold),
             strategy)
    assert plan_problems(p, fleet) == []
