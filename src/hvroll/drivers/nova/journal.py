"""What the nova driver must remember across its own restarts: which job is which Nova
operation. One JSON object per line, appended and flushed before the side effect; the last
line of a job wins. A job whose Nova migration is found again after a crash is *adopted*:
followed, never started twice."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from hvroll.drivers.base import JobKind
from hvroll.errors import InputError


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
    """Set once the job ended in a way Nova does not remember (a refused call, a hook)."""
    error: str | None = None
    confirmed: bool = False


class Journal:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.jobs: dict[str, NovaJob] = {}
        if path is not None and path.exists():
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    data["kind"] = JobKind(data["kind"])
                    rec = NovaJob(**data)
                except (ValueError, TypeError, KeyError) as exc:
                    raise InputError(f"{path}:{n}: not a nova driver journal line "
                                     f"({exc})") from exc
                self.jobs[rec.job] = rec
        self._out = path.open("a") if path is not None else None

    def save(self, rec: NovaJob) -> None:
        self.jobs[rec.job] = rec
        if self._out is not None:
            data = asdict(rec)
            data["kind"] = rec.kind.value
            self._out.write(json.dumps(data) + "\n")
            self._out.flush()
            os.fsync(self._out.fileno())

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
