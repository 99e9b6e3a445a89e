"""Snapshots read the state file read-only and agree with ``hvroll status``."""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
from pathlib import Path

import pytest

from hvroll.errors import InputError
from hvroll.executor.status import status
from hvroll.store import Store
from hvroll.store.models import RARE_EVENTS
from hvroll.telemetry.snapshot import _MIGRATION_COLUMNS, ALERT_EVENTS, Migration, StateSource
from telemetry.statefiles import Campaign, copy


def _status_of(path: Path) -> dict[str, object]:
    store = Store(path)
    try:
        return status(store)
    finally:
        store.close()


@pytest.mark.parametrize("name", ["finished", "holding"])
def test_status_is_that_of_hvroll_status(name: str, request: pytest.FixtureRequest) -> None:
    made: Campaign = request.getfixturevalue(name)
    source = StateSource(made.state)
    try:
        assert source.snapshot().status() == _status_of(made.state)
    finally:
        source.close()


def test_reading_never_writes_the_state_file(finished: Campaign, tmp_path: Path) -> None:
    made = copy(finished, tmp_path)
    before = hashlib.sha256(made.state.read_bytes()).hexdigest()
    source = StateSource(made.state)
    source.snapshot()
    source.vm_history("vm-000001")
    source.marker()
    source.close()
    assert hashlib.sha256(made.state.read_bytes()).hexdigest() == before


def test_the_connection_is_read_only(source: StateSource) -> None:
    with source.engine.connect() as conn, pytest.raises(Exception, match="readonly"):
        conn.exec_driver_sql("DELETE FROM event")


def test_the_marker_changes_when_the_campaign_does(finished: Campaign, tmp_path: Path) -> None:
    made = copy(finished, tmp_path)
    source = StateSource(made.state)
    before = source.marker()
    assert source.marker() == before
    store = Store(made.state)
    store.request("pause")
    store.close()
    assert source.marker() != before
    assert source.snapshot().pending_controls == ("pause",)
    source.close()


def test_plan_and_inventory_are_parsed_once_per_campaign(source: StateSource) -> None:
    assert source.snapshot().static is source.snapshot().static


def test_vm_history_lists_attempts_and_events(source: StateSource) -> None:
    snap = source.snapshot()
    moved = next(m for m in snap.migrations if m.state == "completed")
    history = source.vm_history(moved.vm)
    assert [m.id for m, _ in history.migrations] == sorted(
        m.id for m in snap.migrations if m.vm == moved.vm)
    for migration, attempts in history.migrations:
        assert len(attempts) == migration.attempts
        assert [a.number for a in attempts] == list(range(1, len(attempts) + 1))
    assert all(e.vm == moved.vm for e in history.events)


def test_a_missing_state_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such state file"):
        StateSource(tmp_path / "nope.db")


def test_a_file_that_is_not_a_state_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(InputError, match="not a hvroll state file"):
        StateSource(path)


def test_a_state_file_without_campaign_says_so(tmp_path: Path) -> None:
    Store(tmp_path / "empty.db", create=True).close()
    source = StateSource(tmp_path / "empty.db")
    with pytest.raises(InputError, match="holds no campaign"):
        source.snapshot()
    source.close()


def test_migration_fields_are_the_selected_columns_in_order() -> None:
    assert [f.name for f in dataclasses.fields(Migration)] == list(
        _MIGRATION_COLUMNS.selected_columns.keys())


def test_an_unchanged_campaign_is_not_read_again(finished: Campaign, tmp_path: Path) -> None:
    made = copy(finished, tmp_path)
    source = StateSource(made.state)
    first = source.snapshot()
    assert source.snapshot() is first
    assert len(source.snapshot(recent_events=5).recent_events) == 5
    store = Store(made.state)
    store.request("pause")
    store.close()
    assert source.snapshot() is not first
    source.close()


def test_every_alert_kind_is_one_the_rare_index_holds() -> None:
    """The overview's alerts are read through the partial index of the rare kinds (its
    condition is part of the query): an alert kind outside it would never be shown."""
    assert set(ALERT_EVENTS) <= set(RARE_EVENTS)
