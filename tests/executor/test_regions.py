"""One executor per region: a campaign's steps partition by region; a region's executor
(:func:`hvroll.executor.regions.run_region`) drives only its region, with its own lease and
state; the operator's controls and the canary hold reach every region; a region driven in
its own process ends exactly as when one executor drives every region; a region resumed
after its runner died adopts the migrations in flight."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from campaigns import Campaign, three_regions
from hvroll.domain import Fleet
from hvroll.domain.states import ACTIVE_MIGRATION, CampaignState, ControlAction, MigrationState
from hvroll.drivers.sim import Faults
from hvroll.errors import InputError
from hvroll.executor.engine import Executor
from hvroll.executor.regions import DriverSpec, run_region
from hvroll.executor.status import status
from hvroll.planner.model import Policy
from hvroll.store import Store

FAULTS = {"migration_failure_rate": 0.1, "reinstall_failure_rate": 0.1}


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return three_regions()


def outcome(store: Store) -> tuple[list[str], list[tuple[object, ...]]]:
    """The hosts upgraded and, per VM, where it went and how its migration ended."""
    hosts = sorted(s.host for s in store.steps() if s.reinstall and s.state == "done")
    moves = sorted((m.vm, m.source, m.dest, m.state.value, m.rung.value, m.rungs, m.attempts,
                    m.error) for m in store.migrations())
    return hosts, moves


def test_the_plan_partitions_by_region(fleet: Fleet, campaign: Campaign) -> None:
    store, _, _ = campaign(fleet)
    region_of = {h.name: fleet.region_of(h) for h in fleet.hosts}
    assert {s.region for s in store.steps()} == {"lab02", "lab03"}  # lab01 needs nothing
    assert all(region_of[s.host] == s.region for s in store.steps())
    for row in store.migrations():
        assert region_of[row.source] == region_of[row.dest] == row.region, row.vm
    assert store.regions() == ["lab01", "lab02", "lab03"]


def test_regions_driven_one_at_a_time_end_as_one_executor(fleet: Fleet, campaign: Campaign,
                                                          tmp_path: Path) -> None:
    """Same seed, same faults: the same hosts upgraded, the same VMs moved, the same outcome
    for each VM (rungs, attempts, errors), whether one executor drives every region or each
    region has its own executor, simulator and journal."""
    whole, cloud, _ = campaign(fleet, name="whole", seed=5, faults=Faults(**FAULTS))
    with cloud:
        assert Executor(whole, cloud).run().state is CampaignState.COMPLETED
    apart, unused, _ = campaign(fleet, name="apart")
    unused.close()
    target = apart.target
    apart.close()
    spec = DriverSpec("sim", seed=5, faults=FAULTS)
    for region in ("lab03", "lab01", "lab02"):
        summary = run_region(target, region, spec)
        assert summary["state"] == "completed"
    apart = Store(target)
    assert outcome(apart) == outcome(whole)
    assert sum(m.state is MigrationState.FAILED for m in apart.migrations()) > 0  # faults hit
    assert apart.require_campaign().state is CampaignState.COMPLETED  # by the last region
    assert (tmp_path / "apart.db.sim.lab02.jsonl").exists()
    assert [r.state for r in apart.region_runs()] == [CampaignState.COMPLETED] * 3
    apart.close()


def test_a_pause_reaches_every_region_and_a_resume_lets_each_finish(
        fleet: Fleet, campaign: Campaign) -> None:
    store, unused, _ = campaign(fleet)
    unused.close()
    target = store.target
    store.request(ControlAction.PAUSE)
    store.close()
    spec = DriverSpec("sim", seed=2)
    assert [run_region(target, r, spec)["state"] for r in ("lab02", "lab03")] == [
        "paused", "paused"]
    store = Store(target)
    assert status(store)["state"] == "paused"
    store.request(ControlAction.RESUME)
    store.close()
    assert run_region(target, "lab02", spec)["state"] == "completed"
    store = Store(target)
    assert store.require_campaign().state is CampaignState.RUNNING  # lab03 has not ended
    store.close()
    assert run_region(target, "lab03", spec)["state"] == "completed"
    store = Store(target)
    assert store.require_campaign().state is CampaignState.COMPLETED
    assert status(store)["vms_lost"] == 0
    store.close()


def test_every_region_holds_after_its_canary_steps_until_one_go(
        fleet: Fleet, campaign: Campaign) -> None:
    store, unused, plan = campaign(fleet, policy=Policy(allow_suspend=True,
                                                        hold_after_canary=True))
    unused.close()
    canary_regions = {s.region for s in store.steps() if s.wave == 0}
    target = store.target
    store.close()
    spec = DriverSpec("sim", seed=2)
    assert run_region(target, "lab01", spec)["state"] == "completed"  # nothing to do there
    for region in ("lab02", "lab03"):
        assert run_region(target, region, spec)["state"] == "holding", region
    store = Store(target)
    assert all(s.state == "done" for s in store.steps() if s.wave == 0)
    assert all(s.state == "pending" for s in store.steps() if s.wave > 0)
    assert canary_regions and status(store)["state"] == "holding"
    store.request(ControlAction.RESUME)
    store.close()
    for region in ("lab01", "lab02", "lab03"):
        assert run_region(target, region, spec)["state"] == "completed", region
    assert plan.waves[0].steps


def test_an_unknown_region_is_refused_naming_the_known_ones(fleet: Fleet,
                                                            campaign: Campaign) -> None:
    store, unused, _ = campaign(fleet)
    unused.close()
    store.close()
    with pytest.raises(InputError, match=r"unknown region 'mars' \(expected one of: lab01, "
                                         r"lab02, lab03\)"):
        run_region(store.target, "mars", DriverSpec())


DIES_AT = 330
"""A turn at which two of lab02's migrations are in flight (seed 3)."""


class WorkerDiedError(Exception):
    """The worker running a region died (its heartbeat raised)."""


def test_a_region_resumed_after_its_runner_died_adopts_what_was_in_flight(
        fleet: Fleet, campaign: Campaign) -> None:
    store, unused, _ = campaign(fleet)
    unused.close()
    target = store.target
    store.close()
    beats = Counter[str]()

    def heartbeat() -> None:
        beats["turns"] += 1
        if beats["turns"] == DIES_AT:
            raise WorkerDiedError

    spec = DriverSpec("sim", seed=3)
    with pytest.raises(WorkerDiedError):
        run_region(target, "lab02", spec, heartbeat=heartbeat)
    store = Store(target)
    in_flight = [m.vm for m in store.migrations("lab02") if m.state in ACTIVE_MIGRATION]
    assert in_flight
    store.close()
    summary = run_region(target, "lab02", spec, heartbeat=heartbeat)
    assert summary["state"] == "completed"
    assert beats["turns"] == DIES_AT + summary["turns"] - 1  # each turn but the last one
    store = Store(target)
    (reconciled,) = store.events("reconciled")
    assert json.loads(reconciled.data)["migrations"] == len(in_flight)
    done = Counter(a.migration_id for a in store.attempts() if a.phase == "completed")
    assert done and max(done.values()) == 1  # no migration recorded twice
    assert status(store)["vms_lost"] == 0
    assert store.count_events("invariant_violation") == 0
    store.close()
