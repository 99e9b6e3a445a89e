"""Servers a killed test run left behind: found and stopped by the next run.

A test session stops the servers it started (PostgreSQL, Temporal) in its fixtures' teardown.
A session that is killed (a time limit, ``kill -9``, a machine's OOM killer) runs no teardown,
and its servers live on, holding ports and memory. Each server's temporary directory therefore
names the test process that started it (:data:`OWNER`: its PID and the time the kernel started
that process, so a PID used again by another process does not count); when a session starts
its own server, :func:`sweep` stops, by PID, the processes of each such directory whose starter
is gone, and removes the directory. A directory without that file (its server still starting,
or made by something else) is left alone.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

from hvroll.testbed.system import pids_mentioning, read_proc, terminate

OWNER = "owner"
"""In a server's directory: ``<pid> <start time>`` of the test process that started it."""

STOP_GRACE_S = 30.0
"""How long a left server gets to stop after its first signal, before SIGKILL."""


def started(pid: int) -> int | None:
    """When process ``pid`` started (:attr:`~hvroll.testbed.system.Proc.started`), or None
    when there is none."""
    proc = read_proc(pid)
    return None if proc is None else proc.started


def owner_line(pid: int, start: int | None) -> str:
    """What :data:`OWNER` holds for process ``pid`` started at ``start``.

    >>> owner_line(4242, 98765)
    '4242 98765\\n'
    """
    return f"{pid} {start}\n"


def owner_gone(text: str, started_of: Callable[[int], int | None]) -> bool:
    """Whether the process an :data:`OWNER` file names is gone: no process has its PID, or the
    one that has it started at another time. A file that names no process in that form is
    not judged (False).

    >>> owner_gone("4242 98765\\n", {4242: 98765}.get)
    False
    >>> owner_gone("4242 98765\\n", {}.get)
    True
    >>> owner_gone("4242 98765\\n", {4242: 11111}.get)
    True
    >>> owner_gone("", {}.get), owner_gone("x 1", {}.get), owner_gone("4242 x", {}.get)
    (False, False, False)
    """
    parts = text.split()
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        return False
    return started_of(int(parts[0])) != int(parts[1])


def claim(workdir: Path) -> None:
    """Write ``workdir``'s :data:`OWNER`: this process."""
    (workdir / OWNER).write_text(owner_line(os.getpid(), started(os.getpid())))


def sweep(prefix: str, named: str, first: signal.Signals) -> list[Path]:
    """For every server directory ``prefix*`` in the temporary directory whose starter is gone
    (:func:`owner_gone`): stop the processes whose command line names the directory's
    ``named`` (its server's data; ``first`` a signal, then SIGKILL after
    :data:`STOP_GRACE_S`), and remove the directory. The directories removed."""
    removed = []
    for workdir in sorted(Path(tempfile.gettempdir()).glob(f"{prefix}*")):
        try:
            text = (workdir / OWNER).read_text()
        except OSError:
            continue
        if owner_gone(text, started):
            terminate(pids_mentioning(str(workdir / named)), grace_s=STOP_GRACE_S, first=first)
            shutil.rmtree(workdir, ignore_errors=True)
            removed.append(workdir)
    return removed
