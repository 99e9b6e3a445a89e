"""Statements the store runs through the driver (the commit's writes, the lease's renewal):
the rows they match, a literal the statement holds, a driver's error raised as SQLAlchemy's,
on every backend."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from hvroll.domain.states import HostStepState
from hvroll.store import Store
from hvroll.store.models import EventRow, Meta, StepRow
from hvroll.store.rawsql import execute, executemany_rows
from targets import execute as sql

STEPS = cast(Table, StepRow.__table__)
BY_ID = update(STEPS).where(STEPS.c.id == bindparam("b_id"))
FIRST = update(STEPS).where(STEPS.c.id == 1).values(error=bindparam("b_error"))


def pending_steps(conn: Connection, n: int) -> None:
    """Host steps 1…n, pending (inserted through SQLAlchemy, not the module under test)."""
    conn.execute(insert(STEPS), [
        {"id": i, "wave": 0, "position": i, "host": f"h{i}", "cluster": "c", "region": "r",
         "target": "t", "state": "pending"} for i in range(1, n + 1)])


def test_execute_gives_the_rows_matched_and_writes_in_the_transaction(target: str) -> None:
    store = Store(target, create=True)
    try:
        conn = store.session.connection()
        pending_steps(conn, 2)
        assert execute(conn, FIRST, {"b_error": "held literal"}) == 1
        assert execute(conn, BY_ID, {"error": "x", "b_id": 3}) == 0
        executemany_rows(conn, BY_ID, ("state", "b_id"), [("draining", 1), ("done", 2)])
        assert sql(target, "select id, state, error from host_step order by id") == []
        store.commit()
        assert sql(target, "select id, state, error from host_step order by id") == [
            (1, "draining", "held literal"), (2, "done", "")]
    finally:
        store.close()


def test_a_drivers_error_is_raised_as_sqlalchemys(target: str) -> None:
    store = Store(target, create=True)
    try:
        with pytest.raises(IntegrityError):
            executemany_rows(store.session.connection(), insert(cast(Table, Meta.__table__)),
                             ("key", "value"), [("twice", "a"), ("twice", "b")])
    finally:
        store.close()


def test_a_state_is_written_as_its_value_and_an_unknown_one_is_refused(target: str) -> None:
    """A state column's values are converted by a lookup of the enum's members and values;
    a value it does not know goes to the column type's own conversion, which refuses it."""
    store = Store(target, create=True)
    try:
        conn = store.session.connection()
        pending_steps(conn, 3)
        executemany_rows(conn, BY_ID, ("state", "b_id"), [
            (HostStepState.DRAINING, 1), ("done", 2), (HostStepState.FAILED, 3)])
        with pytest.raises(LookupError, match="'drained away' is not among the defined enum"):
            executemany_rows(conn, BY_ID, ("state", "b_id"), [
                (HostStepState.DONE, 1), ("drained away", 2)])
        store.commit()
        assert sql(target, "select id, state from host_step order by id") == [
            (1, "draining"), (2, "done"), (3, "failed")]
    finally:
        store.close()


def test_a_column_given_ready_is_passed_on_unconverted(target: str) -> None:
    """A column named in ``ready`` is the caller's to give as the driver takes it: its values
    go to the driver as they are (a state's string the column's conversion would refuse is
    written as given), the other columns' are converted."""
    store = Store(target, create=True)
    try:
        conn = store.session.connection()
        pending_steps(conn, 2)
        executemany_rows(conn, BY_ID, ("state", "b_id"), [("drained away", 1)],
                         ready=frozenset({"state"}))
        executemany_rows(conn, BY_ID, ("state", "started_s", "b_id"),
                         [(HostStepState.DONE, 4, 2)], ready=frozenset({"state"}))
        store.commit()
        assert sql(target, "select id, state, started_s from host_step order by id") == [
            (1, "drained away", None), (2, "done", 4.0)]
    finally:
        store.close()


def test_sqlite_binds_none_through_an_adapter_that_gives_it_back(tmp_path: Path) -> None:
    """Python's SQLite driver finds ``None``'s adapter before looking for its protocol's
    (a failed lookup that formats an error message on Python 3.11); NULL is written."""
    store = Store(tmp_path / "state.db", create=True)
    try:
        assert sqlite3.adapters[(type(None), sqlite3.PrepareProtocol)](None) is None
        executemany_rows(store.session.connection(), insert(cast(Table, EventRow.__table__)),
                         ("t_s", "kind", "host", "vm", "message", "data"),
                         [(1.0, "k", None, None, "", "{}")])
        assert store.session.connection().exec_driver_sql(
            "select host is null from event where kind = 'k'").scalar() == 1
    finally:
        store.close()
