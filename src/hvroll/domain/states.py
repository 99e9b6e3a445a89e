"""Lifecycles of a campaign, a host step and a migration, and of a control-plane upgrade run
and its steps: enums, named sets, one transition table each.

The store's state columns hold these enums, and a state changes only through
:meth:`hvroll.store.Store.transition`, which checks the move here (:func:`check`) and records
it with its reason in the same transaction. The tables list every move the executor makes,
including the ones reconciliation makes after a restart:

* host ``disabling → pending``: the disable and pre-checks are redone (they are idempotent);
* host ``reinstalling → drained``: the reinstall job failed once or never reached the cloud,
  and is tried again;
* migration ``starting|running → pending``: the job ended (or never started) and the
  migration is retried, on the same or another rung.

An illegal move is refused with the reason (a bug, or a corrupted state file), never applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

from hvroll.errors import HvrollError

S = TypeVar("S", bound=StrEnum)


class IllegalTransitionError(HvrollError):
    """A state change the lifecycle does not allow (a bug, or a corrupted state file)."""


class CampaignState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    HOLDING = "holding"
    """The canary wave is done; waiting for an operator's go (``hvroll resume``)."""
    PAUSED = "paused"
    COMPLETED = "completed"
    ABORTED = "aborted"
    FAILED = "failed"
    """More hosts failed than the policy tolerates."""


class HostStepState(StrEnum):
    PENDING = "pending"
    DISABLING = "disabling"
    """Scheduling off and pre-checks (which VMs were already unreachable)."""
    DRAINING = "draining"
    DRAINED = "drained"
    REINSTALLING = "reinstalling"
    VERIFYING = "verifying"
    DONE = "done"
    FAILED = "failed"
    """Drain, reinstall or verification failed, or an abort could not enable the host again:
    the host stays disabled and is reported."""
    SKIPPED = "skipped"
    """The campaign leaves the host on its profile: the plan's order (its host failed or was
    skipped in an earlier wave, too many hosts failed), or an abort that gave it back to
    service before its reinstall."""


class MigrationState(StrEnum):
    PENDING = "pending"
    STARTING = "starting"
    """Intent written: the job id is known, the driver may or may not have it yet."""
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Nothing to do any more (e.g. the VM was restarted elsewhere by HA)."""


class Rung(StrEnum):
    """Steps of the per-VM migration ladder, in order."""

    PRECOPY = "precopy"
    """Plain pre-copy, downtime raised in steps."""
    AUTO_CONVERGE = "auto_converge"
    POST_COPY = "post_copy"
    BLOCK = "block"
    """Block migration: local disks copied too (retry of a failed shared-storage migration)."""
    SUSPEND = "suspend"
    """The guest is paused so that it stops dirtying memory, and resumed on the destination."""
    COLD = "cold"


class ControlAction(StrEnum):
    """An operator's request to a campaign, taken at the next safe point."""

    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"


CAMPAIGN: Mapping[CampaignState, frozenset[CampaignState]] = {
    CampaignState.PENDING: frozenset({CampaignState.RUNNING, CampaignState.ABORTED}),
    CampaignState.RUNNING: frozenset({CampaignState.HOLDING, CampaignState.PAUSED,
                                      CampaignState.COMPLETED, CampaignState.ABORTED,
                                      CampaignState.FAILED}),
    CampaignState.HOLDING: frozenset({CampaignState.RUNNING, CampaignState.ABORTED}),
    CampaignState.PAUSED: frozenset({CampaignState.RUNNING, CampaignState.ABORTED}),
    CampaignState.COMPLETED: frozenset(),
    CampaignState.ABORTED: frozenset(),
    CampaignState.FAILED: frozenset(),
}

HOST: Mapping[HostStepState, frozenset[HostStepState]] = {
    HostStepState.PENDING: frozenset({HostStepState.DISABLING, HostStepState.SKIPPED,
                                      HostStepState.FAILED}),
    HostStepState.DISABLING: frozenset({HostStepState.DRAINING, HostStepState.FAILED,
                                        HostStepState.PENDING, HostStepState.SKIPPED}),
    HostStepState.DRAINING: frozenset({HostStepState.DRAINED, HostStepState.FAILED,
                                       HostStepState.SKIPPED}),
    HostStepState.DRAINED: frozenset({HostStepState.REINSTALLING, HostStepState.DONE,
                                      HostStepState.FAILED, HostStepState.SKIPPED}),
    HostStepState.REINSTALLING: frozenset({HostStepState.VERIFYING, HostStepState.DRAINED,
                                           HostStepState.FAILED}),
    HostStepState.VERIFYING: frozenset({HostStepState.DONE, HostStepState.FAILED}),
    HostStepState.DONE: frozenset(),
    HostStepState.FAILED: frozenset(),
    HostStepState.SKIPPED: frozenset(),
}

MIGRATION: Mapping[MigrationState, frozenset[MigrationState]] = {
    MigrationState.PENDING: frozenset({MigrationState.STARTING, MigrationState.COMPLETED,
                                       MigrationState.FAILED, MigrationState.SKIPPED}),
    MigrationState.STARTING: frozenset({MigrationState.RUNNING, MigrationState.PENDING,
                                        MigrationState.COMPLETED, MigrationState.FAILED}),
    MigrationState.RUNNING: frozenset({MigrationState.PENDING, MigrationState.COMPLETED,
                                       MigrationState.FAILED}),
    MigrationState.COMPLETED: frozenset(),
    MigrationState.FAILED: frozenset(),
    MigrationState.SKIPPED: frozenset(),
}

TERMINAL_CAMPAIGN = frozenset({CampaignState.COMPLETED, CampaignState.ABORTED,
                               CampaignState.FAILED})
STOPPED_CAMPAIGN = frozenset({CampaignState.HOLDING, CampaignState.PAUSED})
"""Waiting for an operator: ``hvroll run`` exits (or waits with ``--wait``)."""
TERMINAL_HOST = frozenset({HostStepState.DONE, HostStepState.FAILED, HostStepState.SKIPPED})
ACTIVE_HOST = frozenset(HostStepState) - TERMINAL_HOST - {HostStepState.PENDING}
"""Started and not finished: the host is being disabled, drained, reinstalled or verified."""
TERMINAL_MIGRATION = frozenset({MigrationState.COMPLETED, MigrationState.FAILED,
                                MigrationState.SKIPPED})
ACTIVE_MIGRATION = frozenset({MigrationState.STARTING, MigrationState.RUNNING})
"""A job may exist in the cloud."""
ADOPTABLE_MIGRATION = ACTIVE_MIGRATION
"""States in which a job may exist in the cloud: reconciled on start."""
IN_PLACE_RUNGS = frozenset({Rung.POST_COPY, Rung.SUSPEND})
"""Rungs applied to the running job instead of restarting it."""


class UpgradeRunState(StrEnum):
    """A control-plane upgrade run (``hvroll controlplane run``)."""

    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    ROLLING_BACK = "rolling_back"
    """A gate or step failed before the point of no return: the hop's rollback runs."""
    COMPLETED = "completed"
    ROLLED_BACK = "rolled_back"
    """The rollback finished and verified: the cloud is on the hop's old release."""
    ABORTED = "aborted"
    FAILED = "failed"
    """A step failed after the point of no return, or the rollback failed: operator needed."""


class UpgradeStepState(StrEnum):
    """One step of a control-plane runbook (a command, a gate, the point of no return)."""

    PENDING = "pending"
    RUNNING = "running"
    """Intent committed: the command may or may not have started (reconciled on start)."""
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


UPGRADE_RUN: Mapping[UpgradeRunState, frozenset[UpgradeRunState]] = {
    UpgradeRunState.PENDING: frozenset({UpgradeRunState.RUNNING, UpgradeRunState.ABORTED}),
    UpgradeRunState.RUNNING: frozenset({UpgradeRunState.PAUSED, UpgradeRunState.ROLLING_BACK,
                                        UpgradeRunState.COMPLETED, UpgradeRunState.ABORTED,
                                        UpgradeRunState.FAILED}),
    UpgradeRunState.PAUSED: frozenset({UpgradeRunState.RUNNING, UpgradeRunState.ROLLING_BACK,
                                       UpgradeRunState.ABORTED}),
    UpgradeRunState.ROLLING_BACK: frozenset({UpgradeRunState.ROLLED_BACK,
                                             UpgradeRunState.FAILED, UpgradeRunState.PAUSED,
                                             UpgradeRunState.ABORTED}),
    UpgradeRunState.COMPLETED: frozenset(),
    UpgradeRunState.ROLLED_BACK: frozenset(),
    UpgradeRunState.ABORTED: frozenset(),
    UpgradeRunState.FAILED: frozenset(),
}

UPGRADE_STEP: Mapping[UpgradeStepState, frozenset[UpgradeStepState]] = {
    UpgradeStepState.PENDING: frozenset({UpgradeStepState.RUNNING, UpgradeStepState.SKIPPED}),
    # running → running: a repeated step (online data migrations) or a job run again after
    # its runner died and left no result
    UpgradeStepState.RUNNING: frozenset({UpgradeStepState.RUNNING, UpgradeStepState.DONE,
                                         UpgradeStepState.FAILED}),
    UpgradeStepState.DONE: frozenset(),
    UpgradeStepState.FAILED: frozenset(),
    UpgradeStepState.SKIPPED: frozenset(),
}

TERMINAL_UPGRADE_RUN = frozenset({UpgradeRunState.COMPLETED, UpgradeRunState.ROLLED_BACK,
                                  UpgradeRunState.ABORTED, UpgradeRunState.FAILED})
TERMINAL_UPGRADE_STEP = frozenset({UpgradeStepState.DONE, UpgradeStepState.FAILED,
                                   UpgradeStepState.SKIPPED})

TABLES: Mapping[type[StrEnum], Mapping[StrEnum, frozenset[StrEnum]]] = {
    CampaignState: CAMPAIGN,  # type: ignore[dict-item]
    HostStepState: HOST,  # type: ignore[dict-item]
    MigrationState: MIGRATION,  # type: ignore[dict-item]
    UpgradeRunState: UPGRADE_RUN,  # type: ignore[dict-item]
    UpgradeStepState: UPGRADE_STEP,  # type: ignore[dict-item]
}
"""The transition table of each lifecycle, by its enum."""


def check(table: Mapping[S, frozenset[S]], current: S, new: S, what: str) -> S:
    """``new`` if the table allows ``current → new``; otherwise IllegalTransitionError.

    >>> check(HOST, HostStepState.DRAINED, HostStepState.REINSTALLING, "host h1")
    <HostStepState.REINSTALLING: 'reinstalling'>
    """
    if new not in table[current]:
        allowed = ", ".join(sorted(s.value for s in table[current])) or "none (final)"
        raise IllegalTransitionError(f"{what}: {current.value} → {new.value} is not allowed "
                                     f"(expected one of: {allowed})")
    return new


def allowed(current: StrEnum, new: StrEnum) -> bool:
    """Whether the lifecycle of ``current`` allows the move to ``new``."""
    table = TABLES.get(type(current))
    return table is not None and type(new) is type(current) and new in table[current]
