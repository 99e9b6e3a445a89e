"""``hvroll controlplane run`` as a process: killed with SIGKILL in the middle of a step and
started again, it finishes the hop without repeating a completed step."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hvroll.cli.controlplane import jobs_dir
from hvroll.store.store import Store
from pgserver import PostgresServer

from .test_runner import SERVERS, deployment_text


def hvroll(*args: str) -> list[str]:
    return [sys.executable, "-m", "hvroll", *args]


def wait_for(predicate: object, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    d = tmp_path / "cp"
    d.mkdir()
    (d / "db.json").write_text(json.dumps({"release": "2025.1", "servers": SERVERS}))
    (d / "api.up").touch()
    (d / "patterns.txt").write_text("^INFO toy \n")
    dep = tmp_path / "deployment.yaml"
    dep.write_text(deployment_text(d))
    plan = tmp_path / "plan.json"
    subprocess.run(hvroll("controlplane", "plan", "--from", "2025.1", "--to", "2025.2",
                          "-o", str(plan)), check=True, capture_output=True)
    return d, dep, plan


def test_sigkill_mid_step_then_resume(setup: tuple[Path, Path, Path]) -> None:
    d, dep, plan = setup
    state = d.parent / "run.db"
    (d / "hold").mkdir()
    (d / "hold" / "h1.migrate:toy").touch()
    calls = d / "calls.log"
    first = subprocess.Popen(hvroll("controlplane", "run", str(plan), "--state", str(state),
                                    "-d", str(dep), "--poll-s", "0.05"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: calls.exists() and "h1.migrate:toy" in calls.read_text())
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    second = subprocess.Popen(hvroll("controlplane", "run", str(plan), "--state", str(state),
                                     "--poll-s", "0.05", "--json"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    (d / "hold" / "h1.migrate:toy").unlink()
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    data = json.loads(out)
    assert data["state"] == "completed"
    lines = calls.read_text().splitlines()
    assert lines.count("h1.migrate:toy migrate") == 1
    done = [c for c in lines if "online:toy" not in c]
    assert len(done) == len(set(done))
    assert json.loads((d / "db.json").read_text())["release"] == "2025.2"
    (hop,) = data["hops"]
    assert hop["migration_s"] > 0 and hop["api_downtime_s"] is not None


def test_a_second_runner_is_refused(setup: tuple[Path, Path, Path]) -> None:
    d, dep, plan = setup
    state = d.parent / "run.db"
    (d / "hold").mkdir()
    (d / "hold" / "h1.snapshot-servers").touch()
    first = subprocess.Popen(hvroll("controlplane", "run", str(plan), "--state", str(state),
                                    "-d", str(dep), "--poll-s", "0.05"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: (d / "calls.log").exists())
        second = subprocess.run(hvroll("controlplane", "run", str(plan), "--state",
                                       str(state)), capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert second.stderr.startswith(f"error: {state}: the control-plane upgrade is run "
                                        f"by another hvroll controlplane run (host ")
        assert f"pid {first.pid}) since " in second.stderr
        pause = subprocess.run(hvroll("controlplane", "pause", "--state", str(state)),
                               capture_output=True, text=True, timeout=60)
        assert pause.returncode == 0
    finally:
        (d / "hold" / "h1.snapshot-servers").unlink()
        first.wait(timeout=120)
    status = subprocess.run(hvroll("controlplane", "status", "--state", str(state), "--json"),
                            capture_output=True, text=True, timeout=60)
    data = json.loads(status.stdout)
    assert data["state"] == "paused"
    assert [e["kind"] for e in data["events"]][-1] == "run_paused"
    text = subprocess.run(hvroll("controlplane", "status", "--state", str(state)),
                          capture_output=True, text=True, timeout=60).stdout
    assert "control-plane run: paused" in text and "run_paused: operator pause" in text


@pytest.mark.postgres
def test_a_run_in_a_postgresql_database(setup: tuple[Path, Path, Path], postgres: PostgresServer,
                                        tmp_path: Path) -> None:
    """``--state postgresql://…`` is a database, not a file name: the run, its status, a
    pause request and the report all reach it; the jobs' files go to ``DATABASE.jobs`` in the
    working directory."""
    _d, dep, plan = setup
    url = postgres.create_database()
    ran = subprocess.run(hvroll("controlplane", "run", str(plan), "--state", url, "-d",
                                str(dep), "--poll-s", "0.05", "--json"),
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["state"] == "completed"
    database = url.rsplit("/", 1)[1]
    assert sorted(p.name for p in (tmp_path / f"{database}.jobs").iterdir())[0].startswith("h1.")
    assert not list(tmp_path.glob("postgresql*"))  # no file named after the URL
    status = subprocess.run(hvroll("controlplane", "status", "--state", url, "--json"),
                            capture_output=True, text=True, timeout=60)
    assert json.loads(status.stdout)["state"] == "completed", status.stderr
    assert subprocess.run(hvroll("controlplane", "pause", "--state", url),
                          capture_output=True, timeout=60).returncode == 0
    report = subprocess.run(hvroll("report", "--state", url, "-o", str(tmp_path / "r.html")),
                            capture_output=True, text=True, timeout=60)
    assert report.returncode == 0, report.stderr


@pytest.mark.postgres
@pytest.mark.parametrize("command", ["run", "status", "pause"])
def test_an_unreachable_database_is_one_line(setup: tuple[Path, Path, Path],
                                             postgres: PostgresServer, command: str) -> None:
    _d, dep, plan = setup
    url = postgres.url("missing")
    extra = [str(plan), "-d", str(dep)] if command == "run" else []
    done = subprocess.run(hvroll("controlplane", command, *extra[:1], "--state", url,
                                 *extra[1:]), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {url}: cannot be read (")
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize("command", ["run", "status"])
def test_a_campaigns_state_file_is_refused_untouched(setup: tuple[Path, Path, Path],
                                                     tmp_path: Path, command: str) -> None:
    _d, dep, plan = setup
    state = tmp_path / "campaign.db"
    Store(state, create=True).close()
    before = hashlib.sha256(state.read_bytes()).hexdigest()
    extra = [str(plan), "-d", str(dep)] if command == "run" else []
    done = subprocess.run(hvroll("controlplane", command, *extra[:1], "--state", str(state),
                                 *extra[1:]), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {state}: not a control-plane state file (it holds "
                                  "other tables: ")
    assert done.stderr.count("\n") == 1
    assert hashlib.sha256(state.read_bytes()).hexdigest() == before


@pytest.mark.parametrize(("state", "jobs"), [
    ("upgrade.db", "upgrade.db.jobs"),
    ("/srv/cp/upgrade.db", "/srv/cp/upgrade.db.jobs"),
    ("sqlite:////srv/cp/upgrade.db", "/srv/cp/upgrade.db.jobs"),
    ("postgresql://hvroll@db.example:5432/upgrade", "upgrade.jobs"),
    ("postgresql://hvroll@db.example/", "controlplane.jobs"),
])
def test_where_the_jobs_files_go(state: str, jobs: str) -> None:
    assert jobs_dir(state) == Path(jobs)
