"""The backends of the conformance suite: the simulator always, real libvirt on a testbed
(marked ``libvirt``), and Nova on a Nova lab (marked ``nova``). One testbed and one lab serve
both modules of the suite (package-scoped): a backend's tests of both run on one worker, one
after the other (tests/conftest.py, ``work_unit``), so each is brought up once.

To add a backend: write a fixture ``<name>_backend`` yielding a
:class:`~drivers.contract.backends.Backend`, and add its name to :data:`BACKENDS` (with the
marker its real components need).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from drivers.contract.backends import Backend
from drivers.libvirt.bed import Bed, cannot_run
from drivers.sim.conftest import fleet, vm
from hvroll.domain import PowerState
from hvroll.drivers.base import Driver
from hvroll.drivers.sim import SimCloud

BACKENDS = ["sim", pytest.param("libvirt", marks=pytest.mark.libvirt),
            pytest.param("nova", marks=pytest.mark.nova)]


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


@pytest.fixture(scope="package")
def libvirt_bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    """The suite's testbed of three hosts; taken down after its last test, leaving nothing
    behind."""
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


# --- Nova on a Nova lab -------------------------------------------------------------------

NOVA_RUNNING, NOVA_OFF = 12, 4
"""Servers the lab boots on compute1 up front (the suite's tests take fresh ones: 10 running
and 3 shut off at most, over both modules)."""
NOVA_LM_S = "3"
"""How long the lab's fake live migrations run, except a slowed one."""
NOVA_SLOW_LM_S = "12"
"""A slowed migration: its memory progress grows for half of this, then stalls until it is
aborted or force-completed (``lm_stall``)."""


@dataclass
class NovaPool:
    lab: Any
    conn: Any
    pools: dict[bool, list[str]] = field(default_factory=dict)
    uuids: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="package")
def nova_contract_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NovaPool]:
    """The suite's Nova lab of three computes, with fresh servers on compute1: running ones
    and shut-off ones. Stopped after its last test."""
    from hvroll.lab import nova
    from hvroll.lab.nova.seed import FLAVORS, connect, create_flavors, create_images, wait
    from lab.conftest import start_lab

    lab = start_lab(tmp_path_factory.mktemp("contract-nova"), 3, 0)
    try:
        conn = connect(nova.Layout(lab.workdir))
        flavor = create_flavors(conn)[FLAVORS[0].name]
        image = next(iter(create_images(conn).values()))
        pool = NovaPool(lab=lab, conn=conn)
        for running, count in ((True, NOVA_RUNNING), (False, NOVA_OFF)):
            names = [f"ct-{'r' if running else 'o'}{i}" for i in range(count)]
            pool.pools[running] = names
            for name in names:
                pool.uuids[name] = conn.compute.create_server(
                    name=name, flavor_id=flavor.id, image_id=image.id, networks="none",
                    availability_zone="nova:compute1").id

        def status() -> dict[str, str]:
            return {s.name: s.status for s in conn.compute.servers(all_projects=True)}
        wait("the suite's servers ACTIVE", lambda: all(
            v == "ACTIVE" for v in status().values()), 300.0, poll_s=1.0)
        for name in pool.pools[False]:
            conn.compute.stop_server(pool.uuids[name])
        wait("the suite's shut-off servers SHUTOFF", lambda: all(
            status()[n] == "SHUTOFF" for n in pool.pools[False]), 300.0, poll_s=1.0)
        yield pool
    finally:
        nova.down(lab.workdir)


@pytest.fixture
def nova_backend(nova_contract_lab: NovaPool, tmp_path: Path) -> Iterator[Backend]:
    from hvroll.drivers.nova.cloud import NovaCloud
    from hvroll.drivers.nova.discovery import fleet_from_cloud
    from hvroll.drivers.nova.facts import load_facts
    from hvroll.drivers.nova.read import read_cloud
    from hvroll.lab import nova

    lab, conn = nova_contract_lab.lab, nova_contract_lab.conn
    for knob in ("lm_fail", "lm_stall"):
        nova.set_knob(lab.workdir, knob, None)
    nova.set_knob(lab.workdir, "lm_seconds", NOVA_LM_S)
    facts = load_facts(lab.workdir / "host-facts.yaml")
    fleet = fleet_from_cloud(read_cloud(conn), facts).fleet

    def open_(journal: Path) -> Driver:
        return NovaCloud(conn, fleet, facts, journal=journal, poll_s=0.5,
                         reinstall_hook=lambda host, profile: nova.reinstall(
                             lab.workdir, host, profile))

    def make(running: bool) -> str:
        return nova_contract_lab.pools[running].pop(0)

    def slow(vm: str) -> None:
        nova.set_knob(lab.workdir, "lm_seconds", NOVA_SLOW_LM_S)
        nova.set_knob(lab.workdir, "lm_stall", nova_contract_lab.uuids[vm])

    yield Backend(name="nova", opener=open_, make_vm=make, source="compute1", dest="compute2",
                  profile="CPv2", journal=tmp_path / "c.db.nova.jsonl", poll_s=0.5,
                  patience=240, make_slow=slow)
    for svc in conn.compute.services(binary="nova-compute"):  # the next test starts afresh
        if svc.status != "enabled":
            conn.compute.enable_service(svc)
