"""``hvroll run --driver sim`` rehearses what the real cloud would do: the known issues a
migration ignores fail by default (``--no-known-issues`` turns them off), and host crashes
are reachable with ``--crash-hosts RATE`` (validated, deterministic with ``--seed``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hvroll.inventory import save_fleet
from seed000 import seed000_fleet

from .conftest import Cli

BALLOON = "memory balloon"


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "seed000.yaml"
    save_fleet(seed000_fleet(), path)
    return path


def planned(cli: Cli, inventory: Path, tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "plan.json"
    result = cli("plan", str(inventory), "-t", "CPv2-u", "--target-for", "c-bdw-r=CPv2-r",
                 "--no-hold", "--canary-hosts", "0", "--allow-suspend", "-o", str(out),
                 "--force", *extra)
    assert result.code == 0, result.stderr
    return out


def drop_workaround(plan_file: Path, vm: str, action: str) -> None:
    """Edit the plan as a planner that ignores the issue would have written it."""
    data = json.loads(plan_file.read_text())
    found = 0
    for wave in data["waves"]:
        for move in [m for s in wave["steps"] for m in s["drain"]] + wave["returns"]:
            if move["vm"] == vm and action in move["workarounds"]:
                move["workarounds"].remove(action)
                found += 1
    assert found == 1
    plan_file.write_text(json.dumps(data))


def run(cli: Cli, plan_file: Path, state: Path, *extra: str) -> dict[str, object]:
    result = cli("run", str(plan_file), "--state", str(state), "--quiet", "--json", *extra)
    assert result.code in (0, 1), result.stderr
    summary: dict[str, object] = json.loads(result.stdout)
    return summary


def failures(state: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(state) as db:
        return [r[0] for r in db.execute("SELECT error FROM migration WHERE state = 'failed'")]


def test_known_issues_are_rehearsed_by_default_and_can_be_turned_off(
        cli: Cli, inventory: Path, tmp_path: Path) -> None:
    plan_file = planned(cli, inventory, tmp_path)
    drop_workaround(plan_file, "win-migrated", "remove_balloon")
    run(cli, plan_file, tmp_path / "on.db")
    assert any(BALLOON in e and "win-migrated" in e for e in failures(tmp_path / "on.db"))
    run(cli, plan_file, tmp_path / "off.db", "--no-known-issues")
    assert not any(BALLOON in e for e in failures(tmp_path / "off.db"))


def test_the_plan_as_written_by_hvroll_rehearses_without_a_balloon_failure(
        cli: Cli, inventory: Path, tmp_path: Path) -> None:
    plan_file = planned(cli, inventory, tmp_path, "--strategy", "evacuate-return")
    summary = run(cli, plan_file, tmp_path / "s.db")
    assert summary["vms_lost"] == 0
    assert not any(BALLOON in e for e in failures(tmp_path / "s.db"))


def test_crash_hosts_is_deterministic_with_the_seed(cli: Cli, inventory: Path,
                                                    tmp_path: Path) -> None:
    plan_file = planned(cli, inventory, tmp_path)
    quiet = run(cli, plan_file, tmp_path / "none.db", "--seed", "4")
    first = run(cli, plan_file, tmp_path / "a.db", "--crash-hosts", "2", "--seed", "4")
    again = run(cli, plan_file, tmp_path / "b.db", "--crash-hosts", "2", "--seed", "4")
    for summary in (quiet, first, again):
        summary.pop("wall_s")
    assert first == again
    assert first != quiet
    header = json.loads((tmp_path / "a.db.sim.jsonl").read_text().splitlines()[0])
    assert (header["seed"], header["faults"]["host_crash_rate_per_h"]) == (4, 2.0)


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "3601", "often"])
def test_crash_hosts_refuses_what_is_not_a_rate(cli: Cli, inventory: Path, tmp_path: Path,
                                                value: str) -> None:
    plan_file = planned(cli, inventory, tmp_path)
    result = cli("run", str(plan_file), "--state", str(tmp_path / "s.db"), "--crash-hosts",
                 value)
    assert result.code == 2
    assert "--crash-hosts" in result.stderr
    assert not (tmp_path / "s.db").exists()


def test_help_teaches_the_rehearsal_options() -> None:
    import typer.main

    from hvroll.cli import app

    command = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    helps = {opt: param.help for param in command.params for opt in param.opts}
    flags = {flag for param in command.params for flag in param.secondary_opts}
    assert "--no-known-issues" in flags
    assert "On by default" in helps["--known-issues"]
    assert "host crashes per host per hour" in helps["--crash-hosts"]
    assert "--seed" in helps["--crash-hosts"]


def test_status_accounts_for_skipped_hosts_and_crashed_vms(
        cli: Cli, tmp_path_factory: pytest.TempPathFactory) -> None:
    from telemetry.statefiles import campaign

    state = campaign(tmp_path_factory, "accounts").state
    table = cli("status", "--state", str(state))
    assert table.code == 0
    lines = [" ".join(line.split()) for line in table.stdout.splitlines()]
    assert "state completed, 4 hosts skipped, 1 VM crashed" in lines
    assert "hosts_skipped 4" in lines and "vms_crashed 1" in lines
    assert any(line.startswith("bdw-u2 VM 'gpu-1' cannot move: GPU passthrough")
               for line in lines)
    assert any(line.startswith("app-sky left crashed on sky-u4") for line in lines)
    data = json.loads(cli("status", "--state", str(state), "--json").stdout)
    assert (data["state"], data["outcome"]) == ("completed",
                                                "completed, 4 hosts skipped, 1 VM crashed")
    assert [h["host"] for h in data["skipped_hosts"]] == ["bdw-r2", "bdw-u1", "bdw-u2",
                                                         "hsw-u3"]
    assert data["crashed_vms"] == [{"vm": "app-sky", "host": "sky-u4", "reason": (
        "left crashed on sky-u4: not running at the end of the campaign (its host went "
        "down and it was not restarted)")}]
