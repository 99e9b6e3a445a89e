"""Live migrations through the driver between testbed hosts: real libvirtd, real QEMU (TCG).

One canary (dirtying 16 MiB/s) is booted once for the module and moved h1 → h2 → h3 → …;
its health is checked after every migration: new heartbeats, its memory check passes, no
oops, and it runs on exactly one host.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from drivers.libvirt.bed import Bed
from hvroll import testbed as tb
from hvroll.drivers.base import JobPhase, JobProgress, MigrationOptions
from hvroll.drivers.libvirt import LibvirtCloud
from hvroll.errors import DriverError
from hvroll.testbed.driver import for_testbed
from hvroll.virt.binding import connection

pytestmark = pytest.mark.libvirt
libvirt = pytest.importorskip("libvirt")


@dataclass
class Canary:
    bed: Bed
    cloud: LibvirtCloud
    guest: tb.Guest
    first: JobProgress
    wall_s: float

    def where(self) -> str:
        return self.bed.runs_once_on(self.guest.name)

    def offset(self) -> int:
        return self.guest.console_log.stat().st_size

    def assert_healthy_since(self, offset: int) -> None:
        """Healthy over the migration, and still beating after it."""
        after = tb.wait_for_heartbeats(self.guest.console_log, self.offset(), 2, timeout_s=20)
        assert after.ok, after
        health = tb.guest_health(self.guest.console_log, offset)
        assert health.ok and health.bad_pages == 0, health


def run(cloud: LibvirtCloud, job: str, timeout_s: float = 120.0) -> JobProgress:
    deadline = time.monotonic() + timeout_s
    while not cloud.job(job).final:
        assert time.monotonic() < deadline, cloud.job(job)
        cloud.wait(5.0)
    return cloud.job(job)


def running(cloud: LibvirtCloud, job: str, timeout_s: float = 60.0) -> JobProgress:
    """Wait until libvirt shows the job copying memory."""
    deadline = time.monotonic() + timeout_s
    while True:
        p = cloud.job(job)
        assert not p.final, p
        if p.iteration >= 1 and p.processed_mib > 0:
            return p
        assert time.monotonic() < deadline, p
        cloud.wait(0.2)


@pytest.fixture(scope="module")
def canary(bed: Bed) -> Iterator[Canary]:
    bed.clear()
    guest = bed.guest("h1", stem="live", dirty_mb=16, dirty_rate_mib_s=16)
    bed.boot(guest, heartbeats=4)
    cloud = for_testbed(bed.fleet())
    offset = guest.console_log.stat().st_size
    started = time.monotonic()
    cloud.migrate("live-1", guest.name, bed.hostname("h2"), MigrationOptions())
    first = run(cloud, "live-1")
    c = Canary(bed=bed, cloud=cloud, guest=guest, first=first,
               wall_s=time.monotonic() - started)
    c.assert_healthy_since(offset)
    yield c
    cloud.close()
    bed.clear()


def test_migration_completes_with_libvirts_statistics(canary: Canary) -> None:
    p = canary.first
    assert p.phase is JobPhase.COMPLETED and p.error is None
    assert p.extra["stats_from"] == "destination"
    assert p.extra["flags"] == ["LIVE", "PEER2PEER", "PERSIST_DEST", "UNDEFINE_SOURCE"]
    assert 0 < p.elapsed_s < canary.wall_s
    assert 256 <= p.total_mib < 300
    assert 16 < p.processed_mib < 3 * 256
    assert p.iteration >= 2
    assert p.downtime_ms is not None and 0 < p.downtime_ms < 5000
    assert p.remaining_mib == 0


def test_guest_runs_once_on_the_destination(canary: Canary) -> None:
    assert canary.first.dest == canary.bed.hostname("h2")
    vm = canary.cloud.vm(canary.guest.name)
    assert vm.hosts == (canary.bed.hostname("h2"),)
    assert canary.where() == canary.bed.hostname("h2")


def test_the_same_job_id_is_idempotent(canary: Canary) -> None:
    cloud, name = canary.cloud, canary.guest.name
    cloud.migrate("live-1", name, canary.bed.hostname("h2"), MigrationOptions())  # no-op
    assert cloud.job("live-1") == canary.first
    with pytest.raises(DriverError, match="job id 'live-1' is already used"):
        cloud.migrate("live-1", name, canary.bed.hostname("h3"), MigrationOptions())


def test_requests_that_cannot_start_change_nothing(canary: Canary) -> None:
    cloud, name, bed = canary.cloud, canary.guest.name, canary.bed
    here = canary.where()
    with pytest.raises(DriverError, match="already on this host"):
        cloud.migrate("bad-1", name, here, MigrationOptions())
    with pytest.raises(DriverError, match="unknown VM 'ghost'"):
        cloud.migrate("bad-2", "ghost", bed.hostname("h3"), MigrationOptions())
    with pytest.raises(DriverError, match="unknown host 'nowhere'"):
        cloud.migrate("bad-3", name, "nowhere", MigrationOptions())
    with pytest.raises(DriverError, match="it already ended completed"):
        cloud.abort("live-1")
    assert canary.where() == here
    assert {j.job for j in cloud.jobs()} == {"live-1"}


def test_cap_and_downtime_reach_libvirt_and_abort_leaves_the_guest_on_its_source(
        canary: Canary) -> None:
    cloud, name, bed = canary.cloud, canary.guest.name, canary.bed
    source = canary.where()
    offset = canary.offset()
    cloud.migrate("live-abort", name, bed.hostname("h3"),
                  MigrationOptions(bandwidth_mib_s=8, max_downtime_ms=123))
    running(cloud, "live-abort")
    with connection(cloud.fleet.host_by_name[source].libvirt_uri or "") as conn:
        dom = conn.lookupByName(name)
        assert (dom.migrateGetMaxSpeed(), dom.migrateGetMaxDowntime()) == (8, 123)
        cloud.set_max_downtime("live-abort", 456)
        assert dom.migrateGetMaxDowntime() == 456
    cloud.abort("live-abort")
    p = run(cloud, "live-abort")
    assert p.phase is JobPhase.CANCELLED and "aborted" in (p.error or "")
    assert canary.where() == source
    assert cloud.vm(name).hosts == (source,)
    canary.assert_healthy_since(offset)


def test_post_copy_switch_completes_with_the_sources_statistics(canary: Canary) -> None:
    cloud, name, bed = canary.cloud, canary.guest.name, canary.bed
    dest = next(bed.hostname(h) for h in ("h1", "h2", "h3") if bed.hostname(h)
                != canary.where())
    offset = canary.offset()
    cloud.migrate("live-post", name, dest, MigrationOptions(bandwidth_mib_s=8, post_copy=True))
    running(cloud, "live-post")
    cloud.start_post_copy("live-post")
    assert cloud.job("live-post").phase in (JobPhase.POSTCOPY, JobPhase.COMPLETED)
    with pytest.raises(DriverError, match="post-copy"):
        cloud.abort("live-post")
    p = run(cloud, "live-post")
    assert p.phase is JobPhase.COMPLETED, p
    assert "POSTCOPY" in p.extra["flags"]
    # the destination keeps no statistics of a post-copy migration: the source's event has them
    assert p.extra["stats_from"] == "source_event"
    assert p.extra["stats"]["operation"] == libvirt.VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT
    assert p.elapsed_s > 0 and p.processed_mib > 0 and p.downtime_ms is not None
    assert canary.where() == dest
    canary.assert_healthy_since(offset)


def test_post_copy_needs_the_option(canary: Canary) -> None:
    cloud, name, bed = canary.cloud, canary.guest.name, canary.bed
    dest = next(bed.hostname(h) for h in ("h1", "h2", "h3") if bed.hostname(h)
                != canary.where())
    offset = canary.offset()
    cloud.migrate("live-plain", name, dest, MigrationOptions(bandwidth_mib_s=64))
    with pytest.raises(DriverError, match="started without post_copy=True"):
        cloud.start_post_copy("live-plain")
    assert run(cloud, "live-plain").phase is JobPhase.COMPLETED
    assert canary.where() == dest
    canary.assert_healthy_since(offset)
