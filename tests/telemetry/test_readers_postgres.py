"""Many readers on one PostgreSQL while an executor writes: ``hvroll status``, the dashboard's
snapshots and the Prometheus metrics read the campaign all along ``hvroll run`` (another
process), every read succeeds and sees one consistent state, and progress never goes back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from hvroll.domain.states import TERMINAL_MIGRATION, CampaignState
from hvroll.executor.status import status
from hvroll.inventory import save_fleet
from hvroll.planner.build import Targets, plan
from hvroll.planner.model import Policy, save_plan
from hvroll.store import Store
from hvroll.synthetic.generate import generate
from hvroll.telemetry.metrics import render
from hvroll.telemetry.snapshot import StateSource
from pgserver import PostgresServer

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
READERS = 4


def _planned(directory: Path) -> Path:
    fleet = generate("small", 1)
    inventory = directory / "small.json"
    save_fleet(fleet, inventory)
    result = plan(fleet, Targets(default=fleet.profile_by_name["CPv2"],
                                 by_name={"Broadwell": fleet.profile_by_name["CPv2n"]}),
                  Policy(allow_suspend=True, hold_after_canary=False), inventory=str(inventory))
    save_plan(result, directory / "plan.json")
    return directory / "plan.json"


def test_readers_see_consistent_growing_progress_while_a_campaign_runs(
        postgres: PostgresServer, tmp_path: Path) -> None:
    url = postgres.create_database()
    plan_file = _planned(tmp_path)
    Store(url, create=True).close()  # the readers may open it at once
    runner = subprocess.Popen(
        [sys.executable, "-m", "hvroll", "run", str(plan_file), "--state", url, "--quiet",
         "--json", "--poll-s", "60"], cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})
    seen: list[list[tuple[str, int]]] = [[] for _ in range(READERS)]
    errors: list[BaseException] = []

    def status_reader() -> tuple[str, int]:
        store = Store(url, readonly=True)
        try:
            if store.campaign() is None:
                return ("none", 0)
            data = status(store)
            return (data["state"], data["migrations_completed"] + data["migrations_failed"])
        finally:
            store.close()

    def dashboard_reader(src: StateSource) -> tuple[str, int]:
        snap = src.snapshot()
        done = sum(1 for m in snap.migrations if m.state in TERMINAL_MIGRATION)
        return (snap.campaign.state, done)

    def metrics_reader(src: StateSource) -> tuple[str, int]:
        text = render(src).decode()
        assert "hvroll_" in text
        snap = src.snapshot()
        return (snap.campaign.state, sum(1 for m in snap.migrations
                                         if m.state in TERMINAL_MIGRATION))

    def loop(index: int, read: Callable[[], tuple[str, int]]) -> None:
        try:
            while True:
                seen[index].append(read())
                if runner.poll() is not None:
                    seen[index].append(read())
                    return
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    while status_reader()[0] == "none":
        assert runner.poll() is None, runner.stderr.read() if runner.stderr else ""
    source = StateSource(url)
    kinds: list[Callable[[], tuple[str, int]]] = [
        status_reader, lambda: dashboard_reader(source), lambda: metrics_reader(source)]
    threads = [threading.Thread(target=loop, args=(i, kinds[i % 3])) for i in range(READERS)]
    for thread in threads:
        thread.start()
    out, err = runner.communicate(timeout=600)
    for thread in threads:
        thread.join(timeout=120)
    source.close()
    assert runner.returncode == 0, err
    assert errors == []
    final = json.loads(out)
    assert (final["state"], final["vms_lost"], final["invariant_violations"]) == (
        "completed", 0, 0)
    running = CampaignState.RUNNING.value
    for reads in seen:
        done = [n for _, n in reads]
        assert done == sorted(done), "progress went back"
        assert reads[-1] == ("completed", final["migrations_completed"]
                             + final["migrations_failed"])
    assert sum(1 for reads in seen for state, _ in reads if state == running) >= READERS
