"""A VM's state travels with it through the campaign, in the executor and the simulator: a
Windows guest with a balloon moved twice (seed 000's CPv1 → CPv1 → CPv2, here by
``evacuate-return``) rehearses with the known issues on without the balloon failure, because
its second hop removes the balloon; the same plan without that workaround fails as the seed
describes."""

from __future__ import annotations

from pathlib import Path

from hvroll.domain import Fleet
from hvroll.domain.states import CampaignState, MigrationState
from hvroll.drivers.sim import Faults, SimCloud
from hvroll.executor.engine import Executor
from hvroll.executor.history import (
    after_hop,
    after_workaround,
    carried_states,
    hop_workarounds,
    planned_keys,
    planned_states,
    state_key,
)
from hvroll.planner.build import plan, with_profiles
from hvroll.planner.model import Plan, Policy, Strategy
from hvroll.store import Store
from hvroll.store.models import loads
from seed000 import CPV2_UBUNTU, SKYLAKE, WINDOWS, seed000_fleet, started_cpu, vm

BALLOON = "memory balloon"


def haswell_fleet() -> Fleet:
    """seed 000's Haswell cluster, its migrated Windows guest replaced by a fresh one (never
    live-migrated since its power cycle, with a balloon)."""
    fleet = seed000_fleet()
    keep = tuple(v for v in fleet.vms if v.host.startswith("hsw-") and v.name != "win-migrated")
    return fleet.model_copy(update={"vms": (*keep, vm("win-fresh", "hsw-u1", WINDOWS))})


def two_hops(fleet: Fleet) -> Plan:
    return plan(fleet, CPV2_UBUNTU, Policy(canary_hosts=0, hold_after_canary=False,
                                           allow_suspend=True), Strategy.EVACUATE_RETURN)


def without_workaround(p: Plan, name: str) -> Plan:
    """The plan as a planner that ignores the VM's history between hops writes it."""
    waves = []
    for wave in p.waves:
        returns = tuple(m.model_copy(update={"workarounds": ()}) if m.vm == name else m
                        for m in wave.returns)
        waves.append(wave.model_copy(update={"returns": returns}))
    return p.model_copy(update={"waves": tuple(waves)})


def rehearse(tmp_path: Path, fleet: Fleet, p: Plan) -> tuple[Store, SimCloud]:
    store = Store(tmp_path / "c.db", create=True)
    store.create_campaign(p, with_profiles(fleet, p.targets), "sim", 0.0)
    cloud = SimCloud(store.fleet(), seed=1, faults=Faults(known_issues=True))
    assert Executor(store, cloud).run().state is CampaignState.COMPLETED
    return store, cloud


def hops_of(store: Store, name: str) -> list[tuple[str, str, str]]:
    return [(m.state.value, m.applied, m.error)
            for m in sorted(store.migrations(), key=lambda m: m.id) if m.vm == name]


def balloon_failures(store: Store) -> list[str]:
    return [a.error for m in store.migrations() for a in store.attempts([m.id])
            if BALLOON in a.error]


def test_the_second_hop_removes_the_balloon_and_the_rehearsal_shows_no_balloon_failure(
        tmp_path: Path) -> None:
    fleet = haswell_fleet()
    p = two_hops(fleet)
    store, cloud = rehearse(tmp_path, fleet, p)
    assert hops_of(store, "win-fresh") == [("completed", "[]", ""),
                                           ("completed", '["remove_balloon"]', "")]
    assert balloon_failures(store) == []
    seen = cloud.inspect_vm("win-fresh")
    assert (seen.migrations_since_power_cycle, seen.balloon) == (2, False)


def test_a_plan_that_skips_the_workaround_rehearses_the_balloon_failure(tmp_path: Path) -> None:
    fleet = haswell_fleet()
    store, cloud = rehearse(tmp_path, fleet, without_workaround(two_hops(fleet), "win-fresh"))
    first, second = hops_of(store, "win-fresh")
    assert first == ("completed", "[]", "")
    assert second[0] == "failed" and BALLOON in second[2]
    assert balloon_failures(store)
    assert all("win-fresh" in e and "1 time(s) since its last power cycle" in e
               for e in balloon_failures(store))
    assert cloud.inspect_vm("win-fresh").host.startswith("hsw-u")  # still running, not lost
    assert cloud.inspect_vm("win-fresh").balloon


def test_the_same_plan_without_known_issues_hides_the_failure(tmp_path: Path) -> None:
    fleet = haswell_fleet()
    p = without_workaround(two_hops(fleet), "win-fresh")
    store = Store(tmp_path / "c.db", create=True)
    store.create_campaign(p, with_profiles(fleet, p.targets), "sim", 0.0)
    cloud = SimCloud(store.fleet(), seed=1, faults=Faults(known_issues=False))
    Executor(store, cloud).run()
    assert [h[0] for h in hops_of(store, "win-fresh")] == ["completed", "completed"]


# -- the pure parts ------------------------------------------------------------------------

def test_planned_states_follow_the_plan_hop_by_hop(tmp_path: Path) -> None:
    fleet = haswell_fleet()
    store = Store(tmp_path / "c.db", create=True)
    store.create_campaign(two_hops(fleet), fleet, "sim", 0.0)
    rows = store.migrations()
    states = planned_states(fleet.vm_by_name, rows)
    mine = [states[r.id] for r in sorted(rows, key=lambda r: r.id) if r.vm == "win-fresh"]
    assert [(v.history.live_migrations_since_power_cycle, v.devices.balloon)
            for v in mine] == [(0, True), (1, True)]


def test_planned_keys_are_the_keys_of_the_planned_states(tmp_path: Path) -> None:
    fleet = haswell_fleet()
    store = Store(tmp_path / "c.db", create=True)
    store.create_campaign(two_hops(fleet), fleet, "sim", 0.0)
    rows = store.migrations()
    keys = planned_keys(fleet.vm_by_name, rows)
    assert keys == {i: state_key(v) for i, v in planned_states(fleet.vm_by_name, rows).items()}
    mine = [keys[r.id][:2] for r in sorted(rows, key=lambda r: r.id) if r.vm == "win-fresh"]
    assert mine == [(0, True), (1, True)]


def test_a_removed_balloon_stays_removed_and_a_reboot_brings_it_back() -> None:
    guest = vm("w", "hsw-u1", WINDOWS, history={"live_migrations_since_power_cycle": 3})
    removed = after_workaround(guest, "remove_balloon", guest)
    rebooted = after_workaround(removed, "reboot_guest", guest)
    copied = after_workaround(guest, "copy_config_drive", guest)
    assert [(v.history.live_migrations_since_power_cycle, v.devices.balloon)
            for v in (removed, rebooted, copied)] == [(3, False), (0, True), (3, True)]


def test_a_cold_hop_boots_a_host_model_guest_with_its_new_hosts_cpu() -> None:
    guest = vm("w", "hsw-u1", WINDOWS)
    live = after_hop(guest, live=True, workarounds=(), original=guest,
                     dest=(SKYLAKE, CPV2_UBUNTU))
    cold = after_hop(guest, live=False, workarounds=(), original=guest,
                     dest=(SKYLAKE, CPV2_UBUNTU))
    assert live.cpu == guest.cpu == started_cpu("hsw-u1")
    assert cold.cpu == started_cpu("sky-u1") != guest.cpu


def test_carried_states_replay_applied_workarounds_even_of_a_failed_hop(
        tmp_path: Path) -> None:
    fleet = haswell_fleet()
    store = Store(tmp_path / "c.db", create=True)
    store.create_campaign(two_hops(fleet), fleet, "sim", 0.0)
    first, second = sorted((m for m in store.migrations() if m.vm == "win-fresh"),
                           key=lambda m: m.id)
    first.state = MigrationState.COMPLETED
    second.state, second.applied = MigrationState.FAILED, '["remove_balloon"]'
    carried = carried_states(fleet.vm_by_name, [first, second])["win-fresh"]
    assert (carried.history.live_migrations_since_power_cycle, carried.devices.balloon) == (
        1, False)


def test_hop_workarounds_keep_the_plan_where_it_holds_and_rejudge_elsewhere() -> None:
    from hvroll.compat.verdict import Verdict, VerdictKind

    wants = Verdict(VerdictKind.WORKAROUND, (), ("remove_balloon",))
    assert hop_workarounds(planned=[], as_planned=True, verdict=None).workarounds == ()
    rejudged = hop_workarounds(planned=[], as_planned=False, verdict=wants)
    assert (rejudged.workarounds, rejudged.rejudged) == (("remove_balloon",), True)
    blocked = hop_workarounds(planned=[], as_planned=False, verdict=Verdict(VerdictKind.BLOCK))
    assert blocked.blocked == "the rules block it"




def test_a_hop_that_left_the_plan_is_judged_again_on_the_vm_as_it_is(tmp_path: Path) -> None:
    """The plan's second hop lacks remove_balloon, but that hop was re-planned (recorded as
    planned elsewhere): the executor asks the rules on the VM as it is — one live migration
    since its power cycle, balloon present — and removes the balloon first."""
    fleet = haswell_fleet()
    p = without_workaround(two_hops(fleet), "win-fresh")
    store = Store(tmp_path / "c.db", create=True)
    store.create_campaign(p, with_profiles(fleet, p.targets), "sim", 0.0)
    second = max((m for m in store.migrations() if m.vm == "win-fresh"), key=lambda m: m.id)
    second.planned_dest = "hsw-u2"
    store.commit()
    cloud = SimCloud(store.fleet(), seed=1, faults=Faults(known_issues=True))
    assert Executor(store, cloud).run().state is CampaignState.COMPLETED
    assert hops_of(store, "win-fresh")[1] == ("completed", '["remove_balloon"]', "")
    assert balloon_failures(store) == []
    (event,) = [e for e in store.events("hop_rejudged") if e.vm == "win-fresh"]
    assert loads(event.data)["workarounds"] == ["remove_balloon"]
    assert loads(event.data)["planned"] == []
