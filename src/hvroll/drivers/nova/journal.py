"""What the nova driver must remember across its own restarts: which job is which Nova
operation. Records go through the one crash journal of every backend
(:class:`hvroll.drivers.journal.Journal`: a header, one JSON object per line written before
the side effect, a torn last line dropped, the whole file validated before anything is cut,
one writer at a time); the last record of a job wins. A job whose Nova migration is found
again after a crash is *adopted*: followed, never started twice."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from hvroll.drivers.base import JobKind
from hvroll.drivers.journal import Journal as JsonLines
from hvroll.errors import InputError

FORMAT = "hvroll-nova-journal"
_WHAT = "the nova driver's journal"
_HINT = ("move the file away to start afresh (Nova's migrations already started are then not "
         "adopted)")


@dataclass(slots=True)
class NovaJob:
    job: str
    kind: JobKind
    vm: str | None
    uuid: str | None
    source: str | None
    dest: str | None
    profile: str | None
    started_at: str
    """ISO 8601 UTC: the Nova migration of this job is the first created at or after it."""
    started_s: float = 0.0
    migration_id: str | None = None
    phase: str | None = None
    """Set once the job ended: Nova's final outcome as first seen, or one Nova does not
    remember (a refused call, a hook)."""
    error: str | None = None
    confirmed: bool = False
    ended_s: float | None = None
    """When the outcome was first seen (the driver's clock)."""
    total_mib: float = 0.0
    processed_mib: float = 0.0
    remaining_mib: float = 0.0
    """The last progress Nova reported (its record drops the figures once the move ends)."""


class Journal:
    """The nova driver's jobs by id, read back from ``path`` (in memory only without one)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.jobs: dict[str, NovaJob] = {}
        self._lines = JsonLines(path, format=FORMAT, what=_WHAT, hint=_HINT)
        for number, data in self._lines.records:
            try:
                rec = NovaJob(**{**data, "kind": JobKind(data["kind"])})
            except (ValueError, TypeError, KeyError) as exc:
                self._lines.close()
                raise InputError(f"{path}:{number}: not a record of {_WHAT} ({exc}); "
                                 f"{_HINT}") from None
            self.jobs[rec.job] = rec

    def save(self, rec: NovaJob) -> None:
        """Remember ``rec`` (written through before the caller acts on it)."""
        self.jobs[rec.job] = rec
        self._lines.append({**asdict(rec), "kind": rec.kind.value})

    def close(self) -> None:
        self._lines.close()
