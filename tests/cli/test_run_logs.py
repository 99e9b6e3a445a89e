"""``hvroll run`` logs the events it records on standard error: json lines when asked (the
default off a terminal), console lines on request; --quiet keeps warnings and errors only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hvroll.store import Store

from .conftest import Cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def plan_file(cli: Cli, tmp_path: Path) -> Path:
    inventory = tmp_path / "tiny.yaml"
    shutil.copy(ROOT / "docs" / "examples" / "tiny.yaml", inventory)
    out = tmp_path / "plan.json"
    assert cli("plan", str(inventory), "-t", "CPv2", "--no-hold", "-o", str(out)).code == 0
    return out


def test_json_logs_are_the_recorded_events(cli: Cli, plan_file: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    result = cli("run", str(plan_file), "--state", str(db), "--json", "--log-format", "json")
    assert result.code == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    store = Store(db)
    assert [r["event"] for r in records if r["event"] != "migration_progress"] == [
        e.kind for e in reversed(store.events())]
    store.close()
    assert {r["campaign"] for r in records} == {"s.db"}
    assert json.loads(result.stdout)["state"] == "completed"


def test_console_logs_and_quiet(cli: Cli, plan_file: Path, tmp_path: Path) -> None:
    result = cli("run", str(plan_file), "--state", str(tmp_path / "a.db"), "--json",
                 "--log-format", "console", "--log-level", "info")
    assert result.code == 0, result.stderr
    assert "campaign_started" in result.stderr and "campaign=a.db" in result.stderr
    quiet = cli("run", str(plan_file), "--state", str(tmp_path / "b.db"), "--json", "--quiet")
    assert quiet.code == 0
    assert quiet.stderr == ""  # nothing went wrong: no warning to log
