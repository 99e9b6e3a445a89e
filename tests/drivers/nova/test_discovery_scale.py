"""``hvroll fleet discover`` pages through a cloud of 200 servers (the lab; marker ``nova``):
every server read exactly once, Nova asked page by page, and what was read printed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from keystoneauth1.exceptions.connection import ConnectFailure

from hvroll.errors import DriverError
from hvroll.inventory import load_fleet
from hvroll.lab import nova
from hvroll.lab.nova.layout import Layout
from hvroll.lab.nova.seed import FLAVORS, connect, create_flavors, create_images, wait_progress
from lab.conftest import RunningLab, start_lab

pytestmark = pytest.mark.nova
COMPUTES = ("compute1", "compute2", "compute3")
SERVERS = 200
PAGE = 50


@pytest.fixture(scope="module")
def big_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    """A lab of three computes and 200 ACTIVE servers spread over them, booted by one
    multi-create a compute, the three at once (each compute builds its own servers one after
    the other; a multi-create is one scheduling: Nova's scheduler, run in threads, mixes up
    placement's answers when it schedules many separate requests at once on a loaded
    machine)."""
    lab = start_lab(tmp_path_factory.mktemp("novalab-big"), len(COMPUTES), 0)
    try:
        conn = connect(Layout(lab.workdir))
        flavor = create_flavors(conn)[FLAVORS[0].name]
        image = next(iter(create_images(conn).values()))
        for n, host in enumerate(COMPUTES):
            count = SERVERS // len(COMPUTES) + (n < SERVERS % len(COMPUTES))
            conn.compute.create_server(name=f"big-{n + 1}", flavor_id=flavor.id,
                                       image_id=image.id, networks="none", min_count=count,
                                       max_count=count, availability_zone=f"nova:{host}")

        def active() -> int:
            try:  # by name: a server the scheduler failed has no host to be listed under
                servers = list(conn.compute.servers(all_projects=True, name="^big-"))
            except ConnectFailure:  # a kept-alive connection nova-api closed: ask again
                return 0
            broken = [s for s in servers if s.status == "ERROR"]
            if broken:
                raise DriverError(f"{broken[0].name} went to ERROR: {broken[0].fault}")
            # Nova names a multi-create's servers NAME-1 .. NAME-N: big-N-I is compute N's
            astray = [s for s in servers if s.compute_host not in (
                None, COMPUTES[int(s.name.split("-")[1]) - 1])]
            if astray:
                raise DriverError(f"{astray[0].name} is on {astray[0].compute_host}")
            return sum(s.status == "ACTIVE" for s in servers)
        wait_progress("servers ACTIVE", active, SERVERS, 300.0, poll_s=5.0)
        yield lab
    finally:
        nova.down(lab.workdir)


def test_discovery_reads_every_one_of_200_servers_page_by_page(hv: Any, big_lab: RunningLab,
                                                               tmp_path: Path) -> None:
    api_log = big_lab.workdir / "logs" / "nova-api.log"
    seen = api_log.stat().st_size
    out = tmp_path / "f.json"
    result = hv("fleet", "discover", "--cloud", "hvroll-lab", "--page-size", str(PAGE),
                "-o", str(out), env={"OS_CLIENT_CONFIG_FILE": str(big_lab.clouds_yaml)})
    assert result.code == 0, result.output
    with api_log.open() as log:  # Nova's own request log, before this test asks anything
        log.seek(seen)
        asked = [line for line in log if '"GET /v2.1/servers/detail?' in line
                 and "all_tenants=" in line]

    conn = connect(Layout(big_lab.workdir))
    in_nova = {s.id: s.compute_host for s in conn.compute.servers(all_projects=True)}
    assert len(in_nova) == SERVERS
    fleet = load_fleet(out)
    assert len(fleet.vms) == SERVERS
    assert {v.uuid: v.host for v in fleet.vms} == in_nova
    assert len({v.name for v in fleet.vms}) == SERVERS

    progress = [line for line in result.stderr.splitlines() if line.endswith(" servers")]
    assert progress == [f"read {n} servers" for n in range(PAGE, SERVERS + 1, PAGE)]
    assert f"{SERVERS} VMs of 1 projects" in result.stderr
    # Nova was asked page by page: pages of 50, each after the first from a marker
    assert asked and all(f"limit={PAGE}" in line for line in asked), asked[:2]
    assert len(asked) >= SERVERS // PAGE
    assert sum("marker=" in line for line in asked) >= SERVERS // PAGE - 1
