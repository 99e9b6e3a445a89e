"""Conformance: moving VMs — live and cold migration, progress, abort, and jobs found again
by a driver opened on the same journal after a restart."""

from __future__ import annotations

import pytest

from drivers.contract.backends import Backend
from hvroll.domain import PowerState
from hvroll.drivers.base import Capability, JobKind, JobPhase, MigrationOptions, has, require
from hvroll.errors import CapabilityError


def test_a_live_migration_moves_a_running_vm_and_reports_its_figures(backend: Backend) -> None:
    driver = backend.driver()
    name = backend.vm()
    mover = require(driver, Capability.LIVE_MIGRATION)
    mover.migrate("live", name, backend.dest, MigrationOptions(max_downtime_ms=300))
    p = backend.until_final(driver, "live")
    assert (p.job, p.kind, p.phase) == ("live", JobKind.LIVE_MIGRATION, JobPhase.COMPLETED), p
    assert (p.vm, p.source, p.dest) == (name, backend.source, backend.dest)
    assert p.total_mib > 0 and p.processed_mib > 0 and p.elapsed_s > 0
    if has(driver, Capability.MEASURED_DOWNTIME):
        assert p.downtime_ms is not None and p.downtime_ms >= 0
    else:  # a backend that cannot measure the downtime does not invent one
        assert p.downtime_ms is None
    seen = driver.vm(name)
    assert (seen.hosts, seen.power) == ((backend.dest,), PowerState.RUNNING)
    assert name in driver.host(backend.dest).vms
    assert name not in driver.host(backend.source).vms


def test_progress_grows_while_a_migration_runs_then_abort_keeps_the_vm_on_its_source(
        backend: Backend) -> None:
    driver = backend.driver()
    name = backend.vm()
    mover = require(driver, Capability.LIVE_MIGRATION)
    mover.migrate("slow", name, backend.dest, backend.slow_options(driver, name))
    first = backend.until(driver, "slow", lambda p: p.processed_mib > 0, "sent memory")
    assert first.phase is JobPhase.RUNNING and first.total_mib > 0
    later = backend.until(driver, "slow", lambda p: p.processed_mib > first.processed_mib,
                          "sent more memory")
    assert later.elapsed_s > first.elapsed_s
    mover.abort("slow")
    reported: set[str] = set()
    for _ in range(backend.patience):
        reported.update(driver.wait(backend.poll_s))
        if driver.job("slow").final and "slow" in reported:
            break
    assert "slow" in reported  # wait() tells about the job that changed
    p = driver.job("slow")
    assert p.phase is JobPhase.CANCELLED, p
    seen = driver.vm(name)
    assert (seen.hosts, seen.power) == ((backend.source,), PowerState.RUNNING)


def test_a_cold_migration_moves_a_shut_off_vm(backend: Backend) -> None:
    driver = backend.driver()
    name = backend.vm(running=False)
    require(driver, Capability.COLD_MIGRATION).cold_migrate("cold", name, backend.dest)
    p = backend.until_final(driver, "cold")
    assert (p.kind, p.phase, p.vm, p.dest) == (JobKind.COLD_MIGRATION, JobPhase.COMPLETED,
                                               name, backend.dest), p
    seen = driver.vm(name)
    assert (seen.hosts, seen.power) == ((backend.dest,), PowerState.SHUTOFF)


def test_a_driver_opened_on_the_same_journal_finds_its_jobs_and_marks_again(
        backend: Backend) -> None:
    """Jobs and scheduling marks outlive the driver: a restarted one finds a finished job
    with its outcome and a running one still running, and can act on it."""
    first = backend.driver()
    done, moving = backend.vm(), backend.vm()
    mover = require(first, Capability.LIVE_MIGRATION)
    first.set_scheduling(backend.source, False)  # the host being drained
    mover.migrate("done", done, backend.dest, MigrationOptions())
    finished = backend.until_final(first, "done")
    assert finished.phase is JobPhase.COMPLETED
    slow = backend.slow_options(first, moving)
    mover.migrate("moving", moving, backend.dest, slow)
    backend.until(first, "moving", lambda p: p.processed_mib > 0, "sent memory")
    first.close()

    second = backend.driver()
    jobs = {p.job: p for p in second.jobs()}
    assert jobs["done"].phase is JobPhase.COMPLETED
    assert (jobs["done"].vm, jobs["done"].dest) == (done, backend.dest)
    assert jobs["moving"].phase is JobPhase.RUNNING, jobs["moving"]
    assert second.host(backend.source).scheduling.value == "disabled"
    mover = require(second, Capability.LIVE_MIGRATION)
    mover.migrate("moving", moving, backend.dest, slow)  # the same key again: a no-op
    assert [p.job for p in second.jobs()].count("moving") == 1
    mover.abort("moving")
    assert backend.until_final(second, "moving").phase is JobPhase.CANCELLED
    assert second.vm(moving).hosts == (backend.source,)
    assert second.vm(done).hosts == (backend.dest,)


@pytest.mark.parametrize(("option", "capability"), [
    (MigrationOptions(bandwidth_mib_s=50.0), Capability.BANDWIDTH_LIMIT),
    (MigrationOptions(auto_converge=True), Capability.AUTO_CONVERGE),
    (MigrationOptions(post_copy=True), Capability.POST_COPY),
    (MigrationOptions(block=True), Capability.BLOCK_MIGRATION),
], ids=["bandwidth_limit", "auto_converge", "post_copy", "block_migration"])
def test_an_option_the_backend_does_not_declare_is_refused_before_anything_starts(
        backend: Backend, option: MigrationOptions, capability: Capability) -> None:
    driver = backend.driver()
    if has(driver, capability):  # declared: accepted (and used by the tests above)
        assert require(driver, capability) is driver
        return
    name = backend.vm()
    with pytest.raises(CapabilityError, match=f"cannot do {capability.value}"):
        require(driver, Capability.LIVE_MIGRATION).migrate("opt", name, backend.dest, option)
    assert driver.jobs() == []
    assert driver.vm(name).hosts == (backend.source,)
