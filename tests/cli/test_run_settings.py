"""``hvroll run``'s driver settings: flags and HVROLL_* variables, validated before anything
is opened, shown in ``--help`` with unit, default and variable, and listed in the docs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.core import TyperGroup

from hvroll.cli import app
from hvroll.drivers.settings import SETTINGS, markdown_table

ROOT = Path(__file__).resolve().parents[2]


def hvroll(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HVROLL_")}
    return subprocess.run([sys.executable, "-m", "hvroll", *args], capture_output=True,
                          text=True, timeout=120, check=False, env={**clean, **(env or {})})


def run_options() -> dict[str, str]:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    command = group.commands["run"]
    return {opt: p.help or "" for p in command.params for opt in getattr(p, "opts", ())}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_each_setting_is_a_flag_whose_help_names_unit_default_and_variable(name: str) -> None:
    s = SETTINGS[name]
    help_text = run_options()[s.flag]
    assert f"unit: {s.unit}; default: {s.default}; env: {s.env}" in help_text
    assert s.env == "HVROLL_" + name.upper()


def test_the_reinstall_flags_of_the_issue_exist_with_their_defaults() -> None:
    assert [(SETTINGS[n].flag, SETTINGS[n].default) for n in
            ("reinstall_cmd", "reinstall_timeout_s", "reinstall_retries")] == [
        ("--reinstall-cmd", "none"), ("--reinstall-timeout-s", "3600"),
        ("--reinstall-retries", "0")]


def test_the_docs_hold_the_settings_table() -> None:
    assert markdown_table() in (ROOT / "docs" / "settings.md").read_text()


@pytest.mark.parametrize(("args", "env", "line"), [
    ((), {"HVROLL_REINSTALL_TIMEOUT_S": "soon"},
     "error: HVROLL_REINSTALL_TIMEOUT_S: input should be a valid number, unable to parse "
     "string as a number (expected seconds, default 3600; got 'soon')"),
    ((), {"HVROLL_LIBVIRT_POLL_S": "0"},
     "error: HVROLL_LIBVIRT_POLL_S: input should be greater than 0 (expected seconds, "
     "default 0.5; got '0')"),
    (("--reinstall-retries", "-1"), {"HVROLL_REINSTALL_RETRIES": "2"},
     "error: --reinstall-retries: input should be greater than or equal to 0 (expected "
     "count, default 0; got -1)"),
])
def test_a_bad_value_is_one_line_exit_2_and_nothing_is_created(
        tmp_path: Path, args: tuple[str, ...], env: dict[str, str], line: str) -> None:
    state = tmp_path / "c.db"
    done = hvroll("run", str(tmp_path / "plan.json"), "--state", str(state), *args, env=env)
    assert (done.returncode, done.stderr.strip()) == (2, line), done.stderr
    assert list(tmp_path.iterdir()) == []
