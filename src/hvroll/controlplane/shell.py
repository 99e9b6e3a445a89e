"""The step executor: how a runbook step's command is run, so that a runner killed in the
middle can find out afterwards what happened to it.

Each run of a command is a *job* with its own directory: the command runs in a new session
under a small ``bash`` wrapper that writes its standard output and error to files and, when
the command ends, its exit code to ``rc`` (written to a temporary name, then renamed). A
runner that restarts adopts a job by its directory: ``rc`` present → the result; the recorded
process still alive → wait for it; neither → the job was lost and may be run again.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

WRAPPER = 'bash -c "$1" >"$2/out" 2>"$2/err" </dev/null; echo $? >"$2/rc.tmp"; ' \
          'mv "$2/rc.tmp" "$2/rc"'


@dataclass(frozen=True)
class JobResult:
    exit_code: int
    stdout: str
    stderr: str

    def tail(self, limit: int = 400) -> str:
        """The last line of standard error (else output), for one-line messages."""
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        last = text[-1] if text else ""
        return last[-limit:]


class StepExecutor(Protocol):
    """Runs a step's command as a job named ``job`` (unique per step and run)."""

    def start(self, job: str, command: str, env: dict[str, str] | None = None) -> None: ...

    def poll(self, job: str) -> JobResult | None:
        """The result once the job has ended, else None."""

    def alive(self, job: str) -> bool:
        """Whether the job's process still runs (False for an unknown or lost job)."""

    def cancel(self, job: str) -> None: ...


class ShellExecutor:
    """Jobs as ``bash -c`` processes on this machine, their files under ``workdir``."""

    def __init__(self, workdir: str | os.PathLike[str]) -> None:
        self.workdir = Path(workdir)
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def _dir(self, job: str) -> Path:
        return self.workdir / job

    def start(self, job: str, command: str, env: dict[str, str] | None = None) -> None:
        folder = self._dir(job)
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("rc", "rc.tmp", "out", "err"):
            (folder / name).unlink(missing_ok=True)
        proc = subprocess.Popen(["bash", "-c", WRAPPER, "hvroll-step", command, str(folder)],
                                start_new_session=True, env={**os.environ, **(env or {})},
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        (folder / "pid").write_text(f"{proc.pid} {_start_time(proc.pid)}\n")
        self._children[job] = proc

    def poll(self, job: str) -> JobResult | None:
        folder = self._dir(job)
        child = self._children.get(job)
        if child is not None:
            child.poll()
        rc = folder / "rc"
        if not rc.exists():
            return None
        if child is not None:
            child.wait()  # it wrote rc as its last act
            del self._children[job]
        return JobResult(int(rc.read_text().strip() or "255"), _read(folder / "out"),
                         _read(folder / "err"))

    def alive(self, job: str) -> bool:
        child = self._children.get(job)
        if child is not None:
            return child.poll() is None
        try:
            pid_text, start = (self._dir(job) / "pid").read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            return False
        return _start_time(pid) == start

    def cancel(self, job: str) -> None:
        try:
            pid = int((self._dir(job) / "pid").read_text().split()[0])
            if self.alive(job):
                os.killpg(pid, signal.SIGTERM)
        except (OSError, ValueError, IndexError):
            pass


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat): with the pid it
    names one process, not a later one that reused the number."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[-1].split()
    if len(fields) > 19 and fields[0] != "Z":
        return fields[19]
    return ""
