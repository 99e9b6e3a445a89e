"""Servers a killed test run left behind: found and stopped by the next run.

A test session stops the servers it started (PostgreSQL, Temporal) in its fixtures' teardown.
A session that is killed (a time limit, ``kill -9``, a machine's OOM killer) runs no teardown,
and its servers live on, holding ports and memory. Each server's temporary directory therefore
names the test process that started it (:data:`OWNER`: its PID and the start time the kernel
gives that process, so a PID used again by another process does not count); when a session
starts its own server, :func:`sweep` stops, by PID, each server of that kind whose starter is
gone, and removes its directory. A directory without that file (its server still starting, or
made by something else) is left alone, as is any process that is not the server of that
directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

OWNER = "owner"
"""In a server's directory: ``<pid> <start time>`` of the test process that started it."""


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command's name (the state first), or None
    when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()


def start_time(pid: int) -> str | None:
    """The kernel's start time of process ``pid`` (``/proc/<pid>/stat``, field 22, in clock
    ticks since boot), or None when there is no such process."""
    fields = _stat(pid)
    return fields[19] if fields else None


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not ended (a zombie has ended)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def owner_line(pid: int, started: str | None) -> str:
    """What :data:`OWNER` holds for process ``pid`` started at ``started``.

    >>> owner_line(4242, "98765")
    '4242 98765\\n'
    """
    return f"{pid} {started}\n"


def owner_gone(text: str, start_time_of: Callable[[int], str | None]) -> bool:
    """Whether the process an :data:`OWNER` file names is gone: no process has its PID, or the
    one that has it started at another time. A file that names no process in that form is
    not judged (False).

    >>> owner_gone("4242 98765\\n", {4242: "98765"}.get)
    False
    >>> owner_gone("4242 98765\\n", {}.get)
    True
    >>> owner_gone("4242 98765\\n", {4242: "11111"}.get)
    True
    >>> owner_gone("", {}.get), owner_gone("x 1", {}.get), owner_gone("4242", {}.get)
    (False, False, False)
    """
    parts = text.split()
    if len(parts) != 2 or not parts[0].isdigit():
        return False
    return start_time_of(int(parts[0])) != parts[1]


def claim(workdir: Path) -> None:
    """Write ``workdir``'s :data:`OWNER`: this process."""
    (workdir / OWNER).write_text(owner_line(os.getpid(), start_time(os.getpid())))


def runs_in(pid: int, needle: str) -> bool:
    """Whether process ``pid`` runs with ``needle`` in its command line (its server's own
    directory: a PID used again by another program does not match)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return needle in cmdline and running(pid)


def stop_pid(pid: int, sig: signal.Signals, grace_s: float = 30.0) -> None:
    """Send ``sig`` to ``pid``, wait up to ``grace_s`` for it to end, then SIGKILL it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + grace_s
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if running(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def sweep(prefix: str, stop: Callable[[Path], None]) -> list[Path]:
    """Stop (``stop(workdir)``) and remove every server directory named ``prefix*`` in the
    temporary directory whose starter is gone (:func:`owner_gone`); the directories removed."""
    removed = []
    for workdir in sorted(Path(tempfile.gettempdir()).glob(f"{prefix}*")):
        try:
            text = (workdir / OWNER).read_text()
        except OSError:
            continue
        if owner_gone(text, start_time):
            stop(workdir)
            shutil.rmtree(workdir, ignore_errors=True)
            removed.append(workdir)
    return removed
