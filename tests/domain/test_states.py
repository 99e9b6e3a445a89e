"""Lifecycle tables: every state listed, final states final, illegal changes refused."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

import pytest

from hvroll.domain.states import (
    ACTIVE_HOST,
    ADOPTABLE_MIGRATION,
    CAMPAIGN,
    HOST,
    MIGRATION,
    STOPPED_CAMPAIGN,
    TERMINAL_CAMPAIGN,
    TERMINAL_HOST,
    TERMINAL_MIGRATION,
    TERMINAL_UPGRADE_RUN,
    TERMINAL_UPGRADE_STEP,
    UPGRADE_RUN,
    UPGRADE_STEP,
    CampaignState,
    HostStepState,
    IllegalTransitionError,
    MigrationState,
    UpgradeRunState,
    UpgradeStepState,
    allowed,
    check,
)

TABLES: list[tuple[Mapping[StrEnum, frozenset[StrEnum]], type[StrEnum], frozenset[StrEnum]]] = [
    (CAMPAIGN, CampaignState, TERMINAL_CAMPAIGN),  # type: ignore[list-item]
    (HOST, HostStepState, TERMINAL_HOST),  # type: ignore[list-item]
    (MIGRATION, MigrationState, TERMINAL_MIGRATION),  # type: ignore[list-item]
    (UPGRADE_RUN, UpgradeRunState, TERMINAL_UPGRADE_RUN),  # type: ignore[list-item]
    (UPGRADE_STEP, UpgradeStepState, TERMINAL_UPGRADE_STEP),  # type: ignore[list-item]
]


@pytest.mark.parametrize(("table", "enum", "terminal"), TABLES)
def test_every_state_has_a_row(table: Mapping[StrEnum, frozenset[StrEnum]],
                               enum: type[StrEnum], terminal: frozenset[StrEnum]) -> None:
    assert set(table) == set(enum)


@pytest.mark.parametrize(("table", "enum", "terminal"), TABLES)
def test_final_states_have_no_way_out(table: Mapping[StrEnum, frozenset[StrEnum]],
                                      enum: type[StrEnum], terminal: frozenset[StrEnum]) -> None:
    assert {s for s in enum if not table[s]} == set(terminal)


def test_a_legal_change_returns_the_new_state() -> None:
    assert check(HOST, HostStepState.DRAINED, HostStepState.REINSTALLING, "host h1") is \
        HostStepState.REINSTALLING


def test_reinstalling_straight_from_pending_is_refused() -> None:
    with pytest.raises(IllegalTransitionError) as caught:
        check(HOST, HostStepState.PENDING, HostStepState.REINSTALLING, "host h1")
    assert str(caught.value) == ("host h1: pending → reinstalling is not allowed (expected one "
                                 "of: disabling, failed, skipped)")


def test_a_final_state_is_final() -> None:
    with pytest.raises(IllegalTransitionError, match=r"completed → running is not allowed "
                                                     r"\(expected one of: none \(final\)\)"):
        check(CAMPAIGN, CampaignState.COMPLETED, CampaignState.RUNNING, "campaign")


def test_a_host_can_only_be_reinstalled_after_its_drain() -> None:
    """The only way into REINSTALLING is from DRAINED (a retry goes back through DRAINED)."""
    sources = {s for s, targets in HOST.items() if HostStepState.REINSTALLING in targets}
    assert sources == {HostStepState.DRAINED}


@pytest.mark.parametrize(("current", "new"), [
    (HostStepState.DISABLING, HostStepState.PENDING),
    (HostStepState.REINSTALLING, HostStepState.DRAINED),
    (MigrationState.STARTING, MigrationState.PENDING),
    (MigrationState.RUNNING, MigrationState.PENDING),
])
def test_the_redo_moves_of_reconciliation_are_in_the_tables(current: StrEnum,
                                                            new: StrEnum) -> None:
    assert allowed(current, new)


@pytest.mark.parametrize(("current", "new"), [
    (HostStepState.PENDING, HostStepState.DONE),
    (HostStepState.DRAINING, HostStepState.PENDING),
    (MigrationState.COMPLETED, MigrationState.PENDING),
    (MigrationState.PENDING, HostStepState.DONE),
    (CampaignState.ABORTED, CampaignState.RUNNING),
])
def test_moves_outside_the_tables_are_not_allowed(current: StrEnum, new: StrEnum) -> None:
    assert not allowed(current, new)


def test_named_sets() -> None:
    assert {HostStepState.DISABLING, HostStepState.DRAINING,
                           HostStepState.DRAINED, HostStepState.REINSTALLING,
                           HostStepState.VERIFYING} == ACTIVE_HOST
    assert {MigrationState.STARTING, MigrationState.RUNNING} == ADOPTABLE_MIGRATION
    assert {CampaignState.HOLDING, CampaignState.PAUSED} == STOPPED_CAMPAIGN
