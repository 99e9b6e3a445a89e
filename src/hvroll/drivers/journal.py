"""A backend's crash journal: JSON lines appended as things happen, read back after a restart.

Every backend keeps here what must outlive its process — the simulator the calls that changed
its world (it replays them), the libvirt driver its scheduling marks and jobs (libvirt knows
neither). One implementation, so that both fail, resume and refuse the same way:

* line 1 is a header, ``{"format": "hvroll-sim-journal", "version": 1, ...identity}``; a
  journal whose header names another format or identity (fleet, seed, …) is refused with the
  key that differs;
* each later line is one record (a JSON object), written with a single unbuffered
  ``os.write`` as it happens: a SIGKILL loses at most the line being written (the page cache
  keeps the rest, no fsync needed), and that torn last line (it starts like a record, has no
  newline) is dropped on reopening;
* the whole file is validated before anything is cut: a line that is not a JSON object, or
  bytes that are not text, stop the open with ``FILE:LINE: what``
  (:class:`~hvroll.errors.InputError`), never a traceback, and the file is left as it was;
* an exclusive ``flock`` keeps two processes (or two drivers) from writing one journal;
* without a path, nothing is written and nothing is read (a driver in memory only).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hvroll.errors import InputError

Record = dict[str, Any]


class Journal:
    """An open journal: ``records`` (``(line, record)`` pairs read at opening, header
    excluded) and an append-only descriptor.

    ``what`` names the journal in messages (``the libvirt driver's journal``); ``identity``
    is what the header must match besides ``format`` and ``version``; ``headerless`` accepts a
    file written before journals had a header (its records start at line 1).
    """

    def __init__(self, path: Path | None, *, format: str, version: int = 1,
                 identity: Mapping[str, object] | None = None, what: str = "journal",
                 hint: str = "give another path or move the file away",
                 headerless: bool = False) -> None:
        self.path = path
        self.what = what
        self.header: Record = {"format": format, "version": version, **(identity or {})}
        self.records: list[tuple[int, Record]] = []
        self._hint = hint
        self._headerless = headerless
        self._lock = threading.Lock()
        self._fd: int | None = None
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InputError(f"{path}: {what} is in use by another process (or another "
                             f"driver of this one); stop it first") from None
        self._fd = fd
        self._finalizer = weakref.finalize(self, os.close, fd)
        try:
            self._load(fd)
        except BaseException:
            self.close()
            raise

    @property
    def closed(self) -> bool:
        return self._fd is None

    def _load(self, fd: int) -> None:
        assert self.path is not None
        data = self.path.read_bytes()
        if not data.strip():
            os.ftruncate(fd, 0)
            self.append(self.header)
            return
        good_end = data.rfind(b"\n") + 1
        parsed: list[tuple[int, Record]] = []
        for number, line in enumerate(data[:good_end].split(b"\n")[:-1], start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep
                record = None
            if not isinstance(record, dict):
                if number == 1 and not self._headerless:
                    raise InputError(f"{self.path}:1: not {self.what} (expected a header "
                                     f"with format {self.header['format']!r}); {self._hint}")
                raise InputError(self._bad(number, "not a JSON object line"))
            parsed.append((number, record))
        torn = data[good_end:]
        if torn.strip() and not torn.startswith(b'{"'):
            number = data[:good_end].count(b"\n") + 1
            raise InputError(self._bad(number, "not a JSON object line"))
        if not parsed:
            raise InputError(self._bad(1, "not a complete JSON line"))
        first = parsed[0][1]
        if "format" in first or not self._headerless:
            self._check_header(first)
            parsed = parsed[1:]
        if good_end < len(data):  # a line torn by a kill in the middle of its write
            os.ftruncate(fd, good_end)
        self.records = parsed

    def _bad(self, number: int, what: str) -> str:
        return (f"{self.path}:{number}: {what} (expected {self.what}, one JSON object per "
                f"line); {self._hint}")

    def _check_header(self, found: Record) -> None:
        expected = self.header
        if found.get("format") != expected["format"]:
            raise InputError(f"{self.path}:1: not {self.what} (expected a header with format "
                             f"{expected['format']!r}, got {found.get('format')!r}); "
                             f"{self._hint}")
        for key, value in expected.items():
            if key != "format" and found.get(key) != value:
                raise InputError(
                    f"{self.path}:1: journal was written for {key} {found.get(key)!r}, this "
                    f"one is for {key} {value!r}; {self._hint}")

    def append(self, record: Record) -> None:
        """Append one record (no-op without a path)."""
        if self.path is not None:
            self.write_line(json.dumps(record, separators=(",", ":")))

    def write_line(self, line: str) -> None:
        """Append one already-encoded JSON object (without its newline)."""
        if self.path is None:
            return
        with self._lock:
            if self._fd is None:
                raise InputError(f"{self.path}: {self.what} is closed")
            os.write(self._fd, (line + "\n").encode())

    def write_lines(self, lines: list[str]) -> None:
        """Append several already-encoded JSON objects, one line each, with one write (a kill
        during it may tear its last line, as any write's)."""
        if lines:
            self.write_line("\n".join(lines))

    def close(self) -> None:
        """Release the file and its lock (idempotent)."""
        with self._lock:
            self._fd = None
            finalizer = getattr(self, "_finalizer", None)
            if finalizer is not None:
                finalizer()
