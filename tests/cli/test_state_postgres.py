"""Every state command takes ``--state postgresql://…``: a campaign run, held after its
canary wave, resumed, reported and steered on a real PostgreSQL, as on a file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pgserver import PostgresServer

from .conftest import Cli

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.postgres


@pytest.fixture
def planned(cli: Cli, tmp_path: Path) -> Path:
    """A plan of the example inventory that holds after its canary wave."""
    inventory = tmp_path / "tiny.yaml"
    shutil.copy(ROOT / "docs" / "examples" / "tiny.yaml", inventory)
    out = tmp_path / "plan.json"
    assert cli("plan", str(inventory), "-t", "CPv2", "-o", str(out)).code == 0
    return out


def test_a_campaign_runs_holds_resumes_and_is_reported(
        cli: Cli, planned: Path, postgres: PostgresServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = postgres.create_database()
    first = cli("run", str(planned), "--state", url, "--quiet", "--json")
    assert first.code == 0, first.stderr
    assert json.loads(first.stdout)["state"] == "holding"
    database = url.rsplit("/", 1)[1]
    assert (tmp_path / f"{database}.sim.jsonl").is_file()  # the simulator's crash journal
    held = cli("status", "--state", url, "--json")
    assert json.loads(held.stdout)["state"] == "holding"
    assert cli("resume", "--state", url).code == 0
    second = cli("run", str(planned), "--state", url, "--quiet", "--json")
    assert second.code == 0, second.stderr
    done = json.loads(cli("status", "--state", url, "--json").stdout)
    assert (done["state"], done["vms_lost"], done["invariant_violations"],
            done["hosts_upgraded"]) == ("completed", 0, 0, done["hosts_total"])
    report = cli("report", "--state", url, "-o", str(tmp_path / "r.html"), "--json")
    assert report.code == 0, report.stderr
    assert json.loads(report.stdout)["state"] == "completed"


@pytest.mark.parametrize("command", ["pause", "abort"])
def test_a_control_reaches_the_campaign_in_the_database(
        cli: Cli, planned: Path, postgres: PostgresServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    monkeypatch.chdir(tmp_path)
    url = postgres.create_database()
    assert cli("run", str(planned), "--state", url, "--quiet").code == 0  # holds
    assert cli("resume", "--state", url).code == 0
    assert cli(command, "--state", url).code == 0  # taken at the run's first look
    ran = cli("run", str(planned), "--state", url, "--quiet", "--json")
    assert json.loads(ran.stdout)["state"] == {"pause": "paused", "abort": "aborted"}[command]


@pytest.mark.parametrize("command", ["status", "pause", "report"])
def test_a_missing_database_is_one_line(cli: Cli, postgres: PostgresServer, tmp_path: Path,
                                        command: str) -> None:
    url = postgres.url("missing")
    extra = ["-o", str(tmp_path / "r.html")] if command == "report" else []
    result = cli(command, "--state", url, *extra)
    assert result.code == 2
    assert result.stderr.startswith(f"error: {url}: cannot be read (")
    assert result.stderr.count("\n") == 1
