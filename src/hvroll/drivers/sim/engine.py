"""The simulated cloud's dynamics: virtual time, its event queue, and jobs stepping through it
on shared links.

Virtual time only moves when the cloud processes events (``wait``) or when the executor sleeps;
nothing happens between two calls, so a campaign of days runs in seconds.

:class:`World` holds the live state and moves it forward. Its methods assume valid requests
(:class:`~hvroll.drivers.sim.cloud.SimCloud` checks them and answers the executor); everything
here is deterministic given the seed, the faults and the sequence of calls.

Bandwidth: a migration gets ``min(source link / migrations leaving the source, destination
link / migrations entering it, its own cap)``. When a migration starts or ends, the links it
used are marked and, before time moves on, every migration on them is brought up to date at
its old rate and rescheduled at its new one (superseded events are skipped by version).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

from hvroll.domain import CpuGeneration, Fleet, GuestCpu, HostProfile, PowerState, SchedulingState
from hvroll.drivers.base import JobKind, JobPhase, JobProgress, MigrationOptions
from hvroll.drivers.sim import faults as failures
from hvroll.drivers.sim import model
from hvroll.drivers.sim.faults import Faults, SimulatedCrash
from hvroll.drivers.sim.model import rng
from hvroll.drivers.sim.state import (
    BOOT,
    COPY,
    DISK,
    DONE,
    LINK_STEPS,
    POST,
    RAM,
    REINSTALL,
    STOP,
    TRANSFER_STEPS,
    SimHost,
    SimJob,
    SimVm,
    Views,
    build_hosts,
    build_vms,
    place,
    progress,
    unplace,
)

JOB_STEP = 0
"""An event that ends the current step of a job (a pass, a disk copy, a reinstall, …)."""
HOST_CRASH = 1
"""An event that takes a host down."""

Event = tuple[float, int, int, str, int]
"""``(time_s, sequence, kind, key, version)``: the sequence number keeps equal times in the order
they were scheduled, so processing never depends on anything but the calls made."""


class SimClock:
    """The :class:`~hvroll.drivers.base.Clock` of a simulated cloud, in virtual seconds.

    ``sleep`` advances virtual time and processes every event due meanwhile, through the cloud
    it belongs to. A clock on its own just moves its time.
    """

    __slots__ = ("_now", "_sleeper")

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = start_s
        self._sleeper: Callable[[float], None] | None = None

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        if self._sleeper is not None:
            self._sleeper(seconds)
        elif seconds > 0:
            self._now += seconds

    def bind(self, sleeper: Callable[[float], None]) -> None:
        """Route ``sleep`` through ``sleeper`` (the cloud, which processes events meanwhile)."""
        self._sleeper = sleeper

    def move_to(self, time_s: float) -> None:
        """Set the time forward to ``time_s`` (never backward)."""
        if time_s > self._now:
            self._now = time_s


class EventQueue:
    """A heap of future events; O(log n) to schedule and to take the next one.

    An event whose ``version`` no longer matches its job's was superseded (the job was
    rescheduled when its bandwidth changed, or ended); the reader skips it.
    """

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[Event] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, time_s: float, kind: int, key: str, version: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (time_s, self._seq, kind, key, version))

    def next_time(self) -> float:
        """When the next event is due; infinity when none is scheduled."""
        return self._heap[0][0] if self._heap else math.inf

    def pop(self) -> Event:
        return heapq.heappop(self._heap)


class World:
    """Hosts, VMs and jobs of one simulated cloud, and the events that move them."""

    def __init__(self, fleet: Fleet, seed: int, faults: Faults) -> None:
        self.seed = seed
        self.faults = faults
        self.clock = SimClock()
        self.queue = EventQueue()
        self.hosts = build_hosts(fleet)
        self.vms = build_vms(fleet, seed, self.hosts)
        self.profiles = {p.name: p for p in fleet.profiles}
        self.generations = dict(fleet.generation_by_name)
        self.views = Views(self.hosts, self.vms)
        self.cluster_hosts: dict[str, list[SimHost]] = {}
        for host in self.hosts.values():
            self.cluster_hosts.setdefault(host.cluster, []).append(host)
        self.jobs: dict[str, SimJob] = {}
        self.active: dict[str, None] = {}
        """Jobs not final yet, in the order they started."""
        self.moving: dict[str, dict[str, None]] = {}
        """Migrations not final yet by host they leave or enter, in the order they started
        (what a reinstall's safety check asks, without a scan of every active job)."""
        self.changed: dict[str, None] = {}
        """Jobs whose state changed since the executor last asked (``wait``)."""
        self.events = 0
        """Events processed by this object (live or replayed)."""
        self.crash_at: int | None = None
        """Raise :class:`SimulatedCrash` once ``events`` reaches this."""
        self._stale_links: dict[tuple[str, bool], None] = {}
        """``(host, outgoing)`` links whose migrations need their bandwidth recomputed."""
        self._schedule_host_crashes()

    def _schedule_host_crashes(self) -> None:
        for host, at_s in self.faults.host_crashes:
            self.queue.push(at_s, HOST_CRASH, host)
        rate_per_s = self.faults.host_crash_rate_per_h / 3600.0
        if rate_per_s > 0:
            for name in self.hosts:
                self.queue.push(rng(self.seed, "host-crash", name).expovariate(rate_per_s),
                                HOST_CRASH, name)

    # --- time -----------------------------------------------------------------------------

    def advance(self, deadline_s: float, *, stop_on_change: bool) -> None:
        """Process every event due up to ``deadline_s`` and move the clock there; with
        ``stop_on_change``, stop instead after the first instant at which a job changed.

        Called once per event or so (the executor waits for each change), so the loop reads
        the queue's heap and the clock's time directly, and re-shares bandwidth only when a
        link changed."""
        if self._stale_links:
            self.reshare()
        heap, clock, jobs, changed = self.queue._heap, self.clock, self.jobs, self.changed
        pop = heapq.heappop
        while heap:
            at_s = heap[0][0]
            if at_s > deadline_s or (stop_on_change and changed and at_s > clock._now):
                break
            _, _, kind, key, version = pop(heap)
            if kind == JOB_STEP:
                job = jobs[key]
                if job.version != version:
                    continue
                if at_s > clock._now:
                    clock._now = at_s
                self._step(job)
            else:
                if at_s > clock._now:
                    clock._now = at_s
                self._crash_host(self.hosts[key])
            if self._stale_links:
                self.reshare()
            self.events += 1
            if self.crash_at is not None and self.events >= self.crash_at:
                self.crash_at = None
                raise SimulatedCrash(f"simulated orchestrator crash after {self.events} events "
                                     f"at t={clock.now():.3f} s")
        if not (stop_on_change and changed) and deadline_s > clock._now \
                and not math.isinf(deadline_s):
            clock._now = deadline_s

    def _schedule(self, job: SimJob, at_s: float) -> None:
        job.version += 1
        self.queue.push(at_s, JOB_STEP, job.id, job.version)

    def _changed(self, job: SimJob) -> None:
        self.changed[job.id] = None

    # --- bandwidth --------------------------------------------------------------------------

    @staticmethod
    def rate_of(job: SimJob) -> float:
        """The bandwidth ``job`` gets now from its links (0 when it holds none)."""
        route = job.route
        if route is None or job.step not in LINK_STEPS:
            return 0.0
        src, dst = route
        return model.shared_rate_mib_s(src.link_mib_s, len(src.outgoing), dst.link_mib_s,
                                       len(dst.incoming), job.cap_mib_s)

    def _join_link(self, job: SimJob) -> None:
        assert job.route is not None
        src, dst = job.route
        src.outgoing[job.id] = None
        dst.incoming[job.id] = None
        self._stale_links[(src.name, True)] = None
        self._stale_links[(dst.name, False)] = None

    def _leave_link(self, job: SimJob) -> None:
        assert job.route is not None
        src, dst = job.route
        if job.id in src.outgoing:
            del src.outgoing[job.id]
            self._stale_links[(src.name, True)] = None
        if job.id in dst.incoming:
            del dst.incoming[job.id]
            self._stale_links[(dst.name, False)] = None

    def reshare(self) -> None:
        """Give every migration on a link that changed its new bandwidth: the rate
        :meth:`rate_of` gives, computed inline (this runs after most events; a test holds the
        two to the same values). The changed link's share is divided out once for all its
        migrations; each takes the smaller of it and its other link's share, within its cap,
        with :func:`model.shared_rate_mib_s`'s operations in the same order. A migration is on
        its two links exactly while it is in a link step (a test holds this too), so it counts
        in both: no share divides by zero."""
        if not self._stale_links:
            return
        stale, self._stale_links = self._stale_links, {}
        now = self.clock._now
        hosts, jobs = self.hosts, self.jobs
        for host, outgoing in stale:
            on = hosts[host]
            link = on.outgoing if outgoing else on.incoming
            if not link:
                continue
            share = on.link_mib_s / len(link)
            for job_id in link:
                job = jobs[job_id]
                route = job.route
                assert route is not None
                if outgoing:
                    dst = route[1]
                    rate = min(share, dst.link_mib_s / len(dst.incoming))
                else:
                    src = route[0]
                    rate = min(src.link_mib_s / len(src.outgoing), share)
                if job.cap_mib_s is not None:
                    rate = min(rate, job.cap_mib_s)
                if rate == job.rate_mib_s:
                    continue
                self._account(job, now)
                job.rate_mib_s = rate
                if job.step in TRANSFER_STEPS:
                    left = job.step_total_mib - job.step_sent_mib
                    self._schedule(job, now + max(0.0, left) / rate)

    @staticmethod
    def guest_dirty_mib_s(job: SimJob) -> float:
        """How fast the guest being migrated dirties memory now (throttle applied)."""
        vm = job.guest
        if vm is None or vm.power is not PowerState.RUNNING:
            return 0.0
        return vm.dirty_mib_s * (1.0 - job.throttle_pct / 100.0)

    def _account(self, job: SimJob, now_s: float) -> None:
        """Bring the current step's figures up to ``now_s`` at the rates in force so far."""
        span = now_s - job.last_s
        if span > 0 and job.step in TRANSFER_STEPS:
            job.step_sent_mib = min(job.step_total_mib,
                                    job.step_sent_mib + job.rate_mib_s * span)
            if job.step == RAM:
                job.dirtied_mib += self.guest_dirty_mib_s(job) * span
        job.last_s = now_s

    def _finish_step(self, job: SimJob) -> float:
        """The current transfer step has sent everything: count it whole; returns its size."""
        self._account(job, self.clock.now())
        total = job.step_total_mib
        job.processed_mib += total
        job.step_total_mib = job.step_sent_mib = 0.0
        return total

    def _begin_transfer(self, job: SimJob, step: str, total_mib: float) -> None:
        job.step, job.step_total_mib, job.step_sent_mib = step, total_mib, 0.0
        job.dirtied_mib = 0.0
        job.last_s = now = self.clock.now()
        if job.rate_mib_s > 0:
            self._schedule(job, now + total_mib / job.rate_mib_s)

    # --- live migration ----------------------------------------------------------------------

    def start_live(self, job_id: str, vm: SimVm, dest: str, options: MigrationOptions,
                   refusal: str | None) -> SimJob:
        now = self.clock.now()
        job = SimJob(job_id, JobKind.LIVE_MIGRATION, now, vm=vm.name, source=vm.host,
                     dest=dest, guest=vm, route=(self.hosts[vm.host], self.hosts[dest]),
                     max_downtime_ms=options.max_downtime_ms,
                     cap_mib_s=options.bandwidth_mib_s, auto_converge=options.auto_converge,
                     post_copy=options.post_copy, block=options.block, ram_mib=vm.ram_mib,
                     disk_mib=vm.local_disk_mib if options.block else 0.0, last_s=now,
                     fails_at_pass=failures.failing_pass(self.seed, job_id,
                                                      self.faults.migration_failure_rate))
        self.jobs[job_id] = job
        if refusal is not None:
            job.step = DONE
            self._end(job, JobPhase.FAILED, refusal)
            return job
        vm.job = job_id
        self._activate(job)
        if job.disk_mib > 0:
            self._begin_transfer(job, DISK, job.disk_mib)
        else:
            self._begin_transfer(job, RAM, job.ram_mib)
        self._join_link(job)
        return job

    def _end_pass(self, job: SimJob) -> None:
        sent = self._finish_step(job)
        vm = self._vm_of(job)
        dirtied = min(job.dirtied_mib, job.ram_mib)
        rate = job.rate_mib_s
        converges = model.fits_downtime(dirtied, rate, job.max_downtime_ms)
        if job.fails_at_pass is not None and (job.iteration >= job.fails_at_pass or converges):
            self._fail(job, f"migration of {vm.name} to {job.dest} failed in pass "
                            f"{job.iteration} (injected fault)")
            return
        if job.auto_converge:
            job.throttle_pct, job.high_passes = model.throttle_step(
                job.throttle_pct, job.high_passes, dirtied, sent)
        job.iteration += 1
        self._changed(job)
        if not converges:
            self._begin_transfer(job, RAM, dirtied)
            return
        job.step, job.step_total_mib, job.step_sent_mib = STOP, dirtied, 0.0
        job.downtime_ms = model.stop_and_copy_ms(dirtied, rate)
        self._schedule(job, self.clock.now() + job.downtime_ms / 1000.0)

    def _complete_live(self, job: SimJob) -> None:
        vm = self._vm_of(job)
        if job.step == STOP:
            bug = self._balloon_bug(job, vm)
            if bug is not None:
                self._fail(job, bug)
                return
            job.processed_mib += job.step_total_mib
            self._move(vm, job.dest or "")
        else:
            self._finish_step(job)
        vm.migrations_since_power_cycle += 1
        self._end(job, JobPhase.COMPLETED)

    def _balloon_bug(self, job: SimJob, vm: SimVm) -> str | None:
        if not self.faults.known_issues:
            return None
        qemu = self.profiles[self.hosts[vm.host].profile].qemu_version
        return failures.balloon_bug(vm, qemu, job.dest or "")

    def set_max_downtime(self, job: SimJob, downtime_ms: int) -> None:
        job.max_downtime_ms = downtime_ms

    def start_post_copy(self, job: SimJob) -> None:
        now = self.clock.now()
        self._account(job, now)
        left = min(job.ram_mib, job.step_total_mib - job.step_sent_mib + job.dirtied_mib)
        job.processed_mib += job.step_sent_mib
        self._move(self._vm_of(job), job.dest or "")
        job.phase = JobPhase.POSTCOPY
        job.downtime_ms = model.POSTCOPY_SWITCH_MS
        self._begin_transfer(job, POST, left)
        self._changed(job)

    def abort(self, job: SimJob) -> None:
        self._end(job, JobPhase.CANCELLED, "aborted by the executor")

    # --- cold migration, reinstall ----------------------------------------------------------

    def start_cold(self, job_id: str, vm: SimVm, dest: str) -> SimJob:
        now = self.clock.now()
        job = SimJob(job_id, JobKind.COLD_MIGRATION, now, vm=vm.name, source=vm.host,
                     dest=dest, guest=vm, route=(self.hosts[vm.host], self.hosts[dest]),
                     disk_mib=vm.local_disk_mib, prev_power=vm.power, last_s=now,
                     fails=failures.cold_migration_fails(self.seed, job_id,
                                                      self.faults.migration_failure_rate))
        self.jobs[job_id] = job
        self._activate(job)
        vm.job = job_id
        self.set_power(vm, PowerState.SHUTOFF)
        if job.disk_mib > 0:
            self._begin_transfer(job, COPY, job.disk_mib)
            self._join_link(job)
        else:
            job.step = BOOT
            self._schedule(job, now + model.COLD_OVERHEAD_S)
        return job

    def _end_cold_copy(self, job: SimJob) -> None:
        self._finish_step(job)
        self._leave_link(job)
        job.step = BOOT
        self._schedule(job, self.clock.now() + model.COLD_OVERHEAD_S)
        self._changed(job)

    def _end_cold(self, job: SimJob) -> None:
        vm = self._vm_of(job)
        self.set_power(vm, job.prev_power or PowerState.SHUTOFF)
        if job.fails:
            self._fail(job, f"cold migration of {vm.name} to {job.dest} failed to start it "
                            f"there (injected fault)")
            return
        self._move(vm, job.dest or "")
        if vm.power is not PowerState.SHUTOFF:
            vm.power_cycled(self.boot_cpu(vm))
        self._end(job, JobPhase.COMPLETED)

    def start_reinstall(self, job_id: str, host: SimHost, profile: str) -> SimJob:
        now = self.clock.now()
        duration = model.reinstall_duration_s(self.seed, job_id)
        fail_after = failures.reinstall_fails_after_s(self.seed, job_id,
                                                      self.faults.reinstall_failure_rate, duration)
        job = SimJob(job_id, JobKind.REINSTALL, now, source=host.name, step=REINSTALL,
                     profile=profile, fails=fail_after is not None, fail_after_s=fail_after)
        self.jobs[job_id] = job
        self.active[job_id] = None
        host.reinstall = job_id
        self.views.host_changed(host.name)
        self._schedule(job, now + (duration if fail_after is None else fail_after))
        return job

    def _end_reinstall(self, job: SimJob) -> None:
        host = self.hosts[job.source or ""]
        host.reinstall = None
        host.crashed = False
        self.views.host_changed(host.name)
        if job.fails:
            self._end(job, JobPhase.FAILED, f"reinstall hook failed after "
                                            f"{job.fail_after_s or 0.0:.0f} s (injected fault); "
                                            f"{host.name} still runs {host.profile}")
            return
        host.profile = job.profile or host.profile
        self.views.host_changed(host.name)
        self._end(job, JobPhase.COMPLETED)

    # --- shared endings ---------------------------------------------------------------------

    def _step(self, job: SimJob) -> None:
        step = job.step
        if step == RAM:
            self._end_pass(job)
        elif step == DISK:
            self._finish_step(job)
            self._begin_transfer(job, RAM, job.ram_mib)
            self._changed(job)
        elif step in (STOP, POST):
            self._complete_live(job)
        elif step == COPY:
            self._end_cold_copy(job)
        elif step == BOOT:
            self._end_cold(job)
        elif step == REINSTALL:
            self._end_reinstall(job)

    def _fail(self, job: SimJob, error: str) -> None:
        self._end(job, JobPhase.FAILED, error)

    def _end(self, job: SimJob, phase: JobPhase, error: str | None = None) -> None:
        """Make the job final; a step cut short counts what it sent so far."""
        if job.step in TRANSFER_STEPS:
            self._account(job, self.clock.now())
            job.processed_mib += job.step_sent_mib
        if job.step in LINK_STEPS:
            self._leave_link(job)
        job.step = DONE
        job.phase = phase
        job.error = error
        job.ended_s = job.last_s = self.clock.now()
        job.version += 1
        if self.active.pop(job.id, 0) is None:
            for host in (job.source, job.dest):
                if host is not None and (on := self.moving.get(host)) is not None:
                    on.pop(job.id, None)
        if job.guest is not None and job.guest.job == job.id:
            job.guest.job = None
        self._changed(job)

    def _activate(self, job: SimJob) -> None:
        """A migration starts: it is active, and moving to or from its two hosts."""
        self.active[job.id] = None
        for host in (job.source, job.dest):
            if host is not None:
                self.moving.setdefault(host, {})[job.id] = None

    @staticmethod
    def _vm_of(job: SimJob) -> SimVm:
        assert job.guest is not None
        return job.guest

    def _move(self, vm: SimVm, dest: str) -> None:
        self.views.vm_changed(vm)
        unplace(self.hosts[vm.host], vm)
        place(self.hosts[dest], vm)
        self.views.vm_changed(vm)

    def set_power(self, vm: SimVm, power: PowerState) -> None:
        vm.power = power
        self.views.vm_changed(vm)

    # --- host crashes and HA ----------------------------------------------------------------

    def _crash_host(self, host: SimHost) -> None:
        if host.crashed or host.reinstall is not None:
            return
        host.crashed = True
        self.views.host_changed(host.name)
        for job_id in list(self.active):
            job = self.jobs[job_id]
            if host.name not in (job.source, job.dest) or job.kind is JobKind.REINSTALL:
                continue
            vm = self._vm_of(job)
            if job.kind is JobKind.COLD_MIGRATION:
                self.set_power(vm, job.prev_power or PowerState.SHUTOFF)
            elif job.step == POST and job.source == host.name:
                self.set_power(vm, PowerState.CRASHED)  # its memory stayed on the source
            self._fail(job, f"{host.name} crashed during the migration of {vm.name}")
        for name in sorted(host.vms):
            self._restart_elsewhere(self.vms[name], host)

    def _restart_elsewhere(self, vm: SimVm, crashed: SimHost) -> None:
        """HA: start the VM on the up, schedulable host of its cluster with the most free RAM
        that has room for it and no member of its anti-affinity group."""
        best: SimHost | None = None
        for host in self.cluster_hosts[crashed.cluster]:
            if (host is crashed or not host.up or host.scheduling is not SchedulingState.ENABLED
                    or host.ram_used_mib + vm.ram_mib > host.ram_capacity_mib
                    or host.vcpus_used + vm.vcpus > host.vcpu_capacity
                    or (vm.anti_affinity_group is not None
                        and any(self.vms[o].anti_affinity_group == vm.anti_affinity_group
                                for o in host.vms))):
                continue
            if best is None or (host.ram_capacity_mib - host.ram_used_mib
                                > best.ram_capacity_mib - best.ram_used_mib):
                best = host
        if best is None:
            if vm.power is not PowerState.SHUTOFF:
                self.set_power(vm, PowerState.CRASHED)
            return
        self._move(vm, best.name)
        if vm.power is not PowerState.SHUTOFF:
            self.set_power(vm, PowerState.RUNNING)
            vm.power_cycled(self.boot_cpu(vm))

    # --- guest CPUs -------------------------------------------------------------------------

    def side(self, host: SimHost) -> tuple[CpuGeneration, HostProfile]:
        return self.generations[host.generation], self.profiles[host.profile]

    def boot_cpu(self, vm: SimVm) -> GuestCpu:
        """The CPU ``vm`` gets when it starts on the host it is defined on now."""
        return failures.boot_cpu(vm.cpu, *self.side(self.hosts[vm.host]))

    def cpu_refusal(self, vm: SimVm, dest: str) -> str | None:
        return failures.cpu_refusal(vm, self.side(self.hosts[vm.host]),
                                    self.side(self.hosts[dest]), dest)

    # --- views ------------------------------------------------------------------------------

    def progress(self, job: SimJob) -> JobProgress:
        if job.final:  # a final job's progress never changes again
            if job.view is None:
                job.view = progress(job, self.clock.now(), job.rate_mib_s, 0.0)
            return job.view
        return progress(job, self.clock.now(), self.rate_of(job), self.guest_dirty_mib_s(job))

    def touch_guest(self, vm: SimVm) -> None:
        """Bring the VM's migration up to now before its dirty rate changes."""
        if vm.job is not None:
            self._account(self.jobs[vm.job], self.clock.now())
