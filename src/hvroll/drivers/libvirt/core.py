"""The libvirt driver's shared state: settings, job records, host links, the live view.

Jobs run in threads (``migrateToURI3`` blocks for the whole migration); each thread records
its job's progress and outcome here, under one lock, and :meth:`Core.notify` wakes a waiting
``wait()``. The public methods of :class:`~hvroll.drivers.libvirt.cloud.LibvirtCloud` only
read these records, so they never block on a migration.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hvroll.domain import Fleet, Host, PowerState
from hvroll.drivers.base import Clock, JobKind, JobPhase, JobProgress, MigrationOptions
from hvroll.drivers.libvirt.ledger import JobRecord, Ledger
from hvroll.drivers.libvirt.links import HostLink, libvirt_with_events
from hvroll.drivers.libvirt.stats import Figures
from hvroll.errors import ConnectionLostError, DriverError, InputError
from hvroll.virt.domxml import Seen, placement


@dataclass(frozen=True, slots=True)
class Settings:
    """How the driver behaves; units in names."""

    poll_s: float = 0.5
    """Longest ``wait()`` and the interval between two reads of a running job's statistics
    (a new migration pass is read at once, on libvirt's iteration event)."""
    bandwidth_mib_s: float | None = None
    """Bandwidth cap of migrations whose options set none (as Nova's
    ``live_migration_bandwidth``); None: as fast as the link allows."""
    shared_paths: tuple[Path, ...] = ()
    """Directories every host sees as the same storage: file disks there are ``shared``, and
    their migration gets ``VIR_MIGRATE_UNSAFE`` (libvirt cannot be told they are shared)."""
    completed_stats_timeout_s: float = 2.0
    """How long to wait for the source's ``JOB_COMPLETED`` event when the destination has no
    completed statistics (post-copy)."""
    shutdown_timeout_s: float = 60.0
    """Cold migration of a running VM: how long its guest may take to shut down before it is
    destroyed."""
    abort_grace_s: float = 2.0
    """An abort issued before libvirt shows the migration job is retried this long."""


@dataclass(eq=False)
class Job:
    """One job and everything known about it; changed under :attr:`Core.lock`."""

    id: str
    kind: JobKind
    started_s: float
    vm: str | None = None
    source: str | None = None
    dest: str | None = None
    profile: str | None = None
    options: MigrationOptions | None = None
    flags: tuple[str, ...] = ()
    phase: JobPhase = JobPhase.RUNNING
    error: str | None = None
    ended_s: float | None = None
    live: Figures = field(default_factory=Figures)
    """The latest statistics of a running migration."""
    live_raw: dict[str, Any] = field(default_factory=dict)
    pass_remaining_mib: dict[int, float] = field(default_factory=dict)
    """Memory left at the start of each pass (read on the pass's iteration event)."""
    dirty_rate_mib_s: float = 0.0
    """The latest non-zero dirty rate seen (completed statistics report 0)."""
    final: Figures | None = None
    final_raw: dict[str, Any] = field(default_factory=dict)
    stats_from: str = ""
    """``destination``, ``source_event``, ``journal`` or ``none``."""
    source_event: dict[str, Any] | None = None
    aborting: bool = False
    adopted: bool = False
    """Found in the journal after a restart: no thread of this process started it."""
    pending: bool = False
    """Adopted and not yet matched with the cloud's live view."""
    extra: dict[str, Any] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)
    event_arrived: threading.Event = field(default_factory=threading.Event)

    @property
    def ended(self) -> bool:
        return self.phase in (JobPhase.COMPLETED, JobPhase.FAILED, JobPhase.CANCELLED)

    def progress(self, now_s: float) -> JobProgress:
        end_s = self.ended_s if self.ended_s is not None else now_s
        if self.kind is not JobKind.LIVE_MIGRATION:
            return JobProgress(job=self.id, kind=self.kind, phase=self.phase, vm=self.vm,
                               source=self.source, dest=self.dest, started_s=self.started_s,
                               elapsed_s=end_s - self.started_s, error=self.error,
                               extra={"profile": self.profile, **self.extra})
        done = self.phase is JobPhase.COMPLETED
        f = self.final if self.final is not None else self.live
        elapsed = f.elapsed_s if done and f.elapsed_s > 0 else end_s - self.started_s
        if done:
            remaining = 0.0
        elif f.iteration >= 2 and f.iteration in self.pass_remaining_mib:
            remaining = self.pass_remaining_mib[f.iteration]
        else:
            remaining = f.remaining_mib
        running = not self.ended
        extra = {"flags": list(self.flags), "stats": dict(self.final_raw or self.live_raw),
                 "stats_from": self.stats_from, "memory_remaining_mib": f.remaining_mib,
                 "postcopy_requests": f.postcopy_requests,
                 "wall_s": end_s - self.started_s, **self.extra}
        if self.source_event is not None:
            extra["source_completed"] = dict(self.source_event)
        return JobProgress(
            job=self.id, kind=self.kind, phase=self.phase, vm=self.vm, source=self.source,
            dest=self.dest, started_s=self.started_s, elapsed_s=elapsed,
            total_mib=f.total_mib, processed_mib=f.processed_mib, remaining_mib=remaining,
            iteration=f.iteration,
            dirty_rate_mib_s=f.dirty_rate_mib_s if running else self.dirty_rate_mib_s,
            expected_downtime_ms=(self.live.downtime_ms or 0.0) if running else 0.0,
            throttle_pct=self.live.throttle_pct if running else 0,
            downtime_ms=f.downtime_ms if done else None, error=self.error, extra=extra)


class Core:
    """State shared by the driver's public methods and its job threads."""

    def __init__(self, fleet: Fleet, settings: Settings, clock: Clock, ledger: Ledger) -> None:
        missing = [h.name for h in fleet.hosts if not h.libvirt_uri]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more"
                                              if len(missing) > 5 else "")
            raise InputError(f"the libvirt driver needs a libvirt_uri for every host of the "
                             f"inventory (missing for {shown}); e.g. "
                             f"libvirt_uri: qemu+tls://HOST/system")
        self.lv = libvirt_with_events()
        self.fleet = fleet
        self.settings = settings
        self.clock = clock
        self.ledger = ledger
        self.hosts: dict[str, Host] = {h.name: h for h in fleet.hosts}
        self.links = {h.name: HostLink(h.name, h.libvirt_uri or "", self) for h in fleet.hosts}
        self.lock = threading.RLock()
        self.jobs: dict[str, Job] = {}
        self.changed: dict[str, None] = {}
        self.wakeup = threading.Event()
        self.reinstalling: dict[str, str] = {}
        """Hosts whose reinstall hook runs now, and its job."""
        self.reinstall_pending: set[str] = set()
        """Hosts whose last reinstall did not complete: their daemon may be down, and they
        held no domain when it started."""
        self._replay(ledger)

    # -- the journal after a restart --------------------------------------------------------

    def _replay(self, ledger: Ledger) -> None:
        now_s, wall = self.clock.now(), ledger.wall()
        for record in ledger.state.jobs.values():
            job = _job_from_record(record, now_s - max(0.0, wall - record.started_at))
            self.jobs[job.id] = job
            if job.kind is JobKind.REINSTALL and job.source is not None:
                if job.phase is JobPhase.COMPLETED:
                    self.reinstall_pending.discard(job.source)
                else:
                    self.reinstall_pending.add(job.source)
            if record.end is None and job.kind is JobKind.REINSTALL:
                self.finish(job, JobPhase.FAILED,
                            "interrupted: the process that ran the reinstall hook ended before "
                            "the hook did; the executor runs it again")

    # -- events (EventSink) -----------------------------------------------------------------

    def _latest_live(self, host: str, vm: str) -> Job | None:
        found = None
        with self.lock:
            for job in self.jobs.values():
                if job.kind is JobKind.LIVE_MIGRATION and job.source == host and job.vm == vm \
                        and (found is None or job.started_s >= found.started_s):
                    found = job
        return found

    def iteration(self, host: str, vm: str, iteration: int) -> None:
        job = self._latest_live(host, vm)
        if job is not None and not job.ended:
            job.wake.set()

    def job_completed(self, host: str, vm: str, stats: dict[str, Any]) -> None:
        job = self._latest_live(host, vm)
        if job is not None:
            with self.lock:
                job.source_event = stats
            job.event_arrived.set()
            job.wake.set()

    # -- job bookkeeping ----------------------------------------------------------------------

    def add(self, job: Job, **fields: Any) -> None:
        """Register a new job and write its intent to the journal."""
        with self.lock:
            self.jobs[job.id] = job
            self.changed[job.id] = None
        self.ledger.started(job.id, job.kind.value, **fields)

    def notify(self, job: Job) -> None:
        with self.lock:
            self.changed[job.id] = None
        self.wakeup.set()

    def finish(self, job: Job, phase: JobPhase, error: str | None = None, *,
               final: Figures | None = None, raw: dict[str, Any] | None = None,
               stats_from: str = "") -> None:
        with self.lock:
            if job.ended:
                return
            job.phase, job.error, job.ended_s = phase, error, self.clock.now()
            job.final, job.final_raw = final, dict(raw or {})
            job.stats_from = stats_from or job.stats_from
            job.pending = False
            self.changed[job.id] = None
            if job.kind is JobKind.REINSTALL and job.source is not None:
                self.reinstalling.pop(job.source, None)
                if phase is JobPhase.COMPLETED:
                    self.reinstall_pending.discard(job.source)
        figures: dict[str, Any] = {"stats_from": job.stats_from,
                                   "dirty_rate_mib_s": job.dirty_rate_mib_s}
        if final is not None:
            figures.update(final.as_dict(), raw=job.final_raw)
        self.ledger.ended(job.id, phase.value, error, figures)
        job.done.set()
        job.wake.set()
        self.wakeup.set()

    def take_changed(self) -> list[str]:
        """Jobs that changed since the last call, then every other running job."""
        with self.lock:
            out = dict(self.changed)
            self.changed.clear()
            out.update((j.id, None) for j in self.jobs.values() if not j.ended)
        return list(out)

    def running_on(self, vm: str) -> Job | None:
        with self.lock:
            return next((j for j in self.jobs.values() if j.vm == vm and not j.ended
                         and j.kind is not JobKind.REINSTALL), None)

    def moving_through(self, host: str) -> Job | None:
        with self.lock:
            return next((j for j in self.jobs.values() if not j.ended
                         and j.kind is not JobKind.REINSTALL and host in (j.source, j.dest)),
                        None)

    # -- the live view ----------------------------------------------------------------------

    def link(self, host: str) -> HostLink:
        found = self.links.get(host)
        if found is None:
            raise DriverError(f"unknown host {host!r} (not in the driver's inventory)")
        return found

    def seen_on(self, host: str) -> list[Seen]:
        """Every domain of ``host``'s daemon (raises ``ConnectionLostError``)."""
        lv = self.lv

        def listing(conn: Any) -> list[Seen]:
            persistent = {d.name() for d in
                          conn.listAllDomains(lv.VIR_CONNECT_LIST_DOMAINS_PERSISTENT)}
            return [Seen(host, dom.name(), dom.name() in persistent,
                         int(rec.get("state.state", 0)))
                    for dom, rec in conn.getAllDomainStats(lv.VIR_DOMAIN_STATS_STATE, 0)]

        return self.link(host).call("list its domains", listing)

    def quiet(self, host: str) -> bool:
        """A host that may be down without hiding a VM: its reinstall runs, or did not
        complete (it held no domain when it started)."""
        with self.lock:
            return host in self.reinstalling or host in self.reinstall_pending

    def scan(self) -> list[Seen]:
        """Every domain of every host; a host that does not answer raises, unless it is
        :meth:`quiet`."""
        out: list[Seen] = []
        for name in self.hosts:
            with self.lock:
                if name in self.reinstalling:
                    continue
            try:
                out += self.seen_on(name)
            except ConnectionLostError:
                if not self.quiet(name):
                    raise
        return out

    def locate(self, vm: str) -> tuple[tuple[str, ...], PowerState, list[Seen]]:
        copies = [s for s in self.scan() if s.name == vm]
        hosts, power = placement(copies)
        return hosts, power, copies

    def active_host(self, vm: str) -> str:
        """The one host where ``vm`` runs (or is paused); DriverError otherwise."""
        hosts, power, copies = self.locate(vm)
        if not copies:
            raise DriverError(f"unknown VM {vm!r}: no host of the inventory has a domain of "
                              f"that name")
        if len(hosts) != 1:
            raise DriverError(f"{vm} is defined on {len(hosts)} hosts ({', '.join(hosts)}): "
                              f"undefine the stale copy first")
        if power not in (PowerState.RUNNING, PowerState.PAUSED):
            raise DriverError(f"{vm} is {power.value}, not running or paused", host=hosts[0])
        return hosts[0]


def _job_from_record(record: JobRecord, started_s: float) -> Job:
    f = record.fields
    kind = JobKind(record.kind)
    job = Job(id=record.job, kind=kind, started_s=started_s, vm=f.get("vm"),
              source=f.get("source") or f.get("host"), dest=f.get("dest"),
              profile=f.get("profile"), flags=tuple(f.get("flags", ())), adopted=True)
    if "options" in f:
        job.options = MigrationOptions(**f["options"])
    if record.end is None:
        job.pending = kind is not JobKind.REINSTALL
        return job
    end = record.end
    job.phase = JobPhase(end["phase"])
    job.error = end.get("error")
    job.ended_s = started_s
    figures = dict(end.get("figures") or {})
    job.stats_from = "journal"
    job.dirty_rate_mib_s = float(figures.get("dirty_rate_mib_s", 0.0))
    job.final_raw = dict(figures.pop("raw", {}) or {})
    if "elapsed_s" in figures:
        job.final = Figures.from_dict(figures)
        job.ended_s = started_s + job.final.elapsed_s
    job.done.set()
    return job
