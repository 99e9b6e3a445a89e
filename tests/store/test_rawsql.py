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
from hvroll.store.rawsql import _compiled, _driver_rows, execute, executemany_rows
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


def test_a_float_column_stores_what_sqlalchemy_stores(target: str) -> None:
    """An ``int``, a ``float`` and ``None`` given for a ``Float`` column are stored as
    SQLAlchemy's own UPDATE stores them (on SQLite they go to the driver unconverted: the
    column's REAL affinity makes a number a REAL; a ``bool`` too, SQLite only)."""
    values: list[float | None] = [4, 2.5, None, 0, -3]
    if target.endswith(".db"):
        values.append(True)
    store = Store(target, create=True)
    try:
        conn = store.session.connection()
        pending_steps(conn, 2 * len(values))
        conn.execute(BY_ID, [{"started_s": v, "b_id": i + 1} for i, v in enumerate(values)])
        executemany_rows(conn, BY_ID, ("started_s", "b_id"),
                         [(v, len(values) + i + 1) for i, v in enumerate(values)])
        store.commit()
        rows = sql(target, "select started_s from host_step order by id")
        core, raw = rows[:len(values)], rows[len(values):]
        assert raw == core == [(4.0,), (2.5,), (None,), (0.0,), (-3.0,), (1.0,)][:len(values)]
        assert all(type(t) is float for (t,) in raw if t is not None)
    finally:
        store.close()


def test_sqlite_takes_a_float_and_a_state_as_they_are(tmp_path: Path) -> None:
    """On SQLite a ``Float`` column's values and a state column's members and values go to
    the driver as given (the state through its enum's adapter, which gives its value); a
    value the state column does not know is converted, so refused (the test above)."""
    store = Store(tmp_path / "state.db", create=True)
    try:
        conn = store.session.connection()
        found = _compiled(conn, BY_ID, ("state", "started_s", "b_id"))
        rows = [(HostStepState.DONE, 4, 2), ("failed", 1.5, 1), (None, None, 3)]
        assert _driver_rows(conn, found, rows) is rows
        adapt = sqlite3.adapters[(HostStepState, sqlite3.PrepareProtocol)]
        assert {s: adapt(s) for s in HostStepState} == {s: s.value for s in HostStepState}
        assert all(type(adapt(s)) is str for s in HostStepState)
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
