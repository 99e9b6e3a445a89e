"""The canary as operators pick it (seed 000): internal tenants' VMs covering heterogeneous
combinations, a canary for every upgraded generation and host OS unless impossible (and why),
never a host holding a VM that cannot move when another would do."""

from __future__ import annotations

from hvroll.compat.target import Targets
from hvroll.planner.build import plan
from hvroll.planner.model import Plan, Policy
from seed000 import CPV2_RHEL, CPV2_UBUNTU, seed000_fleet

PER_CLUSTER = Targets(CPV2_UBUNTU, {"c-bdw-r": CPV2_RHEL})


def canary_plan(**policy: object) -> Plan:
    return plan(seed000_fleet(), PER_CLUSTER, Policy.model_validate({"canary_hosts": 6,
                                                                     **policy}))


def test_every_upgraded_generation_and_host_os_gets_a_canary() -> None:
    result = canary_plan()
    assert result.canary.hosts == ("bdw-r1", "hsw-u1", "bdw-u3")
    assert result.canary.pairs_without == ()
    wave0 = [s.host for s in result.waves[0].steps if s.canary]
    assert sorted(wave0) == sorted(result.canary.hosts)


def test_the_canary_holds_the_internal_migrated_windows_guest_with_its_balloon() -> None:
    covered = canary_plan().canary.covered
    assert "Haswell/ubuntu/windows/migrated-with-balloon" in covered
    assert "Broadwell/rhel/windows/migrated-with-balloon" in covered


def test_a_canary_never_holds_a_vm_that_cannot_move_when_another_host_would_do() -> None:
    """bdw-u1 holds a legacy guest CPv2 cannot boot, bdw-u2 a GPU: bdw-u3 is the canary."""
    result = canary_plan()
    assert "bdw-u1" not in result.canary.hosts and "bdw-u2" not in result.canary.hosts
    assert {s.host for s in result.skipped} >= {"bdw-u1", "bdw-u2"}


def test_what_the_canary_does_not_cover_is_said_with_why() -> None:
    uncovered = dict(canary_plan().canary.uncovered)
    assert uncovered["Haswell/ubuntu/freebsd/unverified:smap_support"] == (
        "its clusters' canary is another host (one canary per cluster)")


def test_a_pair_without_a_movable_host_gets_no_canary_and_the_plan_says_why() -> None:
    fleet = seed000_fleet()
    gpu = {"passthrough": ["gpu"]}
    vms = tuple(v.model_copy(update={"devices": v.devices.model_validate(gpu)})
                if v.host == "bdw-u3" else v for v in fleet.vms)
    result = plan(fleet.model_copy(update={"vms": vms}), PER_CLUSTER,
                  Policy(canary_hosts=6))
    assert "bdw-u3" not in result.canary.hosts
    assert result.canary.pairs_without == (
        ("Broadwell/ubuntu", "every Broadwell host on ubuntu to upgrade holds a VM that "
                             "cannot move (e.g. bdw-u1)"),)


def test_the_canary_limit_is_a_reason_too() -> None:
    result = canary_plan(canary_hosts=2)
    assert len(result.canary.hosts) == 2
    assert [why for _pair, why in result.canary.pairs_without] == [
        "the canary wave is limited to 2 hosts (--canary-hosts)"]
