"""Pure translations: options to libvirt flags and parameters, job statistics to hvroll's
units (domain XML and states: ``tests/virt/test_domxml.py``)."""

from __future__ import annotations

import threading

import pytest

from hvroll.drivers.base import JobKind, JobPhase, MigrationOptions
from hvroll.drivers.libvirt.core import Core, Job
from hvroll.drivers.libvirt.live import ended, sample
from hvroll.drivers.libvirt.stats import (
    Figures,
    figures,
    flag_names,
    has_figures,
    is_running,
    migration_flags,
    migration_params,
)

libvirt = pytest.importorskip("libvirt")

DESTINATION_COMPLETED = {
    "data_processed": 136566477, "data_remaining": 0, "data_total": 269230080,
    "disk_processed": 0, "disk_remaining": 0, "disk_total": 0, "downtime": 59,
    "downtime_net": 56, "memory_bps": 918021812, "memory_constant": 33013,
    "memory_dirty_rate": 0, "memory_iteration": 3, "memory_normal": 33204,
    "memory_normal_bytes": 136003584, "memory_page_size": 4096, "memory_postcopy_requests": 0,
    "memory_processed": 136566477, "memory_remaining": 0, "memory_total": 269230080,
    "operation": 4, "setup_time": 2, "time_elapsed": 651, "time_elapsed_net": 648, "type": 3}
"""A destination's ``jobStats(COMPLETED)`` after a 256 MiB canary's migration (testbed)."""


def test_completed_statistics_in_hvroll_units() -> None:
    f = figures(DESTINATION_COMPLETED)
    assert f == Figures(elapsed_s=0.651, total_mib=269230080 / 2**20,
                        processed_mib=136566477 / 2**20, remaining_mib=0.0, iteration=3,
                        dirty_rate_mib_s=0.0, downtime_ms=59.0, throttle_pct=0,
                        postcopy_requests=0)


def test_running_statistics_give_dirty_rate_expected_downtime_and_throttle() -> None:
    f = figures({"type": 2, "operation": 5, "time_elapsed": 9000, "memory_total": 256 * 2**20,
                 "memory_processed": 300 * 2**20, "memory_remaining": 60 * 2**20,
                 "memory_iteration": 7, "memory_dirty_rate": 8100, "memory_page_size": 4096,
                 "downtime": 2015, "auto_converge_throttle": 40})
    assert (f.elapsed_s, f.processed_mib, f.remaining_mib, f.iteration) == (9.0, 300, 60, 7)
    assert f.dirty_rate_mib_s == pytest.approx(31.640625)
    assert (f.downtime_ms, f.throttle_pct) == (2015.0, 40)


def test_block_migration_counts_disks_too() -> None:
    f = figures({"type": 2, "memory_total": 2**30, "disk_total": 2**31,
                 "memory_processed": 0, "disk_processed": 2**30})
    assert (f.total_mib, f.processed_mib) == (3072.0, 1024.0)


@pytest.mark.parametrize(("stats", "expected"), [
    ({"type": 0}, False),
    ({}, False),
    (DESTINATION_COMPLETED, True),
    ({k: v for k, v in DESTINATION_COMPLETED.items() if k != "type"}, True),  # the event's
])
def test_post_copy_leaves_the_destination_without_statistics(stats: dict[str, int],
                                                              expected: bool) -> None:
    assert has_figures(stats) is expected


@pytest.mark.parametrize(("options", "unsafe", "names"), [
    (MigrationOptions(), False, ["LIVE", "PEER2PEER", "PERSIST_DEST", "UNDEFINE_SOURCE"]),
    (MigrationOptions(auto_converge=True), False,
     ["LIVE", "PEER2PEER", "PERSIST_DEST", "UNDEFINE_SOURCE", "AUTO_CONVERGE"]),
    (MigrationOptions(post_copy=True), True,
     ["LIVE", "PEER2PEER", "PERSIST_DEST", "UNDEFINE_SOURCE", "POSTCOPY", "UNSAFE"]),
    (MigrationOptions(block=True), False,
     ["LIVE", "PEER2PEER", "PERSIST_DEST", "UNDEFINE_SOURCE", "NON_SHARED_DISK"]),
])
def test_flags_follow_the_options(options: MigrationOptions, unsafe: bool,
                                  names: list[str]) -> None:
    flags = migration_flags(libvirt, options, unsafe=unsafe)
    assert flag_names(libvirt, flags) == names
    assert flags == sum(getattr(libvirt, f"VIR_MIGRATE_{n}") for n in names)


@pytest.mark.parametrize(("options", "default", "expected"), [
    (MigrationOptions(), None, {}),
    (MigrationOptions(), 32.0, {libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 32}),
    (MigrationOptions(bandwidth_mib_s=8.4), 32.0, {libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 8}),
    (MigrationOptions(bandwidth_mib_s=0.2), None, {libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 1}),
])
def test_bandwidth_cap_of_the_options_else_the_drivers(options: MigrationOptions,
                                                       default: float | None,
                                                       expected: dict[str, int]) -> None:
    assert migration_params(libvirt, options, default) == expected


def _job() -> Job:
    return Job(id="j", kind=JobKind.LIVE_MIGRATION, started_s=100.0, vm="vm", source="h1",
               dest="h2", options=MigrationOptions())


def test_remaining_is_what_the_current_pass_started_with() -> None:
    """QEMU's remaining memory falls to zero within every pass; the ladder compares passes,
    so from the second pass on the job reports the memory its pass started with."""
    job = _job()
    job.live = Figures(total_mib=256, processed_mib=40, remaining_mib=216, iteration=1)
    assert job.progress(101.0).remaining_mib == 216
    job.pass_remaining_mib[4] = 61.5
    job.live = Figures(total_mib=256, processed_mib=300, remaining_mib=20.0, iteration=4,
                       dirty_rate_mib_s=31.0, downtime_ms=2015.0)
    p = job.progress(110.0)
    assert (p.remaining_mib, p.extra["memory_remaining_mib"]) == (61.5, 20.0)
    assert (p.elapsed_s, p.expected_downtime_ms, p.downtime_ms) == (10.0, 2015.0, None)


def test_a_completed_job_reports_libvirts_figures_and_the_last_dirty_rate() -> None:
    job = _job()
    job.dirty_rate_mib_s = 15.9
    job.phase, job.ended_s = JobPhase.COMPLETED, 102.0
    job.final = figures(DESTINATION_COMPLETED)
    p = job.progress(200.0)
    assert p.final and p.phase is JobPhase.COMPLETED
    assert (p.elapsed_s, p.iteration, p.downtime_ms, p.remaining_mib) == (0.651, 3, 59.0, 0.0)
    assert p.dirty_rate_mib_s == 15.9
    assert p.processed_mib == pytest.approx(130.24, abs=0.01)


_ZEROED = {"operation": 5, "time_elapsed": 0, "data_total": 0, "data_processed": 0,
           "data_remaining": 0, "memory_total": 0, "memory_processed": 0, "memory_remaining": 0,
           "memory_dirty_rate": 0, "memory_iteration": 0, "memory_postcopy_requests": 0,
           "disk_total": 0, "disk_processed": 0, "disk_remaining": 0}


@pytest.mark.parametrize(("stats", "running"), [
    # the source while the destination QEMU starts: a job, nothing sent yet
    ({**_ZEROED, "type": 2, "time_elapsed": 510}, True),
    # the sixth pass of a capped pre-copy
    ({**_ZEROED, "type": 2, "time_elapsed": 6100, "memory_total": 268967936,
      "memory_processed": 283000000, "memory_remaining": 66000000, "memory_iteration": 6}, True),
    ({**_ZEROED, "type": 1, "time_elapsed": 900, "memory_total": 268967936}, True),
    # right after abortJob(): libvirt still answers for the job, cancelled, every figure zeroed
    ({**_ZEROED, "type": 5}, False),
    ({**_ZEROED, "type": 4}, False),
    ({**_ZEROED, "type": 3}, False),
    ({"type": 0}, False),
    ({"type": 2}, False),
])
def test_only_a_running_jobs_statistics_are_progress(stats: dict[str, int],
                                                     running: bool) -> None:
    """The monitor reads the source's ``jobStats()`` as the job's progress only while libvirt
    calls the job running: taking the zeroed record of a cancelled job would record the
    aborted pre-copy attempt as 0 passes and 0 MiB sent."""
    assert is_running(stats) is running


def test_a_sample_taken_while_qemu_cancels_does_not_undo_the_passes_seen() -> None:
    """After abortJob() QEMU reports the migration as cancelling without RAM figures, and
    libvirt may still call the job running, its figures zeroed: the cancelled attempt keeps
    the passes it made (the ladder climbed on them)."""
    core = Core.__new__(Core)  # only what sample() touches: the lock and the change marks
    core.lock, core.changed, core.wakeup = threading.RLock(), {}, threading.Event()
    job = _job()
    sixth = {**_ZEROED, "type": 2, "time_elapsed": 6100, "memory_total": 268967936,
             "memory_processed": 283000000, "memory_remaining": 66000000,
             "memory_iteration": 6}
    sample(core, job, sixth)
    sample(core, job, {**_ZEROED, "type": 2, "time_elapsed": 6400})
    assert job.live.iteration == 6 and job.live_raw == sixth
    sample(core, job, {**sixth, "memory_iteration": 7, "time_elapsed": 6900})
    assert job.live.iteration == 7


DEST_CLOSED = ("h2: live migration of live3 to h3: internal error: qemu unexpectedly closed the "
               "monitor: load of migration failed: Input/output error")
"""What libvirt raised on the testbed when the destination's QEMU lost the abort's race."""


@pytest.mark.parametrize(("aborting", "libvirt_says", "expected"), [
    (False, False, (JobPhase.FAILED, DEST_CLOSED)),
    (True, False, (JobPhase.CANCELLED, f"aborted on request; libvirt reported: {DEST_CLOSED}")),
    (True, True, (JobPhase.CANCELLED, DEST_CLOSED)),
    (False, True, (JobPhase.CANCELLED, DEST_CLOSED)),
])
def test_an_abort_asked_for_ends_cancelled_and_says_so_whatever_libvirt_raised(
        aborting: bool, libvirt_says: bool, expected: tuple[JobPhase, str]) -> None:
    assert ended(aborting, libvirt_says, DEST_CLOSED) == expected
