"""A campaign killed with SIGKILL at a random point and restarted with the same state file
completes, with every VM present exactly once (a real subprocess, a real kill)."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from campaigns import Campaign, three_regions
from hvroll.domain.states import CampaignState
from hvroll.drivers.sim import Faults, SimCloud
from hvroll.executor.engine import Executor
from hvroll.inventory import save_fleet
from hvroll.planner.build import Targets, plan
from hvroll.planner.model import Policy, save_plan
from hvroll.store import Store
from hvroll.store.models import loads
from hvroll.store.read import table_digests
from hvroll.synthetic.generate import generate


def _completed(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute("select count(*) from migration where state='completed'")
            return int(row.fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.mark.parametrize("seed", [3, 11])
def test_sigkill_then_restart_completes_with_every_vm_once(tmp_path: Path, seed: int) -> None:
    fleet = generate("small", 1)
    inventory = tmp_path / "fleet.yaml"
    save_fleet(fleet, inventory)
    result = plan(fleet, Targets(default=fleet.profile_by_name["CPv2"],
                                 by_name={"Broadwell": fleet.profile_by_name["CPv2n"]}),
                  Policy(allow_suspend=True, hold_after_canary=False),
                  inventory=str(inventory))
    plan_file = tmp_path / "plan.json"
    save_plan(result, plan_file)
    db = tmp_path / "c.db"
    cmd = [sys.executable, "-m", "hvroll", "run", str(plan_file), "--state", str(db),
           "--quiet", "--json"]
    kill_at = random.Random(seed).randrange(5, result.summary.migrations - 20)
    errors = tmp_path / "first-run.err"
    with errors.open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 120
    while _completed(db) < kill_at and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, f"finished before the kill: {errors.read_text()}"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    done_before = _completed(db)
    assert 0 < done_before < result.summary.migrations

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["state"] == "completed"
    assert (summary["vms_lost"], summary["vms_duplicated"], summary["invariant_violations"]) \
        == (0, 0, 0)
    assert summary["hosts_upgraded"] == summary["hosts_total"] == result.summary.hosts
    assert summary["migrations_completed"] == result.summary.migrations

    # The simulated cloud itself, reopened from its journal, agrees: every VM exactly once.
    cloud = SimCloud(Store(db).fleet(), seed=1, journal=Path(f"{db}.sim.jsonl"),
                     faults=Faults(known_issues=True))  # hvroll run's default
    placement = cloud.placement()
    assert sorted(placement) == sorted(vm.name for vm in fleet.vms)
    assert all(cloud.vm(n).hosts == (h,) for n, h in placement.items())
    cloud.close()


class Died(BaseException):
    """The process stopped between writing an intent and asking the driver for it."""


def _outcome(store: Store) -> tuple[list[tuple[object, ...]], ...]:
    """Every host step's end and reinstall job, every migration's route, end, rungs, attempts
    and job, every attempt's job, rung and end."""
    steps = sorted((s.host, s.wave, s.state.value, s.reinstall_attempts, s.reinstall_job)
                   for s in store.steps())
    moves = sorted((m.vm, m.wave, m.source, m.dest, m.state.value, m.rungs, m.attempts, m.job)
                   for m in store.migrations())
    attempts = sorted((a.migration_id, a.number, a.job, a.rung.value, a.phase)
                      for a in store.attempts())
    return steps, moves, attempts


@pytest.mark.parametrize("call", ["migrate", "reinstall"])
def test_an_intent_that_never_reached_the_cloud_is_started_again_as_the_same_attempt(
        campaign: Campaign, tmp_path: Path, call: str) -> None:
    """Stopped after committing the intent of a migration (or reinstall) and before the driver
    got it, then restarted: reconciliation starts it again as the same attempt (number, job
    id, rung), and the campaign ends exactly as one that never stopped — not with an attempt
    more, whose new job id changes the simulator's draws (and counts against the limits)."""
    fleet = three_regions()
    whole, cloud, _ = campaign(fleet, name="whole", seed=3)
    with cloud:
        assert Executor(whole, cloud).run().state is CampaignState.COMPLETED
    store, cloud, _ = campaign(fleet, name="died", seed=3)
    real = getattr(cloud, call)
    calls = [0]

    def dies(*args: object) -> None:
        calls[0] += 1
        if calls[0] == 5:
            raise Died
        real(*args)

    setattr(cloud, call, dies)
    with cloud, pytest.raises(Died):
        Executor(store, cloud).run()
    target = store.target
    store.close()
    store = Store(target)
    with SimCloud(store.fleet(), seed=3, journal=tmp_path / "died.db.sim.jsonl") as again:
        assert Executor(store, again).run().state is CampaignState.COMPLETED
    assert store.events("reconciled") or call == "reinstall"
    assert _outcome(store) == _outcome(whole)
    whole.close()
    store.close()


def test_a_run_stopped_after_a_failed_attempt_retries_it_on_the_rung_it_would_have(
        campaign: Campaign, tmp_path: Path) -> None:
    """Stopped right after the commit that records a failed attempt and sends its migration
    back to pending, before its next attempt is written (the next rung is then only in the
    memory of the run that stopped), then restarted: the next attempt is on the rung an
    uninterrupted run climbs to (seed 12: vm-000093 failed twice on pre-copy, so block, which
    failed once more), and the campaign ends exactly as one that never stopped, every
    table's rows the same — not with a third pre-copy. (Seed 12: the stop comes with no
    other migration running, which a restart would reconcile, an event more.)"""
    fleet = three_regions()
    faults = Faults(migration_failure_rate=0.2)
    whole, cloud, _ = campaign(fleet, name="whole", seed=12, faults=faults)
    with cloud:
        assert Executor(whole, cloud).run().state is CampaignState.COMPLETED
    store, cloud, _ = campaign(fleet, name="died", seed=12, faults=faults)
    executor = Executor(store, cloud)
    observe = executor._observe
    waiting: list[tuple[str, str, str]] = []

    def dies(changed: list[str]) -> None:
        observe(changed)
        waiting.extend((row.vm, row.rung.value, rung.value)
                       for row, rung in executor.runner.restart if rung is not row.rung)
        if waiting:
            store.commit()  # as the commit after observing does every CONTROL_EVERY turns
            raise Died

    executor._observe = dies  # type: ignore[method-assign]
    with cloud, pytest.raises(Died):
        executor.run()
    assert waiting == [("vm-000093", "precopy", "block")]
    target = store.target
    store.close()
    store = Store(target)
    with SimCloud(store.fleet(), seed=12, faults=faults,
                  journal=tmp_path / "died.db.sim.jsonl") as again:
        assert Executor(store, again).run().state is CampaignState.COMPLETED
    moved = next(m for m in store.migrations() if m.vm == "vm-000093")
    assert (loads(moved.rungs), moved.attempts) == (["precopy", "precopy", "block", "block"], 4)
    assert _outcome(store) == _outcome(whole)
    assert table_digests(store.target) == table_digests(whole.target)
    whole.close()
    store.close()
