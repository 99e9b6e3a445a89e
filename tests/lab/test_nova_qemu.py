"""The lab's libvirt mode: Nova's libvirt driver on the testbed's hosts, real QEMU guests
(markers ``nova`` and ``libvirt``).

One lab of three computes and four canary servers for the module, started through the CLI
(``hvroll lab nova up --virt libvirt``). Tests run in file order: the
computes and servers as Nova and libvirt see them, live migrations through Nova's API (real
block migrations between the testbed's libvirtds, each guest healthy on its new host), Nova's
force-complete finishing by post-copy a migration pre-copy alone never would, and a clean
``down``."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hvroll.inventory import load_fleet
from hvroll.lab import nova
from hvroll.lab.nova.layout import Layout, load_record
from hvroll.lab.nova.seed import connect
from hvroll.testbed.health import parse_console
from hvroll.virt.binding import connection

pytestmark = [pytest.mark.nova, pytest.mark.libvirt]
COMPUTES = 3
SERVERS = 4
TIMEOUT_S = 300.0


@dataclass
class QemuLab:
    workdir: Path
    conn: Any

    def servers(self) -> dict[str, Any]:
        return {s.name: s for s in self.conn.compute.servers(details=True, all_projects=True)}

    def uri(self, host: str) -> str:
        return load_record(Layout(self.workdir)).qemu_hosts[host]["uri"]

    def domains(self, host: str) -> set[str]:
        with connection(self.uri(host)) as conn:
            return {d.UUIDString() for d in conn.listAllDomains() if d.isActive()}

    def console(self, server: Any) -> str:
        return nova.console_log(self.workdir, server.compute_host, server.id).read_text(
            errors="replace")

    def last_migration(self, server_id: str) -> Any:
        return max(self.conn.compute.migrations(instance_uuid=server_id), key=lambda m: m.id)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QemuLab]:
    if os.geteuid() != 0:
        pytest.fail("the Nova lab tests need root (run them as CI does, as root)")
    workdir = tmp_path_factory.mktemp("novaqemu")
    try:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "hvroll"), "lab", "nova", "up", "--virt",
             "libvirt", "--computes", str(COMPUTES), "--servers", str(SERVERS), "--workdir",
             str(workdir), "--testbed-prefix", f"q{secrets.token_hex(3)}", "--json"],
            text=True, capture_output=True, timeout=1200, check=False)
        assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-4000:])
        report = json.loads(done.stdout)
        assert (len(report["computes"]), report["servers"]) == (COMPUTES, SERVERS)
        yield QemuLab(workdir, connect(Layout(workdir)))
    finally:
        if (workdir / "lab.json").exists():
            nova.down(workdir)


def wait_for(what: str, probe: Any, timeout_s: float = TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(1.0)
    raise AssertionError(f"timed out waiting for {what}")


def healthy_beats(lab: QemuLab, server: Any, beats: int = 3) -> int:
    """Wait until the server's console on its host shows ``beats`` heartbeats, all healthy;
    return the guest's first heartbeat there (its counter lives in guest memory, so a guest
    that came over by migration goes on counting where it was)."""
    def enough() -> Any:
        health = parse_console(lab.console(server), min_heartbeats=beats)
        return health if health.new_heartbeats >= beats else None
    health = wait_for(f"{beats} heartbeats of {server.name}", enough)
    assert health.ok, (server.name, health)
    first = re.search(r"hb=(\d+)", lab.console(server))
    assert first is not None
    return int(first.group(1))


def test_each_testbed_host_is_a_compute_whose_node_is_its_libvirtd(lab: QemuLab) -> None:
    record = load_record(Layout(lab.workdir))
    assert record.virt == "libvirt"
    hyps = {h.name: h for h in lab.conn.compute.hypervisors(details=True)}
    assert set(hyps) == set(record.computes) == set(record.qemu_hosts)
    assert len(hyps) == COMPUTES
    for name, hyp in hyps.items():
        assert hyp.hypervisor_type == "QEMU"
        assert hyp.hypervisor_version >= 7_000_000, (name, hyp.hypervisor_version)
        with connection(lab.uri(name)) as conn:
            assert conn.getHostname() == name


def test_fleet_discover_names_the_testbed_hosts_by_their_real_versions(
        lab: QemuLab, tmp_path: Path) -> None:
    out = tmp_path / "f.yaml"
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(lab.workdir / "clouds.yaml")}
    done = subprocess.run([str(Path(sys.executable).parent / "hvroll"), "fleet", "discover",
                           "--cloud", "hvroll-lab", "-o", str(out)], env=env, text=True,
                          capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    fleet = load_fleet(out)
    record = load_record(Layout(lab.workdir))
    assert sorted(h.name for h in fleet.hosts) == sorted(record.computes)
    assert {h.profile for h in fleet.hosts} == {"TB"}
    with connection(lab.uri(record.computes[0])) as conn:
        qemu = conn.getVersion()
    profile = next(p for p in fleet.profiles if p.name == "TB")
    assert profile.qemu_version == (f"{qemu // 1_000_000}.{qemu // 1000 % 1000}."
                                    f"{qemu % 1000}")
    assert len(fleet.vms) == SERVERS


def test_servers_are_real_guests_on_their_hosts_and_healthy(lab: QemuLab) -> None:
    servers = lab.servers()
    assert len(servers) == SERVERS
    for server in servers.values():
        assert server.status == "ACTIVE", (server.name, server.status)
        assert server.id in lab.domains(server.compute_host), server.name
        healthy_beats(lab, server)
    assert {s.compute_host for s in servers.values()} == set(
        load_record(Layout(lab.workdir)).computes)


def test_live_migration_through_nova_moves_the_guest_and_its_disk(lab: QemuLab) -> None:
    movers = [s for s in lab.servers().values() if not s.name.startswith("canary-hot")][:2]
    sources = {s.id: s.compute_host for s in movers}
    for server in movers:
        lab.conn.compute.live_migrate_server(server, host=None, block_migration="auto")
    for server in movers:
        mig = wait_for(f"{server.name}'s migration to end", lambda s=server: (
            m if (m := lab.last_migration(s.id)).status in ("completed", "error", "failed")
            else None))
        assert mig.status == "completed", (server.name, mig.status)
    for server in movers:
        moved = lab.conn.compute.get_server(server.id)
        assert moved.status == "ACTIVE"
        assert moved.compute_host != sources[server.id]
        assert server.id in lab.domains(moved.compute_host)
        assert server.id not in lab.domains(sources[server.id])
        first = healthy_beats(lab, moved)
        assert first > 1, f"{server.name} rebooted: its heartbeat started again at {first}"


def test_force_complete_finishes_a_migration_pre_copy_never_would(lab: QemuLab) -> None:
    hot = next(s for s in lab.servers().values() if s.name.startswith("canary-hot"))
    source = hot.compute_host
    healthy_beats(lab, hot)
    lab.conn.compute.live_migrate_server(hot, host=None, block_migration="auto")
    running = wait_for("the hot guest's migration to copy memory", lambda: next(
        (m for m in lab.conn.compute.server_migrations(hot)
         if (m.memory_processed_bytes or 0) > 0), None))
    time.sleep(10.0)  # long enough for several pre-copy passes at the lab's bandwidth limit
    assert lab.last_migration(hot.id).status == "running", "pre-copy converged on its own"
    lab.conn.compute.force_complete_server_migration(running, hot)
    mig = wait_for("the forced migration to end", lambda: (
        m if (m := lab.last_migration(hot.id)).status in ("completed", "error", "failed")
        else None))
    assert mig.status == "completed"
    log = (lab.workdir / "logs" / f"{source}.log").read_text(errors="replace")
    assert any(hot.id in line and "Switching to post-copy migration mode" in line
               for line in log.splitlines()), "Nova did not finish it by post-copy"
    moved = lab.conn.compute.get_server(hot.id)
    assert (moved.status, moved.compute_host != source) == ("ACTIVE", True)
    assert healthy_beats(lab, moved) > 1


def test_down_stops_the_lab_and_its_testbed(lab: QemuLab) -> None:
    from hvroll.testbed.system import netns_list
    record = load_record(Layout(lab.workdir))
    nova.down(lab.workdir)
    assert not [ns for ns in netns_list() if ns.startswith(f"{record.testbed_prefix}-")]
    assert nova.status(lab.workdir).services == {}
