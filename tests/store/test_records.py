"""What the store writes itself at a commit: the campaign's inventory, read back as the same
fleet by another process; attempts, inserted and ended by their key (migration, number) in
the commit that follows, dropped by a rollback; the host steps and migrations the executor
holds as records, their changed columns written at the commit, put back by a rollback."""

from __future__ import annotations

from campaigns import Campaign
from hvroll.domain import Fleet
from hvroll.domain.states import HostStepState, MigrationState, Rung
from hvroll.planner.build import with_profiles
from hvroll.store import Attempt, Store
from hvroll.store.models import loads_items
from targets import execute


def test_another_store_reads_the_campaigns_inventory_as_the_same_fleet(
        small: Fleet, campaign: Campaign) -> None:
    store, _, result = campaign(small)
    other = Store(store.target)
    try:
        assert other.fleet() == with_profiles(small, result.targets)
    finally:
        other.close()


def test_attempts_are_written_at_the_commit_and_numbered_in_the_order_added(
        small: Fleet, campaign: Campaign) -> None:
    store, _, _ = campaign(small)
    first, second = store.migrations()[:2]
    a = Attempt(migration_id=second.id, number=1, rung=Rung.PRECOPY, job="j-a", options="{}",
                started_s=5.0)
    b = Attempt(migration_id=first.id, number=1, rung=Rung.COLD, job="j-b", options="{}",
                started_s=6.0)
    store.add_attempt(a)
    store.add_attempt(b)
    assert store.attempts() == []  # not before the commit
    store.commit()
    rows = sorted(store.attempts(), key=lambda r: r.id)
    assert [(r.job, r.rung, r.phase, r.finished_s) for r in rows] == [
        ("j-a", Rung.PRECOPY, "running", None), ("j-b", Rung.COLD, "running", None)]
    b.finished_s, b.phase, b.error, b.downtime_ms = 9.5, "failed", "refused", None
    store.attempt_ended(b)
    store.commit()
    store.session.expire_all()
    ended = {r.job: (r.finished_s, r.phase, r.error) for r in store.attempts()}
    assert ended == {"j-a": (None, "running", ""), "j-b": (9.5, "failed", "refused")}


def test_a_rollback_drops_the_attempts_not_committed(small: Fleet, campaign: Campaign) -> None:
    store, _, _ = campaign(small)
    row = store.migrations()[0]
    store.add_attempt(Attempt(migration_id=row.id, number=1, rung=Rung.PRECOPY, job="j",
                              options="{}", started_s=1.0))
    store.session.rollback()
    store.commit()
    assert store.attempts() == []


def test_a_records_changed_columns_are_written_at_the_commit_and_no_other(
        small: Fleet, campaign: Campaign) -> None:
    store, _, _ = campaign(small)
    row = store.migrations()[0]
    row.error, row.attempts = "refused", 2
    # another writer changes a column this store holds but did not change
    execute(store.target, "update migration set dest = 'elsewhere' where id = :id", id=row.id)
    assert execute(store.target, "select error, attempts from migration where id = :id",
                   id=row.id) == [("", 0)]  # not before the commit
    store.commit()
    assert execute(store.target, "select error, attempts, dest from migration where id = :id",
                   id=row.id) == [("refused", 2, "elsewhere")]


def test_each_record_writes_only_the_columns_it_changed_in_a_commit_of_several(
        small: Fleet, campaign: Campaign) -> None:
    """Records of one commit that changed different columns each set only their own: a
    column another record changed is not written back with the value this one holds."""
    store, _, _ = campaign(small)
    first, second, third = store.migrations()[:3]
    first.error = "refused"
    second.attempts = 2
    third.attempts, third.error = 3, "stalled"
    for row in (first, second):  # another writer changes the column each did not change
        execute(store.target, "update migration set error = 'theirs', attempts = 9 "
                "where id = :id", id=row.id)
    store.commit()
    assert execute(store.target, "select id, error, attempts from migration where id in "
                   "(:a, :b, :c) order by id", a=first.id, b=second.id, c=third.id) == [
        (first.id, "refused", 9), (second.id, "theirs", 2), (third.id, "stalled", 3)]


def test_a_rollback_puts_a_records_last_committed_values_back(
        small: Fleet, campaign: Campaign) -> None:
    store, _, _ = campaign(small)
    step = store.steps()[0]
    store.transition(step, HostStepState.DISABLING, 1.0)
    store.commit()
    store.session.connection()  # the next transaction begins (with a read, in a run)
    store.transition(step, HostStepState.DRAINING, 2.0)
    step.error = "lost"
    store.session.rollback()
    assert (step.state, step.error) == (HostStepState.DISABLING, "")
    step.error = "after the rollback"  # changed again: written by the next commit
    store.commit()
    assert execute(store.target, "select state, error from host_step where id = :id",
                   id=step.id) == [("disabling", "after the rollback")]


def test_a_row_loaded_again_is_the_same_record_with_its_changes(
        small: Fleet, campaign: Campaign) -> None:
    store, _, _ = campaign(small)
    first = store.migrations()
    first[0].state = MigrationState.SKIPPED
    again = store.migrations(first[0].region)
    assert again[0] is first[0]
    assert again[0].state is MigrationState.SKIPPED
    assert [m.id for m in again] == [m.id for m in first if m.region == first[0].region]


def test_the_records_equal_texts_are_one_object(small: Fleet, campaign: Campaign) -> None:
    """A name (a cluster, a region, a host) or a JSON list read in many rows is held once:
    the records of one cluster, steps and migrations alike, share the text of its name."""
    store, _, _ = campaign(small)
    rows = store.migrations()
    steps = store.steps()
    first = rows[0]
    same = [r for r in rows if r.cluster == first.cluster]
    assert len(same) > 1
    assert all(r.cluster is first.cluster and r.region is first.region for r in same)
    empty = [r.workarounds for r in rows if r.workarounds == "[]"]
    assert len(empty) > 1 and all(text is empty[0] for text in empty)
    assert all(s.cluster is first.cluster for s in steps if s.cluster == first.cluster)
    assert all(r.source is s.host for r in rows for s in steps if r.source == s.host)


def test_a_json_list_columns_items_are_read_as_a_tuple() -> None:
    assert loads_items('["remove_balloon","copy_config_drive"]') == (
        "remove_balloon", "copy_config_drive")
    assert loads_items("[]") == ()
    assert loads_items("") == ()
