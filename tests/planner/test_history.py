"""A VM's history travels with it through the plan: the second hop of a Windows guest moved
CPv1 → CPv1 → CPv2 is judged with one live migration since its power cycle (seed 000), and a
balloon removed before a hop stays removed until the next power cycle."""

from __future__ import annotations

from hvroll.domain import Fleet, Vm
from hvroll.planner.build import plan
from hvroll.planner.model import Migration, Policy, Strategy
from hvroll.planner.state import after_move
from seed000 import CPV2_UBUNTU, seed000_fleet, vm

WINDOWS = {"family": "windows", "distro": "windows-server", "version": "2012r2"}


def haswell_only(extra: list[Vm]) -> Fleet:
    fleet = seed000_fleet()
    keep = tuple(v for v in fleet.vms if v.host.startswith("hsw-") and v.name != "win-migrated")
    return fleet.model_copy(update={"vms": (*keep, *extra)})


def hops(fleet: Fleet, name: str, strategy: Strategy) -> list[Migration]:
    result = plan(fleet, CPV2_UBUNTU, Policy(canary_hosts=0), strategy)
    moves = [m for w in result.waves for s in w.steps for m in s.drain]
    moves += [m for w in result.waves for m in w.returns]
    return [m for m in moves if m.vm == name]


def test_the_second_hop_of_a_windows_guest_removes_its_balloon() -> None:
    fresh = vm("win-fresh", "hsw-u1", WINDOWS)  # never migrated since its power cycle
    found = hops(haswell_only([fresh]), "win-fresh", Strategy.EVACUATE_RETURN)
    assert [(m.returning, m.workarounds) for m in found] == [
        (False, ()),                   # CPv1 → CPv1: not migrated before
        (True, ("remove_balloon",)),   # CPv1 → CPv2: migrated once, balloon still there
    ]


def test_a_balloon_removed_on_the_first_hop_stays_removed() -> None:
    migrated = vm("win-twice", "hsw-u1", WINDOWS,
                  history={"live_migrations_since_power_cycle": 1})
    found = hops(haswell_only([migrated]), "win-twice", Strategy.EVACUATE_RETURN)
    assert [m.workarounds for m in found] == [("remove_balloon",), ()]


def test_after_move_counts_live_migrations_and_a_cold_move_is_a_power_cycle() -> None:
    guest = vm("w", "hsw-u1", WINDOWS)
    once = after_move(guest, live=True, workarounds=(), original=guest)
    twice = after_move(once, live=True, workarounds=("remove_balloon",), original=guest)
    cold = after_move(twice, live=False, workarounds=(), original=guest)
    assert [(v.history.live_migrations_since_power_cycle, v.devices.balloon)
            for v in (guest, once, twice, cold)] == [(0, True), (1, True), (2, False),
                                                     (0, True)]
