"""State changes through the store: checked against the table, recorded with their reason in
the same commit, refused without a trace when illegal; typed columns read older files."""

from __future__ import annotations

import pytest

from campaigns import Campaign
from hvroll.domain import Fleet
from hvroll.domain.states import HostStepState, IllegalTransitionError, MigrationState
from hvroll.store import MigrationRecord, StepRecord, Store
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


@pytest.mark.parametrize("kind", ["migration", "host step"])
def test_an_illegal_move_is_refused_and_leaves_no_trace(small: Fleet, campaign: Campaign,
                                                        kind: str) -> None:
    store, _, _ = campaign(small)
    row: MigrationRecord | StepRecord
    if kind == "migration":
        row = store.migrations()[0]
        what, to, state = f"vm {row.vm}", MigrationState.RUNNING, MigrationState.PENDING
    else:
        row = store.steps()[0]
        what, to, state = f"host {row.host}", HostStepState.DONE, HostStepState.PENDING
    with pytest.raises(IllegalTransitionError,
                       match=rf"{what}: pending → {to.value} is not allowed"):
        store.transition(row, to, 1.0)
    store.commit()
    assert row.state is state
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
