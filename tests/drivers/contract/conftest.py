"""The backends of the conformance suite: the simulator always, real libvirt on a testbed
(one per test module, marked ``libvirt``).

To add a backend: write a fixture ``<name>_backend`` yielding a
:class:`~drivers.contract.backends.Backend`, and add its name to :data:`BACKENDS` (with the
marker its real components need).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.contract.backends import Backend
from drivers.libvirt.bed import Bed, cannot_run
from drivers.sim.conftest import fleet, vm
from hvroll.domain import PowerState
from hvroll.drivers.base import Driver
from hvroll.drivers.sim import SimCloud

BACKENDS = ["sim", pytest.param("libvirt", marks=pytest.mark.libvirt)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Each backend in turn; every driver a test opened is closed after it."""
    found: Backend = request.getfixturevalue(f"{request.param}_backend")
    try:
        yield found
    finally:
        found.close_all()


# --- the simulator ------------------------------------------------------------------------

SIM_RUNNING = [f"r{i}" for i in range(8)]
SIM_OFF = [f"o{i}" for i in range(4)]


@pytest.fixture
def sim_backend(tmp_path: Path) -> Backend:
    world = fleet(*(vm(n, "hv0", ram_mib=2048, dirty=20.0) for n in SIM_RUNNING),
                  *(vm(n, "hv0", ram_mib=2048, power=PowerState.SHUTOFF) for n in SIM_OFF))
    pools = {True: list(SIM_RUNNING), False: list(SIM_OFF)}

    def open_(journal: Path) -> Driver:
        return SimCloud(world, seed=3, journal=journal)

    return Backend(name="sim", opener=open_, make_vm=lambda running: pools[running].pop(0),
                   source="hv0", dest="hv1", profile="CPv2", journal=tmp_path / "sim.jsonl",
                   poll_s=5.0, patience=10_000, slow=50.0)


# --- real libvirt on the testbed ----------------------------------------------------------


@pytest.fixture(scope="module")
def libvirt_bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    """The module's testbed of three hosts; taken down at its end, leaving nothing behind."""
    reason = cannot_run()
    if reason:
        pytest.skip(f"testbed {reason}")
    pytest.importorskip("libvirt")
    bed = Bed(workdir=tmp_path_factory.mktemp("contract"), prefix=f"k{secrets.token_hex(3)}")
    try:
        bed.up()
        yield bed
    finally:
        bed.down_and_check()


@pytest.fixture
def libvirt_backend(libvirt_bed: Bed, tmp_path: Path) -> Iterator[Backend]:
    from hvroll.drivers.libvirt import Settings
    from hvroll.testbed.driver import for_testbed

    made: list[str] = []

    def open_(journal: Path) -> Driver:
        return for_testbed(libvirt_bed.fleet(), journal=journal, poll_s=0.5,
                           settings=Settings(shutdown_timeout_s=2.0))

    def make(running: bool) -> str:
        guest = libvirt_bed.guest("h1", stem="ct", start=running)
        made.append(guest.name)
        if running:
            libvirt_bed.boot(guest, heartbeats=1)
        return guest.name

    yield Backend(name="libvirt", opener=open_, make_vm=make, source=libvirt_bed.hostname("h1"),
                  dest=libvirt_bed.hostname("h2"), profile="CPv2",
                  journal=tmp_path / "c.db.libvirt.jsonl", poll_s=0.5, patience=240, slow=8.0)
    for name in made:
        libvirt_bed.remove(name)
