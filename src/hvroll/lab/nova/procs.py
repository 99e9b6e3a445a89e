"""Processes the lab starts and stops: spawned in their own session, known by PID and start
time, stopped by process group. Nothing here looks for processes by name."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from hvroll.errors import DriverError
from hvroll.lab.nova.layout import HOST, ServiceRecord


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22), or
    None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def is_running(rec: ServiceRecord) -> bool:
    return start_ticks(rec.pid) == rec.start_ticks


def spawn(name: str, argv: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None,
          cwd: Path | None = None) -> ServiceRecord:
    """Start ``argv`` in a new session (so its whole process group can be stopped), output
    appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    full_env = dict(os.environ if env is None else env)
    if cwd is not None:
        full_env["PWD"] = str(cwd)
    try:
        actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, fd, 2),
                   (os.POSIX_SPAWN_CLOSE, fd)]
        wrapped = list(argv) if cwd is None else ["/bin/sh", "-c", 'cd "$0" && exec "$@"',
                                                  str(cwd), *argv]
        try:
            pid = os.posix_spawn(wrapped[0], wrapped, full_env, file_actions=actions,
                                 setsid=True)
        except OSError as exc:
            raise DriverError(f"cannot start {name}: {wrapped[0]}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    ticks = start_ticks(pid)
    return ServiceRecord(name=name, pid=pid, start_ticks=ticks or 0, argv=list(argv))


def reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop(records: Iterable[ServiceRecord], *, grace_s: float) -> list[str]:
    """SIGTERM each recorded process group whose leader is still the recorded process, wait
    up to ``grace_s``, then SIGKILL; return the names still running after that."""
    targets = [r for r in records if is_running(r)]
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        for rec in targets:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(rec.pid, sig)
        deadline = time.monotonic() + wait_s
        while targets and time.monotonic() < deadline:
            for rec in targets:
                reap(rec.pid)
            targets = [r for r in targets if is_running(r)]
            if targets:
                time.sleep(0.1)
        if not targets:
            break
    return [r.name for r in targets]


def group_members(pgids: Iterable[int]) -> list[int]:
    """Live processes in any of these process groups (children a leader left behind)."""
    wanted = set(pgids)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] not in ("Z", "X") and int(fields[2]) in wanted:
            found.append(int(entry.name))
    return found


def mentions(pid: int, marks: Iterable[str]) -> bool:
    """True if the process's command line or environment mentions one of ``marks`` (the
    lab's paths): only such processes are the lab's."""
    try:
        blob = Path(f"/proc/{pid}/cmdline").read_bytes() + Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return any(m.encode() in blob for m in marks if m)


def kill(pids: Iterable[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
        reap(pid)


def port_busy(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect((HOST, port))
        except OSError:
            return False
    return True


def wait_port(port: int, rec: ServiceRecord | None, *, what: str, timeout_s: float,
              log: Path | None = None) -> None:
    """Wait until something listens on ``HOST:port``; fail early if ``rec`` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if rec is not None and not is_running(rec):
            reap(rec.pid)
            raise DriverError(f"{what} exited while starting{tail(log)}")
        time.sleep(0.2)
    raise DriverError(f"{what} did not listen on {HOST}:{port} within {timeout_s:.0f} s"
                      f"{tail(log)}")


def tail(log: Path | None) -> str:
    if log is None:
        return ""
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return f" (see {log}: {lines[-1][:200]})" if lines else f" (see {log})"
