"""The planner's working model of the fleet: a VM's state after the moves carried to it."""

from __future__ import annotations

from collections import Counter, defaultdict

from hvroll.inventory.references import Usage
from hvroll.planner.state import PlanState, after_move
from seed000 import WINDOWS, seed000_fleet, vm


def test_carried_moves_are_applied_in_order_when_the_vm_is_next_asked_for() -> None:
    fleet = seed000_fleet()
    guest = fleet.vm_by_name["win-migrated"]
    assert (guest.history.live_migrations_since_power_cycle, guest.devices.balloon) == (1, True)
    state = PlanState(fleet)
    state.carry(guest.name, live=True, workarounds=["remove_balloon"])
    state.carry(guest.name, live=True, workarounds=())
    assert state.current[guest.name] is guest  # not applied yet
    now = state.vm(guest.name)
    assert (now.history.live_migrations_since_power_cycle, now.devices.balloon) == (3, False)
    eager = after_move(after_move(guest, live=True, workarounds=["remove_balloon"],
                                  original=guest), live=True, workarounds=(), original=guest)
    assert now == eager
    state.carry(guest.name, live=False, workarounds=())  # a power cycle: the balloon is back
    again = state.vm(guest.name)
    assert (again.history.live_migrations_since_power_cycle, again.devices.balloon) == (0, True)
    assert state.vm(guest.name) is again


def test_a_vm_never_carried_is_the_inventorys() -> None:
    fleet = seed000_fleet().model_copy(update={"vms": (vm("w", "hsw-u1", WINDOWS),)})
    state = PlanState(fleet)
    assert state.vm("w") is fleet.vm_by_name["w"]


def test_the_fleets_placement_is_each_vm_put_on_its_host_in_order() -> None:
    """``PlanState``'s first placement (``_place_all``, one loop) fills the same dictionaries,
    in the same order, as ``_put`` of each VM on its host."""
    fleet = seed000_fleet()
    made = PlanState(fleet)
    put = PlanState(fleet)
    put.usage = {h.name: Usage() for h in fleet.hosts}
    put.location, put.on_host, put.group_hosts, put.need = {}, defaultdict(set), \
        defaultdict(Counter), {}
    for each in fleet.vms:
        put.need[each.name] = (each.vcpus, each.ram_mib, each.local_disk_gib)
        put._put(each, each.host)
    assert any(each.server_group for each in fleet.vms)
    for name in ("usage", "location", "need"):
        assert list(getattr(made, name).items()) == list(getattr(put, name).items()), name
    assert {h: sorted(v) for h, v in made.on_host.items()} == \
        {h: sorted(v) for h, v in put.on_host.items()}
    assert list(made.on_host) == list(put.on_host)
    assert made.group_hosts == put.group_hosts
