"""What the executor keeps in memory about the jobs it follows (rebuilt on every start)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hvroll.domain.states import Rung
from hvroll.executor.ladder import Sample
from hvroll.store import Attempt, MigrationRecord, StepRecord


@dataclass(slots=True)
class Live:
    """A migration job being followed."""

    row: MigrationRecord
    attempt: Attempt
    rungs: Sequence[Rung]
    schedule: Sequence[tuple[float, int]]
    downtime_ms: int
    total_mib: float
    """What the job moves: RAM, plus local disks in a block migration (grows as reported)."""
    samples: list[Sample] = field(default_factory=list)
    climb_to: Rung | None = None
    """Set when the job was aborted to restart on another rung."""
    fail_reason: str = ""
    """Set when the job was aborted because no rung is left."""
    stopping: bool = False
    """Aborted because the campaign is being aborted."""
    in_place: Rung | None = None
    """A rung applied to the running job (post-copy switch, suspend)."""
    unread: int = 0
    """Polls in a row whose progress could not be read (the backend did not answer)."""
    suspended_s: float | None = None
    """When the guest was paused to finish the job (clock time): the start of its downtime."""
    postcopy_s: float | None = None
    """When the job switched to post-copy (clock time)."""


@dataclass(slots=True)
class Reinstall:
    """A reinstall job being followed."""

    step: StepRecord
