"""The read-only opener: checks what it opens, never writes, refuses to write (SQLite files,
and PostgreSQL databases through ``target``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import update

from hvroll.errors import InputError
from hvroll.store import Store
from hvroll.store.models import SCHEMA_VERSION, Meta, pack, unpack
from hvroll.store.read import StateReader, table_digests
from pgserver import PostgresServer
from targets import contents, execute


def _empty_state(target: str) -> str:
    Store(target, create=True).close()
    return target


def test_opening_reads_without_writing(tmp_path: Path) -> None:
    path = Path(_empty_state(str(tmp_path / "s.db")))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    reader = StateReader(path)
    with reader.transaction() as conn:
        assert conn.exec_driver_sql("SELECT value FROM meta").scalar() == str(SCHEMA_VERSION)
    reader.close()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_opening_changes_no_row(target: str) -> None:
    before = contents(_empty_state(target))
    reader = StateReader(target)
    with reader.transaction() as conn:
        assert conn.exec_driver_sql("SELECT value FROM meta").scalar() == str(SCHEMA_VERSION)
    reader.close()
    assert contents(target) == before


def test_a_write_through_it_is_refused(target: str) -> None:
    reader = StateReader(_empty_state(target))
    with pytest.raises(InputError, match=r"cannot be read .*read-?only"), \
            reader.transaction() as conn:
        conn.execute(update(Meta).values(value="99"))
    reader.close()
    assert execute(target, "SELECT value FROM meta") == [(str(SCHEMA_VERSION),)]


def test_a_transaction_sees_one_state_while_a_writer_commits(target: str) -> None:
    reader = StateReader(_empty_state(target))
    with reader.transaction() as conn:
        first = conn.exec_driver_sql("SELECT count(*) FROM event").scalar()
        execute(target, "INSERT INTO event (t_s, kind, message, data) "
                        "VALUES (1.0, 'x', '', '{}')")
        assert conn.exec_driver_sql("SELECT count(*) FROM event").scalar() == first == 0
    with reader.transaction() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM event").scalar() == 1
    reader.close()


def test_a_missing_file_is_named_and_not_created(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.db: no such state file"):
        StateReader(tmp_path / "nope.db")
    assert not (tmp_path / "nope.db").exists()


@pytest.mark.postgres
def test_a_missing_database_is_named(postgres: PostgresServer) -> None:
    with pytest.raises(InputError, match=r"/nope: cannot be read \(.*\"nope\" does not exist"):
        StateReader(postgres.url("nope"))


def test_a_file_that_is_not_a_state_file_is_an_input_error(target: str) -> None:
    Store(target, create=True).close()
    execute(target, "CREATE TABLE t (x INTEGER)")
    execute(target, "DROP TABLE meta")
    with pytest.raises(InputError, match="not a hvroll state file"):
        StateReader(target)


def test_another_schema_version_is_refused_naming_every_version_read(target: str) -> None:
    _empty_state(target)
    execute(target, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(InputError, match=r"schema 99 is not supported \(expected 1, 2 or 3\)"):
        StateReader(target)


def test_pack_and_unpack_are_inverse() -> None:
    text = "plan " * 1000
    assert len(pack(text)) < len(text)
    assert unpack(pack(text)) == text


def test_table_digests_change_with_any_row(tmp_path: Path) -> None:
    """The digests name every table a run writes and tell two states apart by one value."""
    target = tmp_path / "c.db"
    store = Store(target, create=True)
    store.event(1.0, "campaign_started")
    store.commit()
    first = table_digests(target)
    store.event(2.0, "campaign_paused")
    store.commit()
    second = table_digests(target)
    store.close()
    assert list(first) == ["events", "transitions", "migrations", "host steps", "attempts"]
    assert first["events"] != second["events"]
    assert {k: v for k, v in first.items() if k != "events"} \
        == {k: v for k, v in second.items() if k != "events"}
