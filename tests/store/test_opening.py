"""Opening a state file: a file that is not hvroll's is refused untouched; read-only opening
never changes a file."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from hvroll.domain import Fleet
from hvroll.errors import InputError
from hvroll.planner.build import Targets, plan, with_profiles
from hvroll.planner.model import Policy
from hvroll.store import Store
from hvroll.store.models import pack, unpack


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.fixture
def state(tmp_path: Path, tiny: Fleet) -> Path:
    path = tmp_path / "s.db"
    result = plan(tiny, Targets(default=tiny.profile_by_name["CPv2"]),
                  Policy(hold_after_canary=False))
    store = Store(path, create=True)
    store.create_campaign(result, with_profiles(tiny, result.targets), "sim", 0.0)
    store.close()
    return path


@pytest.fixture
def foreign(tmp_path: Path) -> Path:
    path = tmp_path / "notes.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.close()
    return path


@pytest.mark.parametrize("create", [False, True])
def test_a_foreign_sqlite_file_is_refused_untouched(foreign: Path, create: bool) -> None:
    before = files(foreign.parent)
    with pytest.raises(InputError, match=r"notes\.db: not a hvroll state file \(no such "
                                         r"table: meta\)"):
        Store(foreign, create=create)
    assert files(foreign.parent) == before


def test_an_empty_file_is_not_a_campaign(tmp_path: Path) -> None:
    empty = tmp_path / "e.db"
    empty.touch()
    with pytest.raises(InputError, match="not a hvroll state file"):
        Store(empty)
    assert empty.read_bytes() == b""


@pytest.mark.parametrize("content", [b"garbage" * 100, bytes(range(256)) * 20])
def test_a_garbage_file_is_refused_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "g.db"
    path.write_bytes(content)
    for create in (False, True):
        with pytest.raises(InputError, match="not a hvroll state file"):
            Store(path, create=create)
    assert files(tmp_path) == {"g.db": content}


def test_a_directory_is_not_a_state_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        Store(tmp_path, create=True)


def test_reading_only_changes_no_file(state: Path) -> None:
    """SQLite may add its -wal/-shm companions; every file there before is unchanged."""
    before = files(state.parent)
    store = Store(state, readonly=True)
    assert store.require_campaign().id == 1
    assert store.plan().waves
    store.close()
    after = files(state.parent)
    assert {name: after[name] for name in before} == before


def test_a_read_only_file_is_read_but_not_run(state: Path) -> None:
    state.chmod(0o444)
    try:
        store = Store(state, readonly=True)
        assert store.campaign() is not None
        store.close()
        if not os.access(state, os.W_OK):  # root may write any file
            with pytest.raises(InputError, match="is read-only"):
                Store(state, create=True)
    finally:
        state.chmod(0o644)


def test_a_damaged_record_is_an_input_error() -> None:
    assert unpack(pack("plan")) == "plan"
    with pytest.raises(InputError, match="the state file holds a damaged record"):
        unpack(b"not zlib at all")


def test_a_url_opens_the_same_file(state: Path) -> None:
    store = Store(f"sqlite:///{state}", readonly=True)
    assert store.require_campaign().id == 1
    store.close()
