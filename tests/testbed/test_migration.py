"""A canary guest live-migrates between testbed hosts and comes out intact (real QEMU/TCG)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from hvroll import testbed as tb
from hvroll.testbed.system import QEMU, pids_in_netns, read_proc

from .conftest import Session

pytestmark = pytest.mark.libvirt
libvirt = pytest.importorskip("libvirt")

P2P_MOVE = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
            | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)
GUEST = "canary-mig"


@dataclass(frozen=True)
class Migrated:
    bed: tb.Testbed
    guest: tb.Guest
    elapsed_s: float
    stats: dict[str, Any]
    log_offset: int
    """Console log size right after the migration."""


@pytest.fixture(scope="module")
def migrated(session: Session) -> Iterator[Migrated]:
    """A 16 MiB/s dirtier guest booted on h1, then migrated live (peer-to-peer) to h2."""
    bed: tb.Testbed = session.up()
    h1, h2 = bed.host("h1"), bed.host("h2")
    guest = tb.define_guest(h1.uri, GUEST, ram_mib=256, dirty_mb=16, dirty_rate_mib_s=16)
    try:
        booted = tb.wait_for_heartbeats(guest.console_log, guest.console_offset, 3,
                                        timeout_s=90)
        assert booted.ok, booted
        src, dst = libvirt.open(h1.uri), libvirt.open(h2.uri)
        try:
            start = time.monotonic()
            src.lookupByName(GUEST).migrateToURI3(h2.uri, {}, P2P_MOVE)
            elapsed = time.monotonic() - start
            offset = guest.console_log.stat().st_size
            stats = dst.lookupByName(GUEST).jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
        finally:
            src.close()
            dst.close()
        yield Migrated(bed=bed, guest=guest, elapsed_s=elapsed, stats=stats, log_offset=offset)
    finally:
        for host in bed.hosts:
            conn = libvirt.open(host.uri)
            try:
                for dom in conn.listAllDomains():
                    if dom.name() == GUEST:
                        if dom.isActive():
                            dom.destroy()
                        dom.undefine()
            finally:
                conn.close()


def test_completed_job_stats_are_read_from_the_destination(migrated: Migrated) -> None:
    stats = migrated.stats
    assert stats["type"] == libvirt.VIR_DOMAIN_JOB_COMPLETED
    assert stats["operation"] == libvirt.VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN
    assert stats["memory_total"] >= 256 * 1024 * 1024
    assert stats["data_remaining"] == 0
    assert stats["memory_iteration"] >= 1
    assert 0 < stats["downtime"] < 5000
    assert 0 < stats["time_elapsed"] <= migrated.elapsed_s * 1000 + 1000


def test_guest_runs_exactly_once_and_on_the_destination(migrated: Migrated) -> None:
    where = {}
    for host in migrated.bed.hosts:
        conn = libvirt.open(host.uri)
        try:
            where[host.short_name] = sorted(
                d.name() for d in conn.listAllDomains() if d.name() == GUEST)
            if where[host.short_name]:
                dom = conn.lookupByName(GUEST)
                assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
                assert dom.isPersistent()
        finally:
            conn.close()
    assert where == {"h1": [], "h2": [GUEST], "h3": []}
    qemus = {h.short_name: [pid for pid in pids_in_netns(h.netns)
                            if _is_qemu_of(pid, GUEST)] for h in migrated.bed.hosts}
    assert {name: len(pids) for name, pids in qemus.items()} == {"h1": 0, "h2": 1, "h3": 0}


def test_guest_keeps_beating_with_intact_memory_after_migration(migrated: Migrated) -> None:
    log = migrated.guest.console_log
    before = tb.parse_console(log.read_bytes()[:migrated.log_offset].decode(errors="replace"))
    health = tb.wait_for_heartbeats(log, migrated.log_offset, 2, timeout_s=30)
    assert before.ok and health.ok, (before, health)
    assert health.bad_pages == 0
    assert before.last_heartbeat is not None and before.last_heartbeat >= 3
    assert health.last_heartbeat is not None
    assert health.last_heartbeat >= before.last_heartbeat + 2


def _is_qemu_of(pid: int, name: str) -> bool:
    proc = read_proc(pid)
    if proc is None or not proc.cmdline or proc.cmdline[0] != str(QEMU):
        return False
    return any(arg.startswith(f"guest={name},") or arg == f"guest={name}"
               for arg in proc.cmdline)


def test_inventory_finds_the_guest_on_its_new_host(migrated: Migrated) -> None:
    fleet = tb.build_inventory(migrated.bed.workdir)
    vm = fleet.vm_by_name[GUEST]
    assert (vm.host, vm.uuid, vm.ram_mib, vm.dirty_rate_mib_s) == \
        (migrated.bed.host("h2").name, migrated.guest.uuid, 256, 16.0)
