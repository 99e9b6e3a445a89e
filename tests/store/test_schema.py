"""The state file's schema versions: version 2 indexes only the rare event kinds and no
migration state; a version 1 file (the indexes of an event's kind and a migration's state) is
read as it is, and moved to version 2 by the first writer that opens it, which then resumes
its campaign as it would have resumed it at version 2 (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import create_engine, func, inspect, select

from campaigns import Campaign
from hvroll.domain import Fleet
from hvroll.domain.states import CampaignState
from hvroll.drivers.sim import SimCloud
from hvroll.executor.engine import Executor
from hvroll.executor.status import EVENT_KINDS
from hvroll.store import EventRow, Store
from hvroll.store.models import RARE_EVENTS
from hvroll.store.read import DIGESTED, StateReader, database_url
from hvroll.store.store import kind_is, upgrade_schema
from hvroll.telemetry.snapshot import ALERT_EVENTS, StateSource
from races import open_at_once
from targets import contents, execute

V1_INDEXES = {"event": {"ix_event_kind"},
              "migration": {"ix_migration_vm", "ix_migration_step", "ix_migration_state"}}
V2_INDEXES = {"event": {"ix_event_rare"}, "migration": {"ix_migration_vm", "ix_migration_step"}}


def indexes(target: str) -> dict[str, set[str]]:
    engine = create_engine(database_url(target))
    try:
        with engine.connect() as conn:
            found = inspect(conn)
            return {t: {str(i["name"]) for i in found.get_indexes(t)} for t in V1_INDEXES}
    finally:
        engine.dispose()


def as_version_1(target: str) -> None:
    """Make a state file what version 1 of the schema made of it: the same tables and rows,
    with version 1's indexes (as its models declared them) and its version."""
    execute(target, "DROP INDEX ix_event_rare")
    execute(target, "CREATE INDEX ix_event_kind ON event (kind)")
    execute(target, "CREATE INDEX ix_migration_state ON migration (state)")
    execute(target, "UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    assert indexes(target) == V1_INDEXES


def run(store: Store, journal: Path, turns: int | None = None) -> CampaignState:
    cloud = SimCloud(store.fleet(), seed=1, journal=journal)
    try:
        return Executor(store, cloud).run(max_turns=turns).state
    finally:
        cloud.close()


def interrupted(campaign: Campaign, fleet: Fleet, tmp_path: Path, name: str) -> str:
    """A campaign run for 40 turns, its store closed (migrations and steps in flight)."""
    store, cloud, _ = campaign(fleet, name=name)
    cloud.close()
    assert run(store, tmp_path / f"{name}.db.sim.jsonl", 40) is CampaignState.RUNNING
    store.close()
    return store.target


def test_a_new_state_file_has_version_2_and_its_indexes(target: str) -> None:
    Store(target, create=True).close()
    assert contents(target)["meta"] == [("schema_version", "2")]
    assert indexes(target) == V2_INDEXES


def test_a_version_1_file_is_read_as_it_is(small: Fleet, campaign: Campaign,
                                           tmp_path: Path) -> None:
    target = interrupted(campaign, small, tmp_path, "c")
    as_version_1(target)
    before = contents(target)
    StateReader(target).close()
    source = StateSource(target)
    snap = source.snapshot()
    assert source.marker() and snap.migrations and snap.event_counts
    source.close()
    store = Store(target, readonly=True)
    assert store.count_events("host_draining") == snap.event_counts["host_draining"] > 0
    assert store.events("campaign_started")
    store.close()
    assert contents(target) == before
    assert indexes(target) == V1_INDEXES


def test_a_writer_moves_a_version_1_file_to_version_2_and_resumes_it_as_it_would_at_2(
        small: Fleet, campaign: Campaign, tmp_path: Path) -> None:
    """Two runs of one campaign, each stopped after the same turns; one's file is made a
    version 1 file before it is resumed: both end with the same rows in every table a run
    writes."""
    old = interrupted(campaign, small, tmp_path, "old")
    new = interrupted(campaign, small, tmp_path, "new")
    as_version_1(old)
    rows = contents(old)
    store = Store(old)
    meta = [(k, "2" if k == "schema_version" else v) for k, v in rows["meta"]]
    assert contents(old) == {**rows, "meta": meta}  # no row else
    assert indexes(old) == V2_INDEXES
    assert run(store, tmp_path / "old.db.sim.jsonl") is CampaignState.COMPLETED
    store.close()
    store = Store(new)
    assert run(store, tmp_path / "new.db.sim.jsonl") is CampaignState.COMPLETED
    store.close()
    ended_old, ended_new = contents(old), contents(new)
    assert {t: ended_old[t] for t in DIGESTED.values()} == {
        t: ended_new[t] for t in DIGESTED.values()}
    StateReader(old).close()


def test_moving_to_version_2_again_changes_nothing(target: str) -> None:
    """Of two writers opening a version 1 file at once, the second finds it moved (the move
    holds the write lock, then looks at the version again)."""
    Store(target, create=True).close()
    as_version_1(target)
    engine = create_engine(database_url(target))
    upgrade_schema(engine)
    after = contents(target), indexes(target)
    upgrade_schema(engine)
    engine.dispose()
    assert (contents(target), indexes(target)) == after
    assert after[1] == V2_INDEXES and after[0]["meta"] == [("schema_version", "2")]


def test_writers_opening_a_version_1_file_at_once_all_open_it_moved(target: str) -> None:
    Store(target, create=True).close()
    as_version_1(target)
    assert open_at_once(lambda: Store(target).close()) == ["opened"] * 3
    assert contents(target)["meta"] == [("schema_version", "2")]
    assert indexes(target) == V2_INDEXES


def test_the_kinds_read_by_kind_are_the_indexed_ones() -> None:
    assert set(ALERT_EVENTS) | set(EVENT_KINDS) | {"guest_suspended", "ladder_climbed"} <= set(
        RARE_EVENTS)


def test_a_rare_kind_is_looked_up_in_the_index_and_another_read_from_the_table(
        tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    Store(path, create=True).close()
    engine = create_engine(database_url(str(path)))

    def plan_of(kind: str) -> str:
        query = select(func.count()).select_from(EventRow).where(*kind_is(kind))
        sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
        with sqlite3.connect(path) as conn:
            return " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))

    assert "ix_event_rare" in plan_of("vm_lost")
    assert plan_of("host_draining") == "SCAN event"
    engine.dispose()
