"""A plan is checked against its inventory and itself before a campaign is created."""

from __future__ import annotations

import pytest

from hvroll.domain import Fleet, HostProfile
from hvroll.planner.build import Targets, plan
from hvroll.planner.model import HostStep, Plan, Policy, Strategy, Wave
from hvroll.planner.validate import plan_problems


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


def test_roll_forward_to_a_host_not_yet_upgraded_is_refused(planned: Plan, tiny: Fleet) -> None:
    """hv2 (CPv1 here) is reinstalled only in wave 1, after wave 0 sent VMs to it."""
    fleet = fleet_with(tiny, hv2="CPv1")
    later = HostStep(host="hv2", cluster="c1", region="r1", target="CPv2")
    w1 = planned.waves[1]
    tampered = with_waves(planned, planned.waves[0],
                          w1.model_copy(update={"steps": (*w1.steps, later)})).model_copy(
        update={"inventory_fingerprint": ""})
    first = planned.waves[0].steps[0].drain[0].vm
    assert plan_problems(tampered, fleet)[0] == (
        f"wave 0: vm {first!r} would go to host 'hv2' before its upgrade (expected a "
        f"roll-forward plan to send VMs only to hosts already at their target)")


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
