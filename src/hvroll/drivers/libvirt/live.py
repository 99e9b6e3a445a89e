"""Live migration jobs: a worker thread blocked in ``migrateToURI3`` and a monitor thread
reading the source's ``jobStats()``.

The monitor reads the statistics every ``poll_s`` and at once when libvirt announces a new
pass (``MIGRATION_ITERATION``), so the memory a pass starts with is read at its start: that is
what the executor's ladder compares from pass to pass to tell a converging migration from a
stalled one (QEMU's ``memory_remaining`` itself falls to zero within every pass).

When the migration returns, the completed statistics come from the destination
(``jobStats(COMPLETED | KEEP_COMPLETED)``: the source domain is gone with ``UNDEFINE_SOURCE``;
kept, so that ``virsh domjobinfo --completed`` or a restarted hvroll can read them too) or,
after a post-copy migration whose destination keeps none, from the source's ``JOB_COMPLETED``
event.
After a restart, a migration the journal says was started is matched with the cloud: still
running on its source (followed to its end), completed (the destination's statistics), or
ended without moving the VM (failed).
"""

from __future__ import annotations

import threading
from typing import Any

from hvroll.drivers.base import JobPhase
from hvroll.drivers.libvirt.core import Core, Job
from hvroll.drivers.libvirt.links import translate
from hvroll.drivers.libvirt.stats import figures, has_figures, is_running
from hvroll.errors import DriverError
from hvroll.virt.binding import close_quietly


def start(core: Core, job: Job, dest_uri: str, params: dict[str, Any], flags: int) -> None:
    threading.Thread(target=_run, args=(core, job, dest_uri, params, flags),
                     name=f"migrate-{job.id}", daemon=True).start()


def _run(core: Core, job: Job, dest_uri: str, params: dict[str, Any], flags: int) -> None:
    lv = core.lv
    assert job.source is not None and job.vm is not None and job.options is not None
    link = core.link(job.source)
    conn = None
    try:
        conn = link.private()
        dom = conn.lookupByName(job.vm)
        if job.options.max_downtime_ms > 0:
            dom.migrateSetMaxDowntime(job.options.max_downtime_ms)
        if job.aborting:
            core.finish(job, JobPhase.CANCELLED, "aborted before the migration started")
            return
        _monitor_thread(core, job)
        dom.migrateToURI3(dest_uri, params, flags)
    except lv.libvirtError as exc:
        error = translate(lv, exc, host=job.source, what=f"live migration of {job.vm} to "
                          f"{job.dest}", uri=link.uri, conn=conn)
        core.finish(job, *ended(job.aborting,
                                exc.get_error_code() == lv.VIR_ERR_OPERATION_ABORTED,
                                str(error)))
        return
    except DriverError as exc:
        core.finish(job, JobPhase.FAILED, str(exc))
        return
    finally:
        close_quietly(conn)
    _completed(core, job)


def ended(aborting: bool, libvirt_says_aborted: bool, error: str) -> tuple[JobPhase, str]:
    """The phase and message of a migration ``migrateToURI3`` ended with an error.

    An abort hvroll asked for is CANCELLED whatever libvirt answers: the source's QEMU may lose
    the race to the destination's, whose complaint ("load of migration failed") then becomes
    the error, so the message says first that the abort was asked for."""
    if not (aborting or libvirt_says_aborted):
        return JobPhase.FAILED, error
    if libvirt_says_aborted:
        return JobPhase.CANCELLED, error
    return JobPhase.CANCELLED, f"aborted on request; libvirt reported: {error}"


def _completed(core: Core, job: Job) -> None:
    """Record a migration that returned successfully, with its completed statistics."""
    assert job.dest is not None and job.vm is not None
    lv, vm = core.lv, job.vm
    raw: dict[str, Any] = {}
    try:
        raw = core.link(job.dest).call(
            "read the completed migration's statistics",
            lambda c: c.lookupByName(vm).jobStats(lv.VIR_DOMAIN_JOB_STATS_COMPLETED
                                                  | lv.VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED))
    except DriverError:
        raw = {}
    stats_from = "destination"
    if not has_figures(raw):
        job.event_arrived.wait(core.settings.completed_stats_timeout_s)
        with core.lock:
            raw = dict(job.source_event or {})
        stats_from = "source_event" if has_figures(raw) else "none"
    core.finish(job, JobPhase.COMPLETED, final=figures(raw) if has_figures(raw) else None,
                raw=raw, stats_from=stats_from)


def _monitor_thread(core: Core, job: Job) -> None:
    threading.Thread(target=_monitor, args=(core, job), name=f"monitor-{job.id}",
                     daemon=True).start()


def _monitor(core: Core, job: Job) -> None:
    """Read the job's statistics until it ends (or, adopted, until libvirt's job is gone)."""
    lv = core.lv
    assert job.source is not None and job.vm is not None
    link, vm = core.link(job.source), job.vm
    first = True
    while not job.done.is_set():
        if not first:
            job.wake.wait(core.settings.poll_s)
            job.wake.clear()
        first = False
        if job.done.is_set():
            break
        try:
            raw = link.call("read the migration's statistics",
                            lambda c: c.lookupByName(vm).jobStats())
        except DriverError as exc:
            if job.adopted and _gone(lv, exc):
                resolve(core, job)
                return
            continue
        if not is_running(raw):  # none, or libvirt's record of its end (cancelled)
            if job.adopted:
                resolve(core, job)
                return
            continue
        sample(core, job, raw)


def _gone(lv: Any, exc: DriverError) -> bool:
    cause = exc.__cause__
    return isinstance(cause, lv.libvirtError) and cause.get_error_code() == lv.VIR_ERR_NO_DOMAIN


def sample(core: Core, job: Job, raw: dict[str, Any]) -> None:
    f = figures(raw)
    with core.lock:
        if job.ended or f.iteration < job.live.iteration:
            return  # a pass count never goes back: QEMU cancelling reports no RAM figures
        new_pass = f.iteration != job.live.iteration
        if f.iteration >= 2 and f.iteration not in job.pass_remaining_mib:
            job.pass_remaining_mib[f.iteration] = f.remaining_mib
        job.live, job.live_raw = f, raw
        if f.dirty_rate_mib_s > 0:
            job.dirty_rate_mib_s = f.dirty_rate_mib_s
        core.changed[job.id] = None
    if new_pass:
        core.wakeup.set()


# -- after a restart ------------------------------------------------------------------------


def adopt(core: Core, job: Job) -> None:
    """Match a migration the journal says was started with the cloud (raises
    ``ConnectionLostError`` if its source does not answer; try again later)."""
    assert job.source is not None and job.vm is not None
    vm = job.vm
    try:
        raw = core.link(job.source).call("read the migration's statistics",
                                         lambda c: c.lookupByName(vm).jobStats())
    except DriverError as exc:
        if not _gone(core.lv, exc):
            raise
        raw = {}
    with core.lock:
        job.pending = False
    if is_running(raw):
        sample(core, job, raw)
        _monitor_thread(core, job)
        return
    resolve(core, job)


def resolve(core: Core, job: Job) -> None:
    """A migration that ended while nobody watched: completed if the VM is on its destination
    only, failed otherwise."""
    assert job.vm is not None
    hosts, _, _ = core.locate(job.vm)
    if hosts == (job.dest,):
        _completed(core, job)
        return
    where = ", ".join(hosts) or "no host"
    if job.aborting and hosts == (job.source,):
        core.finish(job, JobPhase.CANCELLED, f"aborted; {job.vm} stays on {job.source}")
        return
    core.finish(job, JobPhase.FAILED,
                f"the migration ended while hvroll was not following it, and {job.vm} is on "
                f"{where} (expected {job.dest})")
