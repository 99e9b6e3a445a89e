"""State changes through the store: checked against the table, recorded with their reason in
the same commit, refused without a trace when illegal; typed columns read older files."""

from __future__ import annotations

import pytest

from campaigns import Campaign
from hvroll.domain import Fleet
from hvroll.domain.states import HostStepState, IllegalTransitionError, MigrationState
from hvroll.store import Store
from targets import execute


def test_a_legal_move_is_applied_and_recorded_at_the_commit(small: Fleet,
                                                            campaign: Campaign) -> None:
    store, _, _ = campaign(small)
    step = store.steps()[0]
    store.transition(step, HostStepState.DISABLING, 12.5, "started")
    assert step.state is HostStepState.DISABLING
    assert store.transitions() == []  # not before the commit
    store.commit()
    [move] = store.transitions()
    assert (move.t_s, move.entity, move.entity_id, move.name, move.source, move.target,
            move.reason) == (12.5, "host_step", step.id, step.host, "pending", "disabling",
                             "started")


def test_an_illegal_move_is_refused_and_leaves_no_trace(small: Fleet,
                                                        campaign: Campaign) -> None:
    store, _, _ = campaign(small)
    row = store.migrations()[0]
    with pytest.raises(IllegalTransitionError, match=rf"vm {row.vm}: pending → running is "
                                                     r"not allowed"):
        store.transition(row, MigrationState.RUNNING, 1.0)
    store.commit()
    assert row.state is MigrationState.PENDING
    assert store.transitions() == []


def test_an_illegal_move_of_a_host_step_is_refused_and_leaves_no_trace(
        small: Fleet, campaign: Campaign) -> None:
    store, _, _ = campaign(small)
    step = store.steps()[0]
    with pytest.raises(IllegalTransitionError, match=rf"host {step.host}: pending → done is "
                                                     r"not allowed"):
        store.transition(step, HostStepState.DONE, 1.0)
    store.commit()
    assert step.state is HostStepState.PENDING
    assert store.transitions() == []


def test_state_columns_read_back_as_enums(small: Fleet, campaign: Campaign) -> None:
    store, _, _ = campaign(small)
    store.close()
    # written as plain strings, as by older files
    execute(store.target, "update host_step set state='draining' where id=1")
    again = Store(store.target)
    assert again.steps()[0].state is HostStepState.DRAINING
    assert again.migrations()[0].state is MigrationState.PENDING
    again.close()
