"""The read-only opener: checks what it opens, never writes, refuses to write."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import update

from hvroll.errors import InputError
from hvroll.store import Store
from hvroll.store.models import Meta, pack, unpack
from hvroll.store.read import StateReader


def _empty_state(path: Path) -> Path:
    Store(path, create=True).close()
    return path


def test_opening_reads_without_writing(tmp_path: Path) -> None:
    path = _empty_state(tmp_path / "s.db")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    reader = StateReader(path)
    with reader.transaction() as conn:
        assert conn.exec_driver_sql("SELECT value FROM meta").scalar() == "1"
    reader.close()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_a_write_through_it_is_refused(tmp_path: Path) -> None:
    reader = StateReader(_empty_state(tmp_path / "s.db"))
    with pytest.raises(InputError, match=r"cannot be read .*readonly"), reader.transaction() as c:
        c.execute(update(Meta).values(value="2"))
    reader.close()


def test_a_missing_file_is_named_and_not_created(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.db: no such state file"):
        StateReader(tmp_path / "nope.db")
    assert not (tmp_path / "nope.db").exists()


def test_a_file_that_is_not_a_state_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(InputError, match="not a hvroll state file"):
        StateReader(path)


def test_another_schema_version_is_refused_with_both_versions(tmp_path: Path) -> None:
    path = _empty_state(tmp_path / "s.db")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.close()
    with pytest.raises(InputError, match=r"schema 99 is not supported \(expected 1\)"):
        StateReader(path)


def test_pack_and_unpack_are_inverse() -> None:
    text = "plan " * 1000
    assert len(pack(text)) < len(text)
    assert unpack(pack(text)) == text
