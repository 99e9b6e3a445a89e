"""The store's commit on the driver's connection: taken when the session holds nothing of its
own in the transaction (its own transaction then stays open), refused when it does (a row
added, flushed, or changed but not written); either way what was committed stays through a
later rollback and what was not is dropped, on every backend."""

from __future__ import annotations

from sqlalchemy import inspect

from campaigns import Campaign
from hvroll.domain import Fleet
from hvroll.domain.states import CampaignState, HostStepState
from hvroll.store import Store
from targets import execute


def test_a_commit_of_the_stores_own_writes_ends_on_the_driver_and_a_rollback_after_it_keeps_it(
        small: Fleet, campaign: Campaign) -> None:
    store, _, _ = campaign(small)
    step = store.steps()[0]
    store.transition(step, HostStepState.DISABLING, 1.0)
    store.event(1.0, "host_disabling", host=step.host)
    transaction = store.session.get_transaction()
    store.commit()
    assert transaction is not None
    assert store.session.get_transaction() is transaction  # the session's stays open
    assert execute(store.target, "select state from host_step where id = :id",
                   id=step.id) == [("disabling",)]  # committed: another connection reads it
    store.transition(step, HostStepState.DRAINING, 2.0)
    store.event(2.0, "host_draining", host=step.host)
    store.session.rollback()
    assert step.state is HostStepState.DISABLING
    store.event(3.0, "after")
    store.commit()
    assert execute(store.target, "select state from host_step where id = :id",
                   id=step.id) == [("disabling",)]
    assert execute(store.target, "select source, target from transition where "
                   "entity = 'host_step'") == [("pending", "disabling")]
    assert execute(store.target, "select kind from event order by id") == [
        ("host_disabling",), ("after",)]
    store.campaign_moved(CampaignState.RUNNING, {CampaignState.PENDING}, 4.0, "started")
    store.commit()
    store.session.rollback()  # the campaign row, expired, is read again as committed
    assert store.require_campaign().state is CampaignState.RUNNING


def test_a_row_the_session_added_is_committed_by_the_session_and_kept_by_a_rollback(
        small: Fleet, campaign: Campaign) -> None:
    """A row added (or added and flushed before the commit: the session's transaction then
    records it, and a rollback of that transaction would forget it) is committed by the
    session, whose transaction then ends."""
    store, _, _ = campaign(small)
    added = store.region_run("r-added")
    flushed = store.region_run("r-flushed")
    store.session.flush()
    store.commit()
    assert store.session.get_transaction() is None
    store.session.connection()  # the next transaction begins (with a read, in a run)
    store.event(1.0, "next")
    store.session.rollback()
    assert inspect(added).persistent and inspect(flushed).persistent
    assert execute(store.target, "select region from region_run order by region") == [
        ("r-added",), ("r-flushed",)]
    store.commit()
    assert execute(store.target, "select kind from event") == []


def test_a_loaded_row_changed_and_not_written_by_the_store_is_committed_by_the_session(
        small: Fleet, campaign: Campaign) -> None:
    store, _, _ = campaign(small)
    run = store.region_run("r1")
    store.commit()
    run.controls_seen = 7  # a region's run row: the session's flush writes it
    store.event(1.0, "seen")
    store.commit()
    assert store.session.get_transaction() is None
    assert execute(store.target, "select controls_seen from region_run") == [(7,)]
    assert execute(store.target, "select kind from event") == [("seen",)]


def test_a_reading_store_never_commits_on_the_driver(small: Fleet, campaign: Campaign) -> None:
    """Its driver's transaction is the session's (begun with it: one snapshot per
    transaction), so its session ends it."""
    store, _, _ = campaign(small)
    reader = Store(store.target, readonly=True)
    try:
        assert reader.steps()
        reader.commit()
        assert reader.session.get_transaction() is None
    finally:
        reader.close()
