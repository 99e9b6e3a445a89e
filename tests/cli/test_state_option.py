"""``--state`` takes a path or a SQLAlchemy URL as written; commands that only read never
change a state file, and a file that is not one is refused untouched."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from .conftest import Cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def planned(cli: Cli, tmp_path: Path) -> Path:
    inventory = tmp_path / "tiny.yaml"
    shutil.copy(ROOT / "docs" / "examples" / "tiny.yaml", inventory)
    out = tmp_path / "plan.json"
    assert cli("plan", str(inventory), "-t", "CPv2", "--no-hold", "-o", str(out)).code == 0
    return out


def test_a_sqlalchemy_url_is_used_as_written(cli: Cli, planned: Path, tmp_path: Path) -> None:
    db = tmp_path / "url.db"
    url = f"sqlite:///{db}"
    ran = cli("run", str(planned), "--state", url, "--quiet", "--json")
    assert ran.code == 0, ran.stderr
    assert db.is_file()
    shown = cli("status", "--state", url, "--json")
    assert shown.code == 0, shown.stderr
    assert json.loads(shown.stdout)["state"] == "completed"


@pytest.mark.parametrize("command", ["status", "pause", "resume", "abort"])
def test_a_foreign_database_is_refused_untouched(cli: Cli, tmp_path: Path,
                                                 command: str) -> None:
    path = tmp_path / "notes.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    conn.close()
    before = path.read_bytes()
    result = cli(command, "--state", str(path))
    assert result.code == 2
    assert result.stderr == (f"error: {path}: not a hvroll state file (no such table: "
                             f"meta)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]
    assert path.read_bytes() == before


def test_run_refuses_a_foreign_database_untouched(cli: Cli, planned: Path,
                                                  tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    conn.close()
    before = path.read_bytes()
    result = cli("run", str(planned), "--state", str(path), "--quiet")
    assert (result.code, path.read_bytes()) == (2, before)
    assert not (tmp_path / "notes.db.sim.jsonl").exists()


def test_status_of_an_empty_file_leaves_it_empty(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    result = cli("status", "--state", str(path))
    assert result.code == 2
    assert path.read_bytes() == b""


def test_the_drivers_journal_goes_where_journal_says(cli: Cli, planned: Path,
                                                     tmp_path: Path) -> None:
    journal = tmp_path / "elsewhere" / "sim.jsonl"
    journal.parent.mkdir()
    ran = cli("run", str(planned), "--state", str(tmp_path / "c.db"), "--quiet",
              "--journal", str(journal))
    assert ran.code == 0, ran.stderr
    assert journal.is_file()
    assert not (tmp_path / "c.db.sim.jsonl").exists()
