"""``hvroll controlplane run`` as a process: killed with SIGKILL in the middle of a step and
started again, it finishes the hop without repeating a completed step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
