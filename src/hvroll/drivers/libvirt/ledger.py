"""What hvroll must remember itself because plain libvirt does not: a journal of JSON lines.

Plain libvirt has no scheduler, so "scheduling disabled" on a host is hvroll's own record; and a
job id (the executor's idempotency key) means nothing to libvirt. The driver appends one line
per fact, before acting where it is an intent:

* ``{"op": "scheduling", "host": ..., "enabled": false}``
* ``{"op": "start", "job": ..., "kind": "live_migration", "vm": ..., "source": ..., ...}``
* ``{"op": "end", "job": ..., "phase": "completed", "error": null, "figures": {...}}``
* ``{"op": "workaround", "vm": ..., "action": "copy_config_drive"}``

A driver opened on the same file after a crash replays it: scheduling as it was, every job with
its outcome, and the jobs that had started and not ended, which the driver then finds again in
the cloud (a live migration still running on its source is followed to its end). The file is
a :class:`hvroll.drivers.journal.Journal` (header, torn last line dropped, validated before
anything is cut, one writer at a time); a file written before journals had a header is read
too. Without a file (``path=None``) the same records live in memory only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hvroll.drivers.base import JobKind, JobPhase
from hvroll.drivers.journal import Journal
from hvroll.errors import InputError

FORMAT = "hvroll-libvirt-journal"


@dataclass(slots=True)
class JobRecord:
    """A job as the journal knows it."""

    job: str
    kind: str
    fields: dict[str, Any]
    """What it was started with (vm, source, dest, options, host, profile, …)."""
    started_at: float
    """Wall-clock time (seconds since the epoch) of the start."""
    end: dict[str, Any] | None = None
    """The ``end`` line: phase, error, figures."""


@dataclass(slots=True)
class Replayed:
    scheduling: dict[str, bool] = field(default_factory=dict)
    jobs: dict[str, JobRecord] = field(default_factory=dict)
    workarounds: list[tuple[str, str]] = field(default_factory=list)


class Ledger:
    """The journal (``path``) or its in-memory equivalent."""

    def __init__(self, path: Path | None = None, *,
                 wall: Callable[[], float] = time.time) -> None:
        self.path = path
        self._wall = wall
        self._lock = threading.Lock()
        self.state = Replayed()
        self._journal = Journal(path, format=FORMAT, what="the libvirt driver's journal",
                                hint="move the file away to start afresh (scheduling marks "
                                     "and job outcomes are then forgotten)", headerless=True)
        for number, record in self._journal.records:
            try:
                self._apply(record)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                self._journal.close()
                raise InputError(f"{path}:{number}: not a record of the libvirt driver's "
                                 f"journal ({exc!r}); move the file away to start afresh "
                                 f"(scheduling marks and job outcomes are then forgotten)"
                                 ) from None

    def _apply(self, record: dict[str, Any]) -> None:
        op = record.get("op")
        if op == "scheduling":
            self.state.scheduling[str(record["host"])] = bool(record["enabled"])
        elif op == "start":
            job = str(record["job"])
            self.state.jobs[job] = JobRecord(
                job=job, kind=JobKind(record["kind"]).value, started_at=float(record.get("t", 0.0)),
                fields={k: v for k, v in record.items() if k not in ("op", "job", "kind", "t")})
        elif op == "end":
            found = self.state.jobs.get(str(record["job"]))
            JobPhase(record["phase"])
            if found is not None:
                found.end = {k: v for k, v in record.items() if k not in ("op", "job")}
        elif op == "workaround":
            self.state.workarounds.append((str(record["vm"]), str(record["action"])))
        else:
            raise ValueError(f"unknown op {op!r}")

    def _write(self, record: dict[str, Any]) -> None:
        """Record a fact; after :meth:`close` (a job thread outliving its driver) it is kept
        in memory only: the next driver on this journal finds the job in libvirt."""
        with self._lock:
            self._apply(record)
            if not self._journal.closed:
                self._journal.append(record)

    # -- what the driver records ------------------------------------------------------------

    def scheduling(self, host: str, enabled: bool) -> None:
        self._write({"op": "scheduling", "host": host, "enabled": enabled})

    def started(self, job: str, kind: str, **fields: Any) -> float:
        """Record a job's start; returns the wall-clock time recorded."""
        now = self._wall()
        self._write({"op": "start", "job": job, "kind": kind, "t": now, **fields})
        return now

    def ended(self, job: str, phase: str, error: str | None,
              figures: dict[str, Any] | None = None) -> None:
        self._write({"op": "end", "job": job, "phase": phase, "error": error,
                     "figures": figures or {}})

    def workaround(self, vm: str, action: str) -> None:
        self._write({"op": "workaround", "vm": vm, "action": action})

    def wall(self) -> float:
        return self._wall()

    def close(self) -> None:
        with self._lock:
            self._journal.close()
