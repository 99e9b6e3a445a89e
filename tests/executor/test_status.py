"""``hvroll status``: the database counts a campaign's migrations as the summary counted the
rows (the same numbers, without reading 170,000 rows for the public preset)."""

from __future__ import annotations

from sqlalchemy import select, update

from campaigns import Campaign, three_regions
from hvroll.domain.states import MigrationState, Rung
from hvroll.executor.status import (
    FailedMigration,
    MigrationCounts,
    migration_counts,
    region_migration_states,
    regions_of,
    status,
)
from hvroll.store import MigrationRow, Store


def _set(store: Store, ids: list[int], **values: object) -> None:
    store.session.execute(update(MigrationRow).where(MigrationRow.id.in_(ids)).values(**values))


def _outcomes(store: Store) -> list[int]:
    """Give the campaign's migrations (in id order) a mix of outcomes: 0–9 completed live
    (downtimes 10, 20, …, 100 ms; 8 and 9 on post-copy), 10 completed cold with a downtime,
    11 completed without one, 12–13 failed, 14 running, the rest pending."""
    ids = list(store.session.scalars(select(MigrationRow.id).order_by(MigrationRow.id)))
    for n, i in enumerate(ids[:10]):
        _set(store, [i], state=MigrationState.COMPLETED, downtime_ms=10.0 * (n + 1),
             rung=Rung.POST_COPY if n >= 8 else Rung.PRECOPY, kind="live")
    _set(store, [ids[10]], state=MigrationState.COMPLETED, downtime_ms=5.0, kind="cold")
    _set(store, [ids[11]], state=MigrationState.COMPLETED, downtime_ms=None)
    _set(store, ids[12:14], state=MigrationState.FAILED, rung=Rung.BLOCK, error="no room")
    _set(store, [ids[14]], state=MigrationState.RUNNING)
    store.session.commit()
    return ids


def test_the_database_counts_what_the_rows_count(campaign: Campaign) -> None:
    store, _, _ = campaign(three_regions(), name="counted")
    ids = _outcomes(store)
    reader = Store(store.target, readonly=True)
    try:
        counted = migration_counts(reader)
        assert counted == MigrationCounts.of(reader.migrations())
        assert counted.by_state == {MigrationState.COMPLETED: 12, MigrationState.FAILED: 2,
                                    MigrationState.RUNNING: 1,
                                    MigrationState.PENDING: len(ids) - 15}
        assert counted.by_rung == {Rung.PRECOPY: 10, Rung.POST_COPY: 2}
        assert counted.downtime_ms == {"p50": 50.0, "p95": 100.0, "p99": 100.0, "max": 100.0}
        assert [f.error for f in counted.failed] == ["no room", "no room"]
        assert all(isinstance(f, FailedMigration) and f.rung == "block"
                   for f in counted.failed)
        summary = status(reader)
        assert (summary["migrations"], summary["migrations_completed"],
                summary["migrations_failed"], summary["migrations_running"]) == (
            len(ids), 12, 2, 1)
        assert summary["downtime_ms"] == counted.downtime_ms
        assert summary["migrations_by_rung"] == {"post_copy": 2, "precopy": 10}
        assert summary["progress"] == round(14 / len(ids), 4)
    finally:
        reader.close()


def test_each_region_line_counts_its_migrations(campaign: Campaign) -> None:
    store, _, _ = campaign(three_regions(), name="regions")
    _outcomes(store)
    reader = Store(store.target, readonly=True)
    try:
        rows = reader.migrations()
        lines = regions_of(reader)
        assert [line["region"] for line in lines] == list(reader.inventory_outline().regions)
        assert any(line["migrations"] for line in lines)
        for line in lines:
            mine = [m for m in rows if m.region == line["region"]]
            done = [m for m in mine if m.state in (MigrationState.COMPLETED,
                                                  MigrationState.FAILED)]
            assert (line["migrations"], line["migrations_completed"],
                    line["migrations_failed"], line["progress"]) == (
                len(mine), sum(m.state is MigrationState.COMPLETED for m in mine),
                sum(m.state is MigrationState.FAILED for m in mine),
                round(len(done) / len(mine), 4) if mine else 1.0)
        states = region_migration_states(reader)
        assert sum(sum(c.values()) for c in states.values()) == len(rows)
    finally:
        reader.close()
