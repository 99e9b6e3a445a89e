"""The state file's schema versions: version 3 keeps the campaign's plan and inventory in a
table of their own, out of the campaign row a run updates; version 2 indexes only the rare
event kinds and no migration state. A version 1 or 2 file (version 1: the indexes of an
event's kind and a migration's state; both: the plan and inventory in the campaign row) is
read as it is, and moved to version 3 by the first writer that opens it, which then resumes
its campaign as it would have resumed it at version 3 (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Column, LargeBinary, MetaData, Table, create_engine, func, inspect, select

from campaigns import Campaign, campaign_factory, targets_of
from hvroll.domain import Fleet
from hvroll.domain.states import CampaignState
from hvroll.drivers.sim import SimCloud
from hvroll.executor.engine import Executor
from hvroll.executor.status import EVENT_KINDS
from hvroll.planner.build import plan, with_profiles
from hvroll.planner.model import Policy
from hvroll.store import CampaignRow, EventRow, Store
from hvroll.store.lease import LeaseHeldError
from hvroll.store.models import RARE_EVENTS, campaign_input
from hvroll.store.read import DIGESTED, StateReader, database_url
from hvroll.store.store import kind_is, upgrade_schema
from hvroll.telemetry.snapshot import ALERT_EVENTS, StateSource
from races import open_at_once
from targets import contents, execute

V1_INDEXES = {"event": {"ix_event_kind"},
              "migration": {"ix_migration_vm", "ix_migration_step", "ix_migration_state"}}
V2_INDEXES = {"event": {"ix_event_rare"}, "migration": {"ix_migration_vm", "ix_migration_step"}}
OLDER = ["1", "2"]
RUN_ROWS = (*DIGESTED.values(), "campaign")
"""The tables whose rows a run writes (the lease's hold the wall clock's times)."""


def indexes(target: str) -> dict[str, set[str]]:
    engine = create_engine(database_url(target))
    try:
        with engine.connect() as conn:
            found = inspect(conn)
            return {t: {str(i["name"]) for i in found.get_indexes(t)} for t in V1_INDEXES}
    finally:
        engine.dispose()


def columns(target: str, table: str) -> list[str]:
    engine = create_engine(database_url(target))
    try:
        with engine.connect() as conn:
            return [str(c["name"]) for c in inspect(conn).get_columns(table)]
    finally:
        engine.dispose()


def version_2_campaign() -> Table:
    """The campaign table as version 2 of the schema declared it: the plan and inventory
    after ``plan_file``."""
    kept = [c._copy() for c in CampaignRow.__table__.columns]
    at = [c.name for c in kept].index("plan_file") + 1
    kept[at:at] = [Column("plan", LargeBinary, nullable=False),
                   Column("inventory", LargeBinary, nullable=False)]
    return Table("campaign", MetaData(), *kept)


def as_version(target: str, version: str) -> None:
    """Make a state file what version 1 or 2 of the schema made of it: the same rows, the
    plan and inventory in the campaign row (its table rebuilt as version 2 declared it), for
    version 1 its indexes (as its models declared them), and the version."""
    table = version_2_campaign()
    names = ", ".join(c.name for c in table.columns)
    execute(target, "ALTER TABLE campaign RENAME TO campaign_moved")
    engine = create_engine(database_url(target))
    with engine.begin() as conn:
        table.create(conn)
    engine.dispose()
    execute(target, f"INSERT INTO campaign ({names}) SELECT {names} FROM campaign_moved "
                    f"JOIN campaign_input USING (id)")
    execute(target, "DROP TABLE campaign_input")
    execute(target, "DROP TABLE campaign_moved")
    if version == "1":
        execute(target, "DROP INDEX ix_event_rare")
        execute(target, "CREATE INDEX ix_event_kind ON event (kind)")
        execute(target, "CREATE INDEX ix_migration_state ON migration (state)")
    execute(target, f"UPDATE meta SET value = '{version}' WHERE key = 'schema_version'")
    assert indexes(target) == (V1_INDEXES if version == "1" else V2_INDEXES)
    assert columns(target, "campaign")[3:6] == ["plan_file", "plan", "inventory"]


def moved(rows: dict[str, list[tuple[object, ...]]]) -> dict[str, list[tuple[object, ...]]]:
    """The rows of an older file as version 3 holds them: the campaign row without its plan
    and inventory (columns 4 and 5), which are the row of ``campaign_input``, and the
    version."""
    campaigns = rows["campaign"]
    return {**rows, "campaign": [(*r[:4], *r[6:]) for r in campaigns],
            "campaign_input": [(r[0], r[4], r[5]) for r in campaigns],
            "meta": [(k, "3" if k == "schema_version" else v) for k, v in rows["meta"]]}


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


def stored(campaign: Campaign, fleet: Fleet) -> str:
    """A state file holding a campaign not yet run."""
    store, cloud, _ = campaign(fleet)
    cloud.close()
    store.close()
    return store.target


def test_a_new_state_file_has_version_3_its_indexes_and_tables(target: str) -> None:
    Store(target, create=True).close()
    assert contents(target)["meta"] == [("schema_version", "3")]
    assert indexes(target) == V2_INDEXES
    assert "plan" not in columns(target, "campaign")
    assert columns(target, "campaign_input") == ["id", "plan", "inventory"]


def test_each_version_keeps_the_plan_and_inventory_where_it_put_them() -> None:
    assert [campaign_input(v).name for v in ("1", "2", "3")] == [
        "campaign", "campaign", "campaign_input"]


@pytest.mark.parametrize("version", OLDER)
def test_an_older_file_is_read_as_it_is(small: Fleet, campaign: Campaign, tmp_path: Path,
                                        version: str) -> None:
    target = interrupted(campaign, small, tmp_path, "c")
    store = Store(target, readonly=True)
    plan, fleet, packed = store.plan(), store.fleet(), store.packed("plan")
    store.close()
    as_version(target, version)
    before = contents(target)
    StateReader(target).close()
    source = StateSource(target)
    snap = source.snapshot()
    assert source.marker() and snap.migrations and snap.event_counts
    assert (snap.plan, snap.fleet) == (plan, fleet)
    source.close()
    store = Store(target, readonly=True)
    assert store.count_events("host_draining") == snap.event_counts["host_draining"] > 0
    assert store.events("campaign_started")
    assert (store.packed("plan"), store.plan_outline().summary) == (packed, plan.summary)
    assert store.inventory_outline().vms == len(fleet.vms)
    store.close()
    assert contents(target) == before
    assert indexes(target) == (V1_INDEXES if version == "1" else V2_INDEXES)


@pytest.mark.parametrize("version", OLDER)
def test_a_writer_moves_an_older_file_to_version_3_and_resumes_it_as_it_would_at_3(
        small: Fleet, campaign: Campaign, tmp_path: Path, version: str) -> None:
    """Two runs of one campaign, each stopped after the same turns; one's file is made a
    version 1 or 2 file before it is resumed: both end with the same rows in every table a
    run writes, the campaign's own row with them; the moved plan and inventory stay as
    they were."""
    old = interrupted(campaign, small, tmp_path, "old")
    new = interrupted(campaign, small, tmp_path, "new")
    as_version(old, version)
    rows = contents(old)
    store = Store(old)
    assert contents(old) == moved(rows)  # no other row
    assert indexes(old) == V2_INDEXES
    assert "plan" not in columns(old, "campaign")
    assert run(store, tmp_path / "old.db.sim.jsonl") is CampaignState.COMPLETED
    store.close()
    store = Store(new)
    assert run(store, tmp_path / "new.db.sim.jsonl") is CampaignState.COMPLETED
    store.close()
    ended_old, ended_new = contents(old), contents(new)
    assert {t: ended_old[t] for t in RUN_ROWS} == {t: ended_new[t] for t in RUN_ROWS}
    assert ended_old["campaign_input"] == moved(rows)["campaign_input"]
    StateReader(old).close()


@pytest.mark.parametrize("version", OLDER)
def test_moving_to_version_3_again_changes_nothing(small: Fleet, campaign: Campaign,
                                                   version: str) -> None:
    """Of two writers opening an older file at once, the second finds it moved (the move
    holds the write lock, then looks at the version again)."""
    target = stored(campaign, small)
    as_version(target, version)
    rows = contents(target)
    engine = create_engine(database_url(target))
    upgrade_schema(engine)
    after = contents(target), indexes(target)
    upgrade_schema(engine)
    engine.dispose()
    assert (contents(target), indexes(target)) == after
    assert after == (moved(rows), V2_INDEXES)


@pytest.mark.parametrize("version", OLDER)
def test_an_older_file_without_a_campaign_moves_and_takes_one(small: Fleet, target: str,
                                                              version: str) -> None:
    """A file whose campaign was never written: moved, it takes one as a new file does."""
    Store(target, create=True).close()
    as_version(target, version)
    store = Store(target)
    assert store.campaign() is None
    made = plan(small, targets_of(small), Policy(hold_after_canary=False))
    store.create_campaign(made, with_profiles(small, made.targets), "sim", 0.0)
    store.close()
    store = Store(target, readonly=True)
    assert (store.plan(), len(store.fleet().vms)) == (made, len(small.vms))
    store.close()


@pytest.mark.parametrize("version", OLDER)
def test_writers_opening_an_older_file_at_once_all_open_it_moved(
        small: Fleet, campaign: Campaign, version: str) -> None:
    target = stored(campaign, small)
    as_version(target, version)
    rows = contents(target)
    assert open_at_once(lambda: Store(target).close()) == ["opened"] * 3
    assert contents(target) == moved(rows)
    assert indexes(target) == V2_INDEXES


TAKEN_S = 1_800_000_000.0
"""When the older runner of the next test took its lease (2027-01-15 08:00:00 UTC): after
today, so its lease (an hour) is live whenever the test runs."""


@pytest.mark.parametrize("region", [None, "r1"])
def test_an_older_file_a_live_runner_holds_is_left_as_it_is(small: Fleet, campaign: Campaign,
                                                            region: str | None) -> None:
    """An older hvroll runs the campaign (or a region of it) from another machine: a writer
    of this one refuses the file, naming that runner, and changes nothing, since the runner
    could not read its campaign row at version 3 (only the new table, empty, is there: the
    writer makes the tables it lacks first, as for any older file). Once that lease has
    expired, the file moves."""
    target = stored(campaign, small)
    as_version(target, "2")
    table, key = ("lease", "id") if region is None else ("region_lease", "region")
    execute(target, f"DELETE FROM {table}")
    execute(target, f"INSERT INTO {table} ({key}, holder, fence, host, pid, since, heartbeat, "
                    f"expires) VALUES (:key, 'older', 1, 'hv-runner-2', 4242, :since, :since, "
                    f":expires)", key=region or 1, since=TAKEN_S, expires=TAKEN_S + 3600)
    rows = contents(target)
    with pytest.raises(LeaseHeldError, match="from schema version 2 to 3"):
        Store(target)
    assert contents(target) == {**rows, "campaign_input": []}
    engine = create_engine(database_url(target))
    with pytest.raises(LeaseHeldError) as held:
        upgrade_schema(engine, "c.db", wall=lambda: TAKEN_S + 30)
    subject = "campaign" if region is None else "region r1"
    assert str(held.value) == (
        f"c.db: the {subject} is run by another hvroll run (host hv-runner-2, pid 4242) since "
        f"2027-01-15 08:00:00 UTC, last heartbeat 30 s ago; wait for it to end, or stop it (a "
        f"dead holder is taken over at once) (this hvroll would move the file from schema "
        f"version 2 to 3, which that one cannot read: let it end, or pause it with the hvroll "
        f"that runs it, then open the file again)")
    upgrade_schema(engine, "c.db", wall=lambda: TAKEN_S + 3600)
    engine.dispose()
    assert contents(target) == moved(rows)


def test_a_write_of_the_campaign_row_leaves_its_plan_and_inventory_alone(
        small: Fleet, tmp_path: Path) -> None:
    """On SQLite an UPDATE writes its row whole: the campaign's clock, written once a second
    of a run, writes one page to the WAL, not the pages of the plan and inventory."""
    store, cloud, _ = campaign_factory(tmp_path)(small)
    cloud.close()
    conn = store.session.connection()
    page = int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())
    stored_pages = (len(store.packed("plan")) + len(store.packed("inventory"))) // page
    store.commit()
    with sqlite3.connect(store.target) as other:
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    other.close()
    assert Path(f"{store.target}-wal").stat().st_size == 0
    store.require_campaign().clock_s = 12.5
    store.commit()
    frames = (Path(f"{store.target}-wal").stat().st_size - 32) // (page + 24)
    store.close()
    assert (frames, stored_pages >= 10) == (1, True)


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
