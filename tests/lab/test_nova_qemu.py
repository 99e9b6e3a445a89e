"""The lab's libvirt mode: Nova's libvirt driver on the testbed's hosts, real QEMU guests
(markers ``nova`` and ``libvirt``).

One lab of three computes and four canary servers for the module, started through the CLI
(``hvroll lab nova up --virt libvirt``). Tests run in file order: the
computes and servers as Nova and libvirt see them, live migrations through Nova's API (real
block migrations between the testbed's libvirtds of the two guests that only heartbeat, each
healthy on its new host), Nova's force-complete finishing by post-copy a migration pre-copy
alone never would, a campaign (``hvroll run --driver nova``, killed once with SIGKILL
mid-migration and restarted) that drains and reinstalls every compute, judged by Nova,
placement and each guest's console, and a clean ``down``.

The guests run under TCG, whose known hazard (TESTBED.md section 10) is a guest that comes out
of a migration hung or with corrupted memory, rarely with ``pti=on``, and a memory-dirtying
guest far more than one that only heartbeats. So the memory-dirtying guests are first migrated
by the campaign, whose ladder is under test. Each test holds the move to what its caller can
answer for: the migration completed live, the guest runs on its new host, and its console
there shows its heartbeat going on from before, never restarted. A moved guest whose console
on its new host shows the hazard's signature (memory errors, or its vCPU spinning with
interrupts off) and no boot is logged (warning) instead of failing the test
(:func:`moved_guest_beats`): QEMU's emulation broke it after a completed live move (a
memory-dirtying guest after the campaign, in 2 of 7 runs of the whole suite on two cores),
which no caller of Nova's API can cause or prevent. A guest that stops beating without that
signature, or booted again, fails its test at once (:data:`SILENT_LIMIT_S`) with a message
naming the guest, its host and the migration that brought it there. A guest an earlier test
left not beating is hard-rebooted through Nova before the campaign
(:func:`revive_before_campaign`, logged)."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hvroll.drivers.nova.read import provider_traits
from hvroll.errors import ConnectionLostError
from hvroll.inventory import load_fleet
from hvroll.lab import nova
from hvroll.lab.nova import qemu
from hvroll.lab.nova.layout import Layout, load_record
from hvroll.lab.nova.seed import connect
from hvroll.store import Store
from hvroll.testbed.health import (
    GuestHealth,
    VcpuLook,
    hazard_after_live_move,
    parse_console,
    parse_registers,
    tcg_hazard,
)
from hvroll.virt.binding import connection, libvirt_module, qemu_module

pytestmark = [pytest.mark.nova, pytest.mark.libvirt]
COMPUTES = 3
SERVERS = 4
TIMEOUT_S = 300.0
BIN = Path(sys.executable).parent
RUN_TIMEOUT_S = 1200.0
"""The campaign: 5 migrations of 15-70 s and 3 reinstalls of about 40 s on a loaded machine."""
SILENT_LIMIT_S = 60.0
"""A canary prints a line every second of its own time; one whose console has not grown for
this long is not beating (twice the testbed's limit: here the guests share the two cores with
Nova's services)."""
log = logging.getLogger(__name__)


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

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "OS_CLOUD"}
        env.update(PATH=f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}",
                   OS_CLIENT_CONFIG_FILE=str(self.workdir / "clouds.yaml"))
        return env

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


def vcpu_looks(lab: QemuLab, server: Any, looks: int = 3, every_s: float = 1.0
               ) -> list[VcpuLook]:
    """``looks`` looks at the guest's vCPU on its host (QEMU's ``info registers``); fewer if
    its domain does not answer."""
    libvirt, monitor = libvirt_module(), qemu_module()
    out: list[VcpuLook] = []
    try:
        with connection(lab.uri(server.compute_host)) as conn:
            dom = conn.lookupByUUIDString(server.id)
            for i in range(looks):
                if i:
                    time.sleep(every_s)
                look = parse_registers(str(monitor.qemuMonitorCommand(
                    dom, "info registers", monitor.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP)))
                if look is not None:
                    out.append(look)
    except (libvirt.libvirtError, ConnectionLostError):
        pass
    return out


def diagnosis(lab: QemuLab, server: Any, health: GuestHealth, what: str) -> str:
    """Why ``server`` fails its check: the guest, its host, the migration that brought it
    there, its console, and whether it shows the TCG hazard of TESTBED.md section 10."""
    host = server.compute_host
    migrations = list(lab.conn.compute.migrations(instance_uuid=server.id))
    last = max(migrations, key=lambda m: m.id) if migrations else None
    came = ("never migrated" if last is None else
            f"last migration #{last.id} {last.source_compute} -> {last.dest_compute} "
            f"({last.status})")
    looks = vcpu_looks(lab, server)
    hazard = tcg_hazard(health, looks)
    verdict = (f"the known TCG hazard of TESTBED.md section 10: {hazard}" if hazard else
               "not the signature of the TCG hazard of TESTBED.md section 10 (vCPU: "
               + (", ".join(f"RIP {v.rip:#x} IF={int(v.interrupts)} HLT={int(v.halted)}"
                            for v in looks) or "no answer") + ")")
    return (f"guest {server.name} ({server.id}) on {host}: {what}; {came}; last heartbeat "
            f"{health.last_heartbeat}, flags {list(health.flags)}, "
            f"{list(health.problem_lines[:3])}; console "
            f"{nova.console_log(lab.workdir, host, server.id)}; {verdict}")


def silent_s(lab: QemuLab, server: Any, since: float) -> float:
    """Seconds since the server's console on its host last grew, or since ``since`` (an
    epoch time) if that is later or the console is not there."""
    path = nova.console_log(lab.workdir, server.compute_host, server.id)
    grown = path.stat().st_mtime if path.exists() else since
    return time.time() - max(grown, since)


def healthy_beats(lab: QemuLab, server: Any, beats: int = 3) -> int:
    """Wait until the server's console on its host shows ``beats`` heartbeats, all healthy;
    return the guest's first heartbeat there (its counter lives in guest memory, so a guest
    that came over by migration goes on counting where it was). Fails at once on a memory
    error or a console silent for :data:`SILENT_LIMIT_S`, with :func:`diagnosis`."""
    started, deadline = time.time(), time.monotonic() + TIMEOUT_S
    while True:
        text = lab.console(server) if nova.console_log(
            lab.workdir, server.compute_host, server.id).exists() else ""
        health = parse_console(text, min_heartbeats=beats)
        if [f for f in health.flags if f != "no_new_heartbeat"]:
            raise AssertionError(diagnosis(lab, server, health, "unhealthy console"))
        if health.new_heartbeats >= beats:
            break
        silent = silent_s(lab, server, started)
        if silent > SILENT_LIMIT_S or time.monotonic() > deadline:
            raise AssertionError(diagnosis(
                lab, server, health, f"not heartbeating (console silent for {silent:.0f} s, "
                f"{health.new_heartbeats} of {beats} heartbeats)"))
        time.sleep(1.0)
    first = re.search(r"hb=(\d+)", text)
    assert first is not None
    return int(first.group(1))


def moved_guest_beats(lab: QemuLab, server: Any, moves: str) -> int | None:
    """:func:`healthy_beats` of a guest that came to its host by the live migrations
    ``moves`` names; None, logged as a warning, when it fails its check with the TCG hazard's
    signature on a console that shows no boot (:func:`hazard_after_live_move`): QEMU's
    emulation broke it after a completed live move."""
    try:
        return healthy_beats(lab, server)
    except AssertionError as exc:
        path = nova.console_log(lab.workdir, server.compute_host, server.id)
        text = path.read_text(errors="replace") if path.exists() else ""
        hazard = hazard_after_live_move(text, vcpu_looks(lab, server))
        if hazard is None:
            raise AssertionError(f"{moves}: {exc}") from None
        log.warning("%s: QEMU's TCG broke the guest after it came live (%s), not a failure "
                    "of the move: %s", moves, hazard, exc)
        return None


def beating(lab: QemuLab, server: Any) -> bool:
    """Whether the server prints a new heartbeat before its console has been silent for
    :data:`SILENT_LIMIT_S`, with no problem anywhere on its console."""
    path = nova.console_log(lab.workdir, server.compute_host, server.id)
    offset = path.stat().st_size if path.exists() else 0
    while True:
        data = path.read_bytes() if path.exists() else b""
        if [f for f in parse_console(data.decode(errors="replace")).flags
                if f != "no_new_heartbeat"]:
            return False
        if parse_console(data[offset:].decode(errors="replace")).new_heartbeats:
            return True
        if silent_s(lab, server, 0.0) > SILENT_LIMIT_S:
            return False
        time.sleep(1.0)


def revive_before_campaign(lab: QemuLab) -> None:
    """Every guest beating before the campaign: one that is not (an earlier test's migration
    through Nova hung it or broke its memory, which that test failed on or logged) is
    hard-rebooted through Nova, its console kept in the lab's ``logs/`` and the reboot logged
    (warning), then must boot and beat. Nothing of hvroll has moved a guest yet, so this
    hides none of its migrations."""
    for server in lab.servers().values():
        if beating(lab, server):
            continue
        path = nova.console_log(lab.workdir, server.compute_host, server.id)
        text = path.read_bytes().decode(errors="replace") if path.exists() else ""
        why = diagnosis(lab, server, parse_console(text), "not beating before the campaign "
                        f"(console silent for {silent_s(lab, server, 0.0):.0f} s)")
        kept = lab.workdir / "logs" / f"{server.name}.{int(time.time())}.console.log"
        if path.exists():
            shutil.move(path, kept)
        log.warning("%s; hard reboot through Nova, its old console kept as %s", why, kept)
        lab.conn.compute.reboot_server(server, "HARD")
        wait_for(f"{server.name} ACTIVE after its hard reboot", lambda s=server: (
            (got := lab.conn.compute.get_server(s.id)).status == "ACTIVE"
            and not got.task_state))
        healthy_beats(lab, server)
        log.warning("guest %s on %s beats again after its hard reboot", server.name,
                    server.compute_host)


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
    """The two guests that only heartbeat (TESTBED.md section 10: 40 of 40 such migrations
    clean under TCG); the memory-dirtying ones are first migrated by the campaign."""
    movers = [s for s in lab.servers().values() if s.name.startswith(qemu.IDLE.name)]
    assert len(movers) == 2, sorted(lab.servers())
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
        first = moved_guest_beats(lab, moved, f"after Nova's live migration of {server.name}")
        assert first is None or first > 1, \
            f"{server.name} rebooted: its heartbeat started again at {first}"


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
    first = moved_guest_beats(lab, moved, f"after the forced migration #{mig.id}")
    assert first is None or first > 1, f"{hot.name} rebooted"


def hv(lab: QemuLab, *args: str, cwd: Path, timeout_s: float = TIMEOUT_S) -> str:
    done = subprocess.run([str(BIN / "hvroll"), *args], cwd=cwd, env=lab.env(), text=True,
                          capture_output=True, timeout=timeout_s, check=False)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-4000:])
    return done.stdout


def test_a_campaign_through_nova_drains_and_reinstalls_every_host_and_survives_a_kill(
        lab: QemuLab, tmp_path: Path) -> None:
    """``hvroll run --driver nova`` drains and reinstalls the three computes (to ``TB2``,
    which the reinstall hook sets as a placement trait through the compute's provider config
    file); it is killed (SIGKILL) while a real migration runs, and a restarted run adopts that
    migration and finishes. Then Nova, placement and each guest's console are asked. A guest
    an earlier test left not beating is rebooted first (:func:`revive_before_campaign`)."""
    revive_before_campaign(lab)
    hv(lab, "fleet", "discover", "--cloud", "hvroll-lab", "-o", "f.yaml", cwd=tmp_path)
    assert {h.profile for h in load_fleet(tmp_path / "f.yaml").hosts} == {"TB"}
    hv(lab, "plan", "f.yaml", "--target", "TB2", "--no-hold", "-o", "p.json", cwd=tmp_path)
    servers = lab.servers()
    before = {s.id: healthy_beats(lab, s, beats=1) for s in servers.values()}
    last_beat = {s.id: max(int(b) for b in re.findall(r"hb=(\d+)", lab.console(s)))
                 for s in servers.values()}
    assert min(before.values()) >= 1
    seen = {m.id for m in lab.conn.compute.migrations()}
    hook = (f"{BIN / 'hvroll'} lab nova reinstall {{host}} --profile {{profile}} "
            f"--workdir {lab.workdir}")
    argv = [str(BIN / "hvroll"), "run", "p.json", "--driver", "nova", "--cloud", "hvroll-lab",
            "--reinstall-cmd", hook, "--state", "c.db", "--json"]
    first = subprocess.Popen(argv, cwd=tmp_path, env=lab.env(), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def running() -> Any:
        if first.poll() is not None:
            raise AssertionError(f"hvroll run ended before a migration ran: "
                                 f"{first.communicate()}")
        return next((m for m in lab.conn.compute.migrations()
                     if m.id not in seen and m.status == "running"), None)
    killed = wait_for("a real migration started by hvroll run", running)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    summary = json.loads(hv(lab, *argv[1:], cwd=tmp_path, timeout_s=RUN_TIMEOUT_S))
    assert summary["state"] == "completed", summary
    # Nova: every server ACTIVE on a reinstalled compute, every migration completed
    rps = {h.name: str(h.id) for h in lab.conn.compute.hypervisors(details=True)}
    for host, rp in rps.items():
        assert "CUSTOM_HVLAB_PROFILE_TB2" in provider_traits(lab.conn, rp), host
    after = lab.servers()
    assert [(s.name, s.status, s.task_state, s.compute_host) for s in after.values()
            if s.status != "ACTIVE" or s.task_state or s.compute_host not in rps] == []
    new = [m for m in lab.conn.compute.migrations() if m.id not in seen]
    assert new and {m.status for m in new} == {"completed"}, [(m.id, m.status) for m in new]
    assert {(s.status, s.state) for s in lab.conn.compute.services(binary="nova-compute")} \
        == {("enabled", "up")}
    # the killed run's migration was adopted: that hop has one Nova migration, one attempt
    hop = [m for m in new if m.server_id == killed.server_id
           and m.source_compute == killed.source_compute]
    assert [m.id for m in hop] == [killed.id]
    store = Store(tmp_path / "c.db")
    try:
        rows = {(r.vm, r.source): r for r in store.migrations()}
        name = next(s.name for s in after.values() if s.id == killed.server_id)
        row = rows[(name, killed.source_compute)]
        assert (row.state, row.attempts) == ("completed", 1), (row.state, row.attempts)
        assert store.events("lease_taken_over")
        # the guest that never converges finished through the ladder's post-copy rung
        hot = next(s for s in after.values() if s.name.startswith("canary-hot"))
        hot_rows = [r for r in rows.values() if r.vm == hot.name]
        assert hot_rows and all(r.state == "completed" for r in hot_rows)
        assert all("post_copy" in json.loads(r.rungs) for r in hot_rows), \
            [(r.source, r.rungs) for r in hot_rows]
        assert [e for e in store.events("ladder_climbed") if e.vm == hot.name]
        assert {r.state for r in rows.values()} == {"completed"}
    finally:
        store.close()
    # each guest's own console: no memory error, the heartbeat went on where it was (or
    # QEMU's TCG broke it after a live move: moved_guest_beats)
    for server in after.values():
        moves = [m.id for m in new if m.server_id == server.id]
        assert moves, f"{server.name} was not moved"
        first = moved_guest_beats(lab, server, f"after hvroll run's migrations {moves} of it")
        if first is None:
            continue
        assert first > 1, f"{server.name} rebooted"
        now = max(int(b) for b in re.findall(r"hb=(\d+)", lab.console(server)))
        assert now > last_beat[server.id], (server.name, now, last_beat[server.id])


def test_down_stops_the_lab_and_its_testbed(lab: QemuLab) -> None:
    from hvroll.testbed.system import netns_list
    record = load_record(Layout(lab.workdir))
    nova.down(lab.workdir)
    assert not [ns for ns in netns_list() if ns.startswith(f"{record.testbed_prefix}-")]
    assert nova.status(lab.workdir).services == {}
