"""The driver's other operations on the testbed: interface counters, suspend/resume, balloon
removal, reinstall through the testbed hook, cold migration, and a driver that starts again on
the journal of one that stopped while its migration ran."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drivers.libvirt.bed import Bed
from hvroll import testbed as tb
from hvroll.drivers.base import JobKind, JobPhase, JobProgress, MigrationOptions
from hvroll.drivers.libvirt import LibvirtCloud, Settings
from hvroll.errors import SafetyError
from hvroll.testbed.driver import for_testbed
from hvroll.testbed.hook import TestbedReinstallHook
from hvroll.virt.binding import connection

pytestmark = pytest.mark.libvirt
libvirt = pytest.importorskip("libvirt")
libvirt_qemu = pytest.importorskip("libvirt_qemu")


@dataclass
class Scene:
    bed: Bed
    cloud: LibvirtCloud
    journal: Path
    on: tb.Guest
    """Running on h1, pinging from 10.99.0.2 for interface counters."""
    off: tb.Guest
    """Defined on h2, never started."""

    def host(self, short: str) -> str:
        return self.bed.hostname(short)


def run(cloud: LibvirtCloud, job: str, timeout_s: float = 120.0) -> JobProgress:
    deadline = time.monotonic() + timeout_s
    while not cloud.job(job).final:
        assert time.monotonic() < deadline, cloud.job(job)
        cloud.wait(5.0)
    return cloud.job(job)


@pytest.fixture(scope="module")
def scene(bed: Bed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    bed.clear()
    on = bed.guest("h1", stem="ops", guest_ip="10.99.0.2/24")
    off = bed.guest("h2", stem="ops", start=False)
    bed.boot(on, heartbeats=3)
    journal = tmp_path_factory.mktemp("ops") / "c.db.libvirt.jsonl"
    cloud = for_testbed(bed.fleet(), journal=journal,
                        settings=Settings(shutdown_timeout_s=2.0))
    scene = Scene(bed=bed, cloud=cloud, journal=journal, on=on, off=off)
    yield scene
    scene.cloud.close()
    bed.clear()


def test_interface_counters_by_mac_from_the_guests_side(scene: Scene) -> None:
    time.sleep(2.5)  # the guest pings every 2 s
    counters = scene.cloud.interface_stats(scene.on.name)
    assert list(counters) == [scene.on.mac]
    assert counters[scene.on.mac]["tx_packets"] >= 1  # the guest sends its pings


def test_suspend_and_resume(scene: Scene) -> None:
    cloud, name = scene.cloud, scene.on.name
    cloud.suspend(name)
    cloud.suspend(name)  # idempotent
    assert cloud.vm(name).power.value == "paused"
    assert not cloud.probe(name)
    offset = scene.on.console_log.stat().st_size
    cloud.resume(name)
    assert cloud.vm(name).power.value == "running"
    assert tb.wait_for_heartbeats(scene.on.console_log, offset, 2, timeout_s=20).ok


def test_remove_balloon_unplugs_it_through_the_monitor_and_is_recorded(scene: Scene) -> None:
    cloud, name = scene.cloud, scene.on.name
    cloud.apply_workaround(name, "remove_balloon")
    deadline = time.monotonic() + 5
    with connection(scene.bed.uri("h1")) as conn:
        dom = conn.lookupByName(name)
        while True:
            reply = json.loads(libvirt_qemu.qemuMonitorCommand(
                dom, '{"execute": "qom-list", "arguments": {"path": "/machine/peripheral"}}',
                0))
            if "balloon0" not in {p["name"] for p in reply["return"]}:
                break
            assert time.monotonic() < deadline, reply
            time.sleep(0.1)
    cloud.apply_workaround(name, "remove_balloon")  # already gone: fine
    cloud.apply_workaround(name, "copy_config_drive")  # shared storage: recorded only
    lines = [json.loads(line) for line in scene.journal.read_text().splitlines()]
    assert [(r["vm"], r["action"]) for r in lines if r.get("op") == "workaround"] == [
        (name, "remove_balloon"), (name, "remove_balloon"), (name, "copy_config_drive")]


def test_reinstall_refuses_a_host_with_any_domain(scene: Scene) -> None:
    h2 = scene.host("h2")  # holds a shut-off domain only
    with pytest.raises(SafetyError, match=rf"{h2}: refusing to reinstall.*{scene.off.name}"):
        scene.cloud.reinstall("r-refused", h2, "CPv2")
    with pytest.raises(SafetyError, match=rf"{h2}: refusing to reinstall.*{scene.off.name}"):
        TestbedReinstallHook(scene.bed.workdir)(scene.cloud.fleet.host_by_name[h2], "CPv2")
    assert scene.cloud.host_profile(h2) == "CPv1"
    assert "r-refused" not in {j.job for j in scene.cloud.jobs()}


def test_reinstall_changes_the_profile_and_restarts_the_daemon(scene: Scene) -> None:
    cloud, h3 = scene.cloud, scene.host("h3")
    before = scene.bed.up().host("h3").pid
    cloud.reinstall("r-h3", h3, "CPv2")
    p = run(cloud, "r-h3")
    assert (p.kind, p.phase, p.error) == (JobKind.REINSTALL, JobPhase.COMPLETED, None)
    assert cloud.host_profile(h3) == "CPv2"
    assert scene.bed.up().host("h3").pid != before
    marker = tb.read_profile(scene.bed.workdir, "h3")
    assert marker.profile == "CPv2" and marker.qemu_version and marker.libvirt_version
    assert cloud.host(h3).up


def test_cold_migration_of_a_shut_off_domain_moves_its_definition(scene: Scene) -> None:
    cloud, name = scene.cloud, scene.off.name
    cloud.cold_migrate("cold-off", name, scene.host("h3"))
    p = run(cloud, "cold-off")
    assert (p.kind, p.phase) == (JobKind.COLD_MIGRATION, JobPhase.COMPLETED)
    assert scene.bed.copies(name) == [(scene.host("h3"), False, True)]
    assert cloud.vm(name).power.value == "shutoff"


def test_a_restarted_driver_follows_the_migration_it_finds_running(scene: Scene) -> None:
    """Driver A starts a slow migration and stops; driver B, opened on A's journal, finds the
    job still running in libvirt, follows it to its end and reports libvirt's statistics."""
    first, name = scene.cloud, scene.on.name
    offset = scene.on.console_log.stat().st_size
    first.migrate("slow", name, scene.host("h2"), MigrationOptions(bandwidth_mib_s=8))
    while first.job("slow").processed_mib < 4:
        first.wait(0.5)
    first.close()  # as if its process died: libvirt's peer-to-peer migration goes on
    second = for_testbed(scene.bed.fleet(), journal=scene.journal,
                         settings=Settings(shutdown_timeout_s=2.0))
    found = {j.job: j for j in second.jobs()}
    assert found["slow"].phase is JobPhase.RUNNING
    assert found["r-h3"].phase is JobPhase.COMPLETED  # from the journal
    p = run(second, "slow")
    assert p.phase is JobPhase.COMPLETED, p
    assert p.extra["stats_from"] == "destination" and p.elapsed_s > 1 and p.iteration >= 2
    assert scene.bed.runs_once_on(name) == scene.host("h2")
    health = tb.wait_for_heartbeats(scene.on.console_log, offset, 3, timeout_s=20)
    assert health.ok, health
    scene.cloud = second


def test_scheduling_marks_are_hvrolls_and_survive_a_restart(scene: Scene) -> None:
    h1 = scene.host("h1")
    scene.cloud.set_scheduling(h1, False)
    scene.cloud.close()  # one driver writes a journal at a time
    again = for_testbed(scene.bed.fleet(), journal=scene.journal,
                        settings=Settings(shutdown_timeout_s=2.0))
    scene.cloud = again
    assert again.host(h1).scheduling.value == "disabled"
    again.set_scheduling(h1, True)
    assert again.host(h1).scheduling.value == "enabled"


def test_cold_migration_of_a_running_domain_stops_moves_and_starts_it(scene: Scene) -> None:
    cloud, name = scene.cloud, scene.on.name
    cloud.cold_migrate("cold-on", name, scene.host("h1"))
    p = run(cloud, "cold-on")
    assert p.phase is JobPhase.COMPLETED, p
    assert p.extra.get("destroyed")  # the canary ignores ACPI shutdown: destroyed after 2 s
    assert p.elapsed_s > 0
    assert scene.bed.runs_once_on(name) == scene.host("h1")
    offset = scene.on.console_log.stat().st_size
    deadline = time.monotonic() + 60
    while True:  # the guest boots again: its heartbeat counter starts anew
        text = scene.on.console_log.read_bytes()[offset:].decode(errors="replace")
        fresh = tb.parse_console(text)
        if fresh.new_heartbeats or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert fresh.ok and fresh.last_heartbeat is not None and fresh.last_heartbeat <= 5, fresh
