"""A real PostgreSQL for the tests: Debian's server binaries, a cluster made with ``initdb`` in a
temporary directory, started with ``pg_ctl`` on a free loopback port (never the system
service), one fresh database per test, stopped by its postmaster's PID; a server a killed test
run left behind is stopped by the next (:mod:`leftovers`).

PostgreSQL refuses to run as root: as root the cluster belongs to the ``postgres`` user the
Debian package creates, and every server command runs through ``runuser``.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

import leftovers  # a shared helper beside this file
from hvroll.testbed.system import terminate

PREFIX = "hvroll-pg-"
"""The servers' temporary directories' names begin so."""
DATA = "data"
"""In a server's directory: the cluster (named on its postmaster's command line)."""
USER = "hvroll"
"""The cluster's superuser (trust authentication, loopback only)."""


def bindir() -> Path | None:
    """The newest installed server's binaries (``/usr/lib/postgresql/N/bin``), if any."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)
    return found[-1].parent if found else None


def free_port() -> int:
    """A port nobody listens on, on loopback, for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One throw-away cluster on ``127.0.0.1:port``."""

    def __init__(self, bin_dir: Path, workdir: Path) -> None:
        self.bin = bin_dir
        self.workdir = workdir
        self.data = workdir / DATA
        self.port = free_port()
        self.pid = 0
        self._names = itertools.count(1)
        self._as: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(workdir, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self._as, *args], capture_output=True, text=True,
                                timeout=120, check=False, cwd=self.workdir)
        if result.returncode != 0:
            log = self.workdir / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr}{tail}")

    def start(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        self.resume()

    def resume(self) -> None:
        """Start the cluster's postmaster (again, after :meth:`stop`: same data, same port)."""
        options = (f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 "
                   f"-c fsync=off -c full_page_writes=off -c max_connections=300")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.workdir / "server.log"), "-o", options, "-w", "-t", "60", "start")
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        """Fast shutdown of the postmaster by its PID; killed if it lingers."""
        if self.pid <= 0:
            return
        terminate([self.pid], grace_s=leftovers.STOP_GRACE_S, first=signal.SIGINT)
        self.pid = 0

    def url(self, database: str) -> str:
        """What an operator passes to ``--state``."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(host="127.0.0.1", port=self.port, user=USER, dbname="postgres",
                               autocommit=True)

    def create_database(self) -> str:
        """A new, empty database; its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # the name is ours: no injection
        return self.url(name)


def start_server() -> PostgresServer | None:
    """A started server, or None when no PostgreSQL server is installed."""
    found = bindir()
    if found is None or (os.geteuid() == 0 and not shutil.which("runuser")):
        return None
    leftovers.sweep(PREFIX, DATA, signal.SIGINT)  # a fast shutdown
    workdir = Path(tempfile.mkdtemp(prefix=PREFIX))
    leftovers.claim(workdir)
    server = PostgresServer(found, workdir)
    try:
        server.start()
    except BaseException:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)
        raise
    return server


def remove(server: PostgresServer) -> None:
    server.stop()
    shutil.rmtree(server.workdir, ignore_errors=True)

