"""Re-placing a VM whose planned destination cannot take it: readiness of hosts, and the
new destination or why there is none, as exact values."""

from __future__ import annotations

import uuid

import pytest

from hvroll.compat.verdict import Checker
from hvroll.domain import (
    Cluster,
    Fleet,
    GuestOs,
    GuestOsFamily,
    Host,
    Region,
    ServerGroup,
    Vm,
)
from hvroll.domain.states import HostStepState as H
from hvroll.planner.replace import Placement, Readiness, readiness, replace
from hvroll.planner.state import PlanState
from strategies import GENERATIONS, NEW, NEW_NOSMAP, OLD


@pytest.mark.parametrize(("steps", "next_up", "expected"), [
    ([], False, Readiness.UNCHANGED),
    ([(H.PENDING, True)], False, Readiness.WAITING),
    ([(H.PENDING, True)], True, Readiness.BUSY),
    ([(H.DISABLING, True)], False, Readiness.BUSY),
    ([(H.DRAINING, True)], False, Readiness.BUSY),
    ([(H.DRAINED, True)], False, Readiness.BUSY),
    ([(H.REINSTALLING, True)], False, Readiness.BUSY),
    ([(H.VERIFYING, True)], False, Readiness.BUSY),
    ([(H.DONE, True)], False, Readiness.UPGRADED),
    ([(H.FAILED, True)], False, Readiness.FAILED),
    ([(H.SKIPPED, True)], False, Readiness.SKIPPED),
    # the canary host: drained in wave 0, reinstalled in wave 1
    ([(H.DONE, False), (H.PENDING, True)], False, Readiness.WAITING),
    ([(H.DONE, False), (H.REINSTALLING, True)], False, Readiness.BUSY),
    ([(H.DONE, False), (H.DONE, True)], False, Readiness.UPGRADED),
    ([(H.FAILED, False), (H.SKIPPED, True)], False, Readiness.FAILED),
    ([(H.DONE, False), (H.SKIPPED, True)], False, Readiness.SKIPPED),
    ([(H.DONE, False)], False, Readiness.WAITING),  # drained, never reinstalled
])
def test_readiness_of_a_host_from_its_steps(steps: list[tuple[H, bool]], next_up: bool,
                                             expected: Readiness) -> None:
    assert readiness(steps, next_up=next_up) is expected


def host(name: str, profile: str, *, ram_mib: int = 16384) -> Host:
    return Host(name=name, cluster="c1", generation="Haswell", profile=profile, vcpus=16,
                ram_mib=ram_mib, disk_gib=400)


def vm(name: str, on: str, ram_mib: int, group: str | None = None) -> Vm:
    return Vm(name=name, uuid=str(uuid.uuid5(uuid.NAMESPACE_DNS, name)), host=on, vcpus=2,
              ram_mib=ram_mib, guest=GuestOs(family=GuestOsFamily.LINUX), server_group=group)


@pytest.fixture
def world() -> tuple[PlanState, Checker]:
    """h1 (CPv1, draining) holds a 2 GiB VM, a 8 GiB VM and a member of group g; h2 failed;
    h3 and h5 are upgraded to CPv2 (h3: 12 GiB used of 16, h5: 14 GiB used of 16; h5 holds
    the other member of g); h4 waits on CPv1; h6 is CPv2n (rank 2) outside the campaign."""
    fleet = Fleet(
        regions=(Region(name="r1"),), clusters=(Cluster(name="c1", region="r1"),),
        generations=GENERATIONS, profiles=(OLD, NEW, NEW_NOSMAP),
        server_groups=(ServerGroup(name="g"),),
        hosts=(host("h1", "CPv1"), host("h2", "CPv1"), host("h3", "CPv2"), host("h4", "CPv1"),
               host("h5", "CPv2"), host("h6", "CPv2n", ram_mib=4096)),
        vms=(vm("small", "h1", 2048), vm("big", "h1", 8192), vm("member", "h1", 1024, "g"),
             vm("fill3", "h3", 12288), vm("fill5", "h5", 13312, "g"), vm("fill6", "h6", 3072)))
    return PlanState(fleet), Checker(fleet)


READY = {"h2": Readiness.FAILED, "h3": Readiness.UPGRADED, "h4": Readiness.WAITING,
         "h5": Readiness.UPGRADED, "h6": Readiness.UNCHANGED}


def test_a_vm_goes_to_the_upgraded_host_with_most_free_ram(
        world: tuple[PlanState, Checker]) -> None:
    state, checker = world
    small = state.fleet.vm_by_name["small"]
    assert replace(state, checker, small, "h1", READY, required_rank=2) == Placement("h3")


def test_anti_affinity_keeps_a_member_away_from_its_peer(
        world: tuple[PlanState, Checker]) -> None:
    state, checker = world
    member = state.fleet.vm_by_name["member"]
    only_h5 = {"h2": Readiness.FAILED, "h5": Readiness.UPGRADED}
    assert replace(state, checker, member, "h1", only_h5, required_rank=2) == Placement(
        None, "no ready host of rank ≥ 2 has room for it (1024 MiB RAM, 2 vCPU) within "
              "allocation ratios and anti-affinity (h5); not ready: h2 failed")


def test_no_room_anywhere_is_explained_with_the_hosts_left_out(
        world: tuple[PlanState, Checker]) -> None:
    state, checker = world
    big = state.fleet.vm_by_name["big"]
    assert replace(state, checker, big, "h1", READY, required_rank=2) == Placement(
        None, "no ready host of rank ≥ 2 has room for it (8192 MiB RAM, 2 vCPU) within "
              "allocation ratios and anti-affinity (h3, h5, h6); not ready: h2 failed, "
              "h4 waiting")


def test_a_failed_or_waiting_host_is_never_chosen_under_roll_forward(
        world: tuple[PlanState, Checker]) -> None:
    state, checker = world
    small = state.fleet.vm_by_name["small"]
    hosts = {"h2": Readiness.FAILED, "h4": Readiness.WAITING}
    assert replace(state, checker, small, "h1", hosts, required_rank=2) == Placement(
        None, "no host of its cluster of rank ≥ 2 is ready to receive it; not ready: "
              "h2 failed, h4 waiting")


def test_a_host_that_is_down_is_named_in_the_reason(
        world: tuple[PlanState, Checker]) -> None:
    """The upgraded h3 and h5 are down at this look: the VM waits, and the reason says so
    (the source itself is never named)."""
    state, checker = world
    small = state.fleet.vm_by_name["small"]
    hosts = {"h2": Readiness.FAILED, "h4": Readiness.WAITING}
    assert replace(state, checker, small, "h1", hosts, required_rank=2,
                   down=["h1", "h3", "h5"]) == Placement(
        None, "no host of its cluster of rank ≥ 2 is ready to receive it; not ready: "
              "h2 failed, h4 waiting; down: h3, h5")


def test_a_baseline_may_use_a_host_not_upgraded_yet_but_never_a_failed_one(
        world: tuple[PlanState, Checker]) -> None:
    state, checker = world
    small = state.fleet.vm_by_name["small"]
    hosts = {"h2": Readiness.FAILED, "h4": Readiness.WAITING}
    assert replace(state, checker, small, "h1", hosts, required_rank=1,
                   may_wait=True) == Placement("h4")


def test_never_an_older_profile_than_required(world: tuple[PlanState, Checker]) -> None:
    state, checker = world
    small = state.fleet.vm_by_name["small"]
    # h5 sends it back: h1 (CPv1, rank 1) is ready but older than the source's CPv2.
    hosts = {"h1": Readiness.UNCHANGED, "h4": Readiness.BUSY}
    assert replace(state, checker, small, "h5", hosts, required_rank=1) == Placement(
        None, "no host of its cluster of rank ≥ 2 is ready to receive it; below rank 2: h1; "
              "not ready: h4 busy")
