"""``hvroll run --region``: each region run by its own process, one at a time, ends with the
same hosts upgraded, the same VMs moved and the same outcome for each VM as one process
running every region; an unknown region is refused in one line (exit 2, nothing written);
a second runner of a region exits 1 naming the holder; ``status --json`` has a line per
region with its state and who drives it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from campaigns import targets_of, three_regions
from clirun import Result
from hvroll.inventory import save_fleet
from hvroll.planner.build import plan, with_profiles
from hvroll.planner.model import Policy, save_plan
from hvroll.store import Store
from hvroll.store.lease import Lease
from pgserver import PostgresServer

FAULTS = ("--seed", "5", "--fail-migrations", "0.1", "--fail-reinstalls", "0.1",
          "--approve", "--quiet", "--json", "--log-level", "error")


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("plan")
    fleet = three_regions()
    save_fleet(fleet, where / "fleet.yaml")
    result = plan(fleet, targets_of(fleet), Policy(allow_suspend=True),
                  inventory=str(where / "fleet.yaml"))
    save_plan(result, where / "plan.json")
    return where / "plan.json"


def hvroll(*args: str, cwd: Path | None = None) -> Result:
    """``hvroll ARGS`` in a process of its own."""
    done = subprocess.run([sys.executable, "-m", "hvroll", *args], capture_output=True,
                          text=True, timeout=600, check=False, cwd=cwd)
    return Result(done.returncode, done.stdout, done.stderr)


def outcome(db: Path) -> tuple[list[str], list[tuple[object, ...]]]:
    with sqlite3.connect(db) as conn:
        hosts = sorted(r[0] for r in conn.execute(
            "SELECT host FROM host_step WHERE state = 'done' AND reinstall"))
        moves = sorted(conn.execute("SELECT vm, source, dest, state, rung, rungs, attempts, "
                                    "error FROM migration"))
    return hosts, moves


@pytest.mark.slow
def test_regions_run_apart_one_at_a_time_end_as_one_process(plan_file: Path,
                                                            tmp_path: Path) -> None:
    whole = hvroll("run", str(plan_file), "--state", str(tmp_path / "whole.db"), *FAULTS)
    assert whole.code == 0, whole.stderr
    for region in ("lab03", "lab01", "lab02"):
        part = hvroll("run", str(plan_file), "--state", str(tmp_path / "apart.db"),
                      "--region", region, *FAULTS)
        assert part.code == 0, part.stderr
        assert json.loads(part.stdout)["region"] == region
    assert outcome(tmp_path / "apart.db") == outcome(tmp_path / "whole.db")
    hosts, moves = outcome(tmp_path / "whole.db")
    assert hosts and any(m[3] == "failed" for m in moves)  # the faults were drawn
    status = hvroll("status", "--state", str(tmp_path / "apart.db"), "--json")
    summary = json.loads(status.stdout)
    assert summary["state"] == "completed"
    assert [(r["region"], r["state"], r["holder"]) for r in summary["regions"]] == [
        ("lab01", "completed", None), ("lab02", "completed", None),
        ("lab03", "completed", None)]


def test_an_unknown_region_is_refused_in_one_line(plan_file: Path, tmp_path: Path) -> None:
    result = hvroll("run", str(plan_file), "--state", str(tmp_path / "s.db"), "--region",
                    "mars")
    assert result.code == 2
    assert result.stderr.strip().count("\n") == 0
    assert "unknown region 'mars' (expected one of: lab01, lab02, lab03)" in result.stderr
    assert not (tmp_path / "s.db").exists() or Store(tmp_path / "s.db").campaign() is None


def test_a_second_runner_of_a_region_exits_1_naming_the_holder(plan_file: Path,
                                                               tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    first = hvroll("run", str(plan_file), "--state", str(state), "--region", "lab02",
                   "--quiet", "--json", "--log-level", "error", "--poll-s", "5")
    assert first.code == 0, first.stderr
    store = Store(state)
    holder = Lease(store, region="lab03")  # this test's process holds lab03
    holder.acquire()
    try:
        other = hvroll("run", str(plan_file), "--state", str(state), "--region", "lab03")
        assert other.code == 1
        assert "the campaign's region lab03 is run by another hvroll run" in other.stderr
        status = json.loads(hvroll("status", "--state", str(state), "--json").stdout)
        lines = {r["region"]: r for r in status["regions"]}
        assert lines["lab03"]["holder"]["pid"] > 0 and lines["lab03"]["holder"]["live"]
        assert lines["lab02"]["state"] == "holding" and lines["lab01"]["state"] == "pending"
    finally:
        holder.release()
        store.close()


def test_help_teaches_the_region_option() -> None:
    import typer.main

    from hvroll.cli import app

    command = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    helps = {opt: param.help for param in command.params for opt in param.opts}
    assert "own lease" in helps["--region"]
    assert "pause, resume and abort apply to every region" in helps["--region"]


@pytest.mark.postgres
def test_regions_run_at_once_on_postgresql(plan_file: Path, postgres: PostgresServer,
                                           tmp_path: Path) -> None:
    """Two runners of two regions of one campaign on one PostgreSQL database, at the same
    time: both run to the end (the first to start creates the campaign, the other joins it),
    and the last to end completes the campaign."""
    url = postgres.create_database()
    args = ("--approve", "--quiet", "--json", "--log-level", "error", "--seed", "2")
    runners = [subprocess.Popen([sys.executable, "-m", "hvroll", "run", str(plan_file),
                                 "--state", url, "--region", region, *args],
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for region in ("lab02", "lab03")]
    results = [runner.communicate(timeout=600) for runner in runners]
    assert [r.returncode for r in runners] == [0, 0], [err for _, err in results]
    assert [json.loads(out)["state"] for out, _ in results] == ["completed", "completed"]
    last = hvroll("run", str(plan_file), "--state", url, "--region", "lab01", *args,
                  cwd=tmp_path)
    assert last.code == 0, last.stderr
    summary = json.loads(hvroll("status", "--state", url, "--json").stdout)
    assert summary["state"] == "completed"
    assert summary["vms_lost"] == 0 and summary["invariant_violations"] == 0
    assert {r["region"]: r["state"] for r in summary["regions"]} == {
        "lab01": "completed", "lab02": "completed", "lab03": "completed"}
    assert sorted(p.name for p in tmp_path.glob("*.jsonl")) == [
        f"{url.rsplit('/', 1)[1]}.sim.{r}.jsonl" for r in ("lab01", "lab02", "lab03")]


def test_a_runner_joins_the_campaign_another_created_after_its_first_look(
        plan_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two regions' runners started at once: the one that found no campaign at its first
    look, and whose insert then comes after the other's commit, joins the campaign the
    other created instead of refusing the state file ("already holds a campaign": seen on
    PostgreSQL, where each statement sees what was committed before it)."""
    from hvroll.cli import run as run_cli
    from hvroll.planner.model import load_plan

    result = load_plan(plan_file)
    fleet = three_regions()
    state = tmp_path / "c.db"
    first = Store(state, create=True)
    later = Store(state)
    looks: list[object] = []
    real = later.campaign

    def campaign() -> object:  # its first look was taken before the other's commit
        looks.append(None)
        return None if len(looks) == 1 else real()

    monkeypatch.setattr(later, "campaign", campaign)
    first.create_campaign(result, with_profiles(fleet, result.targets), "sim", 0.0)
    first.commit()
    run_cli._open(later, result, fleet, str(state), plan_file, "sim", None)
    assert later.require_campaign().driver == "sim"
    assert later.plan() == result
    first.close()
    later.close()
