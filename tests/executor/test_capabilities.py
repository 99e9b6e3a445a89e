"""The executor consults the driver's declared capabilities before using a feature: a backend
that cannot reinstall is refused before anything changes, and the ladder only climbs rungs
the backend declares."""

from __future__ import annotations

import pytest

from campaigns import Campaign
from hvroll.domain import Fleet
from hvroll.domain.states import CampaignState, Rung
from hvroll.drivers.base import Capability
from hvroll.drivers.sim import SimCloud
from hvroll.errors import CapabilityError, InputError
from hvroll.executor.engine import Executor
from hvroll.executor.ladder import missing, usable
from hvroll.executor.status import status
from hvroll.store.models import loads

EVERY = frozenset(Capability)
C = Capability
ALL_RUNGS = [Rung.PRECOPY, Rung.AUTO_CONVERGE, Rung.POST_COPY, Rung.BLOCK, Rung.SUSPEND,
             Rung.COLD]


@pytest.mark.parametrize(("declared", "local_disk", "expected"), [
    (EVERY, False, ALL_RUNGS),
    (EVERY - {C.POST_COPY, C.AUTO_CONVERGE}, False,
     [Rung.PRECOPY, Rung.BLOCK, Rung.SUSPEND, Rung.COLD]),
    (EVERY - {C.BLOCK_MIGRATION}, False,
     [Rung.PRECOPY, Rung.AUTO_CONVERGE, Rung.POST_COPY, Rung.SUSPEND, Rung.COLD]),
    (EVERY - {C.BLOCK_MIGRATION}, True, [Rung.COLD]),  # every live attempt copies its disks
    (EVERY - {C.LIVE_MIGRATION}, False, [Rung.COLD]),
    ({C.LIVE_MIGRATION}, False, [Rung.PRECOPY]),
    (frozenset(), False, []),
])
def test_the_rungs_a_driver_can_climb(declared: frozenset[Capability], local_disk: bool,
                                      expected: list[Rung]) -> None:
    assert usable(ALL_RUNGS, declared, local_disk=local_disk) == expected


def test_what_a_rung_misses_is_named() -> None:
    assert missing(Rung.SUSPEND, {C.SUSPEND}, local_disk=True) == [C.BLOCK_MIGRATION,
                                                                  C.LIVE_MIGRATION]
    assert missing(Rung.COLD, {C.LIVE_MIGRATION}, local_disk=True) == [C.COLD_MIGRATION]
    assert missing(Rung.PRECOPY, EVERY, local_disk=True) == []


def restricted(campaign: Campaign, fleet: Fleet, without: set[Capability]) -> tuple[
        Executor, SimCloud]:
    store, full, _ = campaign(fleet)
    full.close()
    cloud = SimCloud(store.fleet(), capabilities=EVERY - without)
    return Executor(store, cloud), cloud


def test_a_driver_that_cannot_reinstall_is_refused_before_anything_changes(
        small: Fleet, campaign: Campaign) -> None:
    executor, cloud = restricted(campaign, small, {Capability.REINSTALL})
    with pytest.raises(CapabilityError, match=r"^the sim driver cannot do reinstall: the "
                       r"campaign reinstalls \d+ host\(s\) .*--reinstall-cmd.*does not "
                       r"declare 'reinstall'$") as caught:
        executor.run()
    assert isinstance(caught.value, InputError)  # the operator's configuration: exit 2
    assert executor.store.require_campaign().state == CampaignState.PENDING.value
    assert cloud.jobs() == []
    assert executor.store.count_events("campaign_started") == 0


def test_the_ladder_climbs_only_rungs_the_driver_declares(small: Fleet,
                                                          campaign: Campaign) -> None:
    """The sim refuses every undeclared feature with a CapabilityError, which the executor
    would record as a driver error or a failed migration: there is none. (VMs too noisy for
    plain pre-copy fail, as they must without a rung to climb.)"""
    executor, _ = restricted(campaign, small, {Capability.POST_COPY, Capability.SUSPEND,
                                               Capability.MAX_DOWNTIME,
                                               Capability.AUTO_CONVERGE})
    executor.run()
    s = status(executor.store)
    assert (s["vms_lost"], s["invariant_violations"]) == (0, 0)
    assert s["migrations_completed"] > 0
    migrations = executor.store.migrations()
    assert {m.rung for m in migrations}.isdisjoint({"auto_converge", "post_copy", "suspend"})
    messages = [e.message or "" for e in executor.store.events()]
    messages += [m.error or "" for m in migrations]
    messages += [a.error or "" for a in executor.store.attempts()]
    assert not [m for m in messages if "cannot do" in m]


def test_a_driver_that_can_move_nothing_fails_each_migration_naming_the_capability(
        small: Fleet, campaign: Campaign) -> None:
    executor, _ = restricted(campaign, small, {Capability.LIVE_MIGRATION,
                                               Capability.COLD_MIGRATION})
    executor.run()
    failed = [m for m in executor.store.migrations() if m.state == "failed"]
    assert failed
    errors = {m.error for m in failed}
    assert "the sim driver cannot move it: it does not declare live_migration" in errors
    assert errors <= {"the sim driver cannot move it: it does not declare live_migration",
                      "the sim driver cannot move it: it does not declare cold_migration"}
    assert all(m.attempts == 0 for m in failed)


@pytest.mark.parametrize(("capability", "advice"), [
    (Capability.REMOVE_BALLOON, "power-cycle the VM"),
    (Capability.COPY_CONFIG_DRIVE, "copy its disk.config to the destination by hand")])
def test_a_hop_wanting_a_workaround_the_driver_cannot_apply_is_not_tried_without_it(
        small: Fleet, campaign: Campaign, capability: Capability, advice: str) -> None:
    """Each such hop fails before any attempt, saying which workaround and what to do
    instead; before, its first attempt failed on the missing capability and the next rung
    moved the VM without the workaround (a Windows guest live-migrated again with its
    balloon)."""
    executor, _ = restricted(campaign, small, {capability})
    executor.run()
    store = executor.store
    wanting = [m for m in store.migrations() if capability.value in (loads(m.workarounds) or [])]
    failed = [m for m in wanting if m.state == "failed"]
    assert failed
    for m in failed:
        assert m.attempts == 0, (m.vm, m.error)
        assert m.error.startswith(f"not moved by the sim driver: it needs {capability.value}")
        assert advice in m.error
    assert {m.state for m in wanting} <= {"failed", "skipped"}  # skipped: too many hosts failed
    assert not [a for a in store.attempts() if a.migration_id in {m.id for m in wanting}]
    others = [m for m in store.migrations() if m not in wanting and m.state == "completed"]
    assert others
    errors = [m.error or "" for m in store.migrations()] + [a.error or "" for a in
                                                            store.attempts()]
    assert not [e for e in errors if "the sim driver cannot do" in e]  # never tried
    assert status(store)["vms_lost"] == 0
