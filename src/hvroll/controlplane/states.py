"""Lifecycles of a control-plane run and of its steps: enums and their transition tables.

Every change goes through :func:`check`; an illegal one is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

from hvroll.errors import HvrollError

S = TypeVar("S", bound=StrEnum)


class IllegalTransitionError(HvrollError):
    """A state change the lifecycle does not allow (a bug, or a corrupted state file)."""


class RunState(StrEnum):
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


class StepState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    """Intent committed: the command may or may not have started (reconciled on start)."""
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


RUN: Mapping[RunState, frozenset[RunState]] = {
    RunState.PENDING: frozenset({RunState.RUNNING, RunState.ABORTED}),
    RunState.RUNNING: frozenset({RunState.PAUSED, RunState.ROLLING_BACK, RunState.COMPLETED,
                                 RunState.ABORTED, RunState.FAILED}),
    RunState.PAUSED: frozenset({RunState.RUNNING, RunState.ROLLING_BACK, RunState.ABORTED}),
    RunState.ROLLING_BACK: frozenset({RunState.ROLLED_BACK, RunState.FAILED,
                                      RunState.PAUSED, RunState.ABORTED}),
    RunState.COMPLETED: frozenset(),
    RunState.ROLLED_BACK: frozenset(),
    RunState.ABORTED: frozenset(),
    RunState.FAILED: frozenset(),
}

STEP: Mapping[StepState, frozenset[StepState]] = {
    StepState.PENDING: frozenset({StepState.RUNNING, StepState.SKIPPED}),
    StepState.RUNNING: frozenset({StepState.RUNNING, StepState.DONE, StepState.FAILED}),
    StepState.DONE: frozenset(),
    StepState.FAILED: frozenset(),
    StepState.SKIPPED: frozenset(),
}

TERMINAL_RUN = frozenset({RunState.COMPLETED, RunState.ROLLED_BACK, RunState.ABORTED,
                          RunState.FAILED})


def check(table: Mapping[S, frozenset[S]], current: S, new: S, what: str) -> S:
    """``new`` if the table allows ``current → new``; otherwise IllegalTransitionError."""
    if new not in table[current]:
        allowed = ", ".join(sorted(s.value for s in table[current])) or "none (final)"
        raise IllegalTransitionError(f"{what}: {current.value} → {new.value} is not allowed "
                                     f"(expected one of: {allowed})")
    return new
