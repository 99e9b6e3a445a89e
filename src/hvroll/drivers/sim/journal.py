"""The simulated world's journal: every call that changed it, one JSON line each, so that the
world survives the death of the process that simulates it.

The journal records inputs, not outcomes: the header names the fleet (a digest), the seed and
the faults; each later line is one call that changed something (a migration started, a
downtime raised, a host's scheduling switched, …) or an advance of virtual time (``{"w": t}``
for a ``wait`` that returned at ``t``, ``{"s": t}`` for a ``sleep``). Since the simulator is
deterministic, replaying those lines in order rebuilds exactly the world that wrote them, at
the same virtual time and with its migrations still in flight.

Lines are appended with one unbuffered ``os.write`` each, as they happen: a SIGKILL loses at
most the line being written (the page cache keeps the rest; no fsync is needed). A torn last
line is dropped on reopening. An exclusive ``flock`` keeps two processes from writing one
journal at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hvroll.domain import Fleet
from hvroll.drivers.base import MigrationOptions
from hvroll.errors import HvrollError, InputError

if TYPE_CHECKING:
    from hvroll.drivers.sim.cloud import SimCloud

FORMAT = "hvroll-sim-journal"
VERSION = 1

Record = dict[str, Any]


def fleet_digest(fleet: Fleet) -> str:
    """A digest of everything in the fleet (any change to the inventory changes it)."""
    return hashlib.sha256(fleet.model_dump_json().encode()).hexdigest()[:32]


def header(fleet: Fleet, seed: int, faults: dict[str, object]) -> Record:
    return {"format": FORMAT, "version": VERSION, "fleet": fleet_digest(fleet), "seed": seed,
            "faults": faults}


class Journal:
    """An open journal: the records it held when opened, and an append-only descriptor."""

    def __init__(self, path: Path, expected: Record) -> None:
        self.path = path
        self.records: list[Record] = []
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InputError(f"{path}: the simulated cloud's journal is in use by another "
                             f"process; stop it first") from None
        self._fd: int | None = fd
        self._finalizer = weakref.finalize(self, os.close, fd)
        try:
            self._load(expected)
        except BaseException:
            self.close()
            raise

    def _load(self, expected: Record) -> None:
        assert self._fd is not None
        data = self.path.read_bytes()
        if not data.strip():
            os.ftruncate(self._fd, 0)
            self.append(expected)
            return
        good_end = data.rfind(b"\n") + 1
        lines = data[:good_end].splitlines()
        try:
            found = json.loads(lines[0]) if lines else {}
        except (ValueError, RecursionError):
            found = {}
        # Checked before anything is truncated: a file that is not this cloud's journal is
        # left exactly as it was.
        if not isinstance(found, dict) or found.get("format") != FORMAT:
            raise InputError(f"{self.path}:1: not a simulated cloud journal (expected a header "
                             f"with format {FORMAT!r}); give another path or delete the file")
        for key in ("version", "fleet", "seed", "faults"):
            if found.get(key) != expected[key]:
                raise InputError(
                    f"{self.path}:1: journal was written for {key} {found.get(key)!r}, this "
                    f"simulated cloud has {key} {expected[key]!r}; use the same inventory, "
                    f"seed and faults, or another journal path")
        records: list[Record] = []
        for number, line in enumerate(lines[1:], start=2):
            try:
                record = json.loads(line)
            except (ValueError, RecursionError) as exc:
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not JSON text"
                raise InputError(f"{self.path}:{number}: corrupt journal line ({reason})") \
                    from None
            if not isinstance(record, dict):
                raise InputError(f"{self.path}:{number}: corrupt journal line (expected a JSON "
                                 f"object, got {type(record).__name__})")
            records.append(record)
        if good_end < len(data):  # a line torn by a kill in the middle of its write
            os.ftruncate(self._fd, good_end)
        self.records.extend(records)

    def append(self, record: Record) -> None:
        self.write_line(json.dumps(record, separators=(",", ":")))

    def write_line(self, line: str) -> None:
        """Append one already-encoded JSON line (without its newline)."""
        if self._fd is None:
            raise InputError(f"{self.path}: journal is closed")
        os.write(self._fd, (line + "\n").encode())

    def close(self) -> None:
        """Release the journal (idempotent)."""
        self._fd = None
        self._finalizer()


def replay(records: list[Record], driver: SimCloud,
           advance_to: Callable[[float, bool], None]) -> None:
    """Apply ``records`` again, in order: each change through ``driver`` (which must not
    journal it again), each advance through ``advance_to(time_s, waited)``."""
    ops: dict[str, Callable[[Record], None]] = {
        "scheduling": lambda r: driver.set_scheduling(r["host"], r["enabled"]),
        "migrate": lambda r: driver.migrate(r["job"], r["vm"], r["dest"],
                                            MigrationOptions(**r["options"])),
        "cold": lambda r: driver.cold_migrate(r["job"], r["vm"], r["dest"]),
        "reinstall": lambda r: driver.reinstall(r["job"], r["host"], r["profile"]),
        "downtime": lambda r: driver.set_max_downtime(r["job"], r["ms"]),
        "postcopy": lambda r: driver.start_post_copy(r["job"]),
        "abort": lambda r: driver.abort(r["job"]),
        "suspend": lambda r: driver.suspend(r["vm"]),
        "resume": lambda r: driver.resume(r["vm"]),
        "workaround": lambda r: driver.apply_workaround(r["vm"], r["action"]),
    }
    for number, record in enumerate(records, start=2):
        try:
            if "w" in record:
                advance_to(record["w"], True)
            elif "s" in record:
                advance_to(record["s"], False)
            else:
                ops[record["op"]](record)
        except (HvrollError, KeyError, TypeError) as exc:
            raise InputError(f"journal line {number} does not replay ({exc!r}): it was not "
                             f"written by this version of the simulator for this fleet") \
                from exc
