"""One runner per campaign through the CLI: two ``hvroll run`` on one state file at once — one
runs, the other exits 1 naming the holder, nothing is recorded twice; a runner killed with
SIGKILL is taken over at once by the next ``hvroll run`` (its pid is gone)."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from hvroll.drivers.sim import SimCloud
from hvroll.executor.engine import Executor
from hvroll.inventory import save_fleet
from hvroll.planner.build import Targets, plan, with_profiles
from hvroll.planner.model import Policy, save_plan
from hvroll.store import Store
from hvroll.synthetic.generate import generate


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("plan")
    fleet = generate("small", 1)
    save_fleet(fleet, where / "fleet.yaml")
    result = plan(fleet, Targets(default=fleet.profile_by_name["CPv2"],
                                 by_name={"Broadwell": fleet.profile_by_name["CPv2n"]}),
                  Policy(allow_suspend=True, hold_after_canary=False),
                  inventory=str(where / "fleet.yaml"))
    save_plan(result, where / "plan.json")
    return where / "plan.json"


def records(db: Path) -> tuple[Counter[str], int, int]:
    """Events by kind, attempts and state changes recorded in ``db``."""
    store = Store(db)
    out = (Counter(e.kind for e in store.events()), len(store.attempts()),
           len(store.transitions()))
    store.close()
    return out


def test_two_runs_at_once_one_runs_the_other_exits_1_naming_it(plan_file: Path,
                                                               tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    cmd = [sys.executable, "-m", "hvroll", "run", str(plan_file), "--state", str(db),
           "--quiet", "--json"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 1], outs
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    assert json.loads(outs[winner][0])["state"] == "completed"
    lines = outs[loser][1].strip().splitlines()
    assert len(lines) == 1, lines
    assert "another hvroll run (host " in lines[0]
    assert f"pid {procs[winner].pid}) since " in lines[0]
    assert outs[loser][0] == ""

    # Exactly what one run alone records: nothing twice.
    solo = tmp_path / "solo.db"
    store = Store(solo, create=True)
    stored = Store(db)
    store.create_campaign(stored.plan(), with_profiles(stored.fleet(), stored.plan().targets),
                          "sim", 0.0, plan_file=str(plan_file))
    stored.close()
    cloud = SimCloud(store.fleet(), seed=1, journal=Path(f"{solo}.sim.jsonl"))
    Executor(store, cloud, poll_s=5.0).run()
    cloud.close()
    store.close()
    assert records(db) == records(solo)


def test_a_run_takes_over_from_a_killed_one_at_once(plan_file: Path, tmp_path: Path) -> None:
    """The first run is killed; its lease row still names it, but its pid is gone: the next
    run takes over without waiting for the lease to expire, and reconciles first."""
    db = tmp_path / "c.db"
    cmd = [sys.executable, "-m", "hvroll", "run", str(plan_file), "--state", str(db),
           "--quiet", "--json"]
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not _started(db) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, first.communicate()
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    assert first.returncode == -signal.SIGKILL
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr
    store = Store(db)
    [taken] = store.events("lease_taken_over")
    assert json.loads(taken.data) == {"previous_host": json.loads(taken.data)["previous_host"],
                                      "previous_pid": first.pid, "verdict": "dead"}
    kinds = [e.kind for e in reversed(store.events())]
    assert kinds.index("lease_taken_over") < kinds.index("campaign_completed")
    store.close()


def _started(db: Path) -> bool:
    """Some migrations have started."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute("select count(*) from attempt").fetchone()
            return int(row[0]) > 5
    except sqlite3.Error:
        return False
