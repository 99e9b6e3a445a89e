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
the cloud (a live migration still running on its source is followed to its end). Without a
file (``path=None``) the same records live in memory only. Appending a line is cheap at fleet
scale; a line cut short by a kill is ignored.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hvroll.errors import InputError


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
        self._handle = None
        if path is not None:
            data = path.read_bytes() if path.exists() else b""
            self._replay(data.decode(errors="replace"))
            if not data.endswith(b"\n") and data:  # drop the line a kill cut short
                with path.open("r+b") as handle:
                    handle.truncate(data.rfind(b"\n") + 1)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = path.open("a", encoding="utf-8")

    def _replay(self, text: str) -> None:
        lines = text.split("\n")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                if number == len(lines) and line.startswith('{"'):
                    continue  # a record cut short by a kill: the intent never happened
                raise InputError(f"{self.path}:{number}: not a JSON line of the libvirt "
                                 f"driver's journal; move the file away to start afresh "
                                 f"(scheduling marks and job outcomes are then "
                                 f"forgotten)") from None
            try:
                self._apply(record)
            except (AttributeError, KeyError, TypeError, ValueError):
                raise InputError(f"{self.path}:{number}: not a record of the libvirt driver's "
                                 f"journal (expected an object with op, job or host); move the "
                                 f"file away to start afresh") from None

    def _apply(self, record: dict[str, Any]) -> None:
        op = record.get("op")
        if op == "scheduling":
            self.state.scheduling[str(record["host"])] = bool(record["enabled"])
        elif op == "start":
            job = str(record["job"])
            self.state.jobs[job] = JobRecord(
                job=job, kind=str(record["kind"]), started_at=float(record.get("t", 0.0)),
                fields={k: v for k, v in record.items() if k not in ("op", "job", "kind", "t")})
        elif op == "end":
            found = self.state.jobs.get(str(record["job"]))
            if found is not None:
                found.end = {k: v for k, v in record.items() if k not in ("op", "job")}
        elif op == "workaround":
            self.state.workarounds.append((str(record["vm"]), str(record["action"])))

    def _write(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._apply(record)
            if self._handle is not None:
                self._handle.write(json.dumps(record, separators=(",", ":")) + "\n")
                self._handle.flush()

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
            if self._handle is not None:
                self._handle.close()
                self._handle = None
