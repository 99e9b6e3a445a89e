"""The simulated cloud as a driver: the executor drives it exactly as it drives libvirt.

::

    cloud = SimCloud(generate("small", 1), seed=7, journal=Path("run.sim.jsonl"))
    cloud.migrate("m1", "vm-000002", "lab01-c01-hv02", MigrationOptions(auto_converge=True))
    while not cloud.job("m1").final:
        cloud.wait(60.0)        # jumps to the end of the next pass: 6.94 s, then 7.01 s
    cloud.job("m1").downtime_ms # 65.6: 8 GiB at 10.3 MiB/s over a free 10 GbE link

Requests that cannot start (an unknown VM, a host that is down, a VM already migrating) raise
:class:`~hvroll.errors.DriverError` naming the host; reinstalling a host that still holds a
VM or a migration raises :class:`~hvroll.errors.SafetyError`. Both leave the world unchanged.
Operations that start and then fail end their job ``failed`` with the reason in ``error``.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from hvroll.domain import Fleet, PowerState, SchedulingState
from hvroll.drivers import checks
from hvroll.drivers.base import (
    WORKAROUND_CAPABILITY,
    Capability,
    Clock,
    HostState,
    JobKind,
    JobProgress,
    Lifecycle,
    MigrationOptions,
    VmState,
    poll,
)
from hvroll.drivers.journal import Journal, Record
from hvroll.drivers.sim.engine import World
from hvroll.drivers.sim.faults import Faults, SimulatedCrash, known_refusal
from hvroll.drivers.sim.journal import open_journal, replay
from hvroll.drivers.sim.model import unreachable
from hvroll.drivers.sim.state import (
    ACTIVE_POWER,
    DISK,
    POST,
    STOP,
    SimHost,
    SimJob,
    SimVm,
    VmView,
    vm_view,
)
from hvroll.errors import CapabilityError, DriverError, InputError

_OPTION_FIELDS = tuple(f.name for f in fields(MigrationOptions))
SIM_CAPABILITIES = frozenset(Capability) - {Capability.POST_COPY_BLOCK}
"""What the simulator declares by default: everything but post-copy of block migrations
(its model keeps VMs with local disks off post-copy, as the ladder did before drivers could
say otherwise)."""

WORKAROUNDS = ("remove_balloon", "copy_config_drive", "reboot_guest", "use_migrate_uri3",
               "pin_cpu_model")
"""Workarounds the simulated cloud can apply to a VM. ``remove_balloon`` unplugs the balloon
until the next power cycle; ``reboot_guest`` power-cycles the guest (history cleared, balloon
back); ``copy_config_drive`` lets a VM with an iso9660 config drive live-migrate; the others
are recorded only."""

GUEST_WORKAROUNDS = frozenset({"remove_balloon", "reboot_guest"})
"""Workarounds that act on a running guest; the others work in any power state."""


class SimCloud(Lifecycle):
    """A discrete-event cloud in virtual time implementing :class:`~hvroll.drivers.base.Driver`
    and every feature.

    ``seed`` fixes every random draw; ``faults`` what goes wrong; ``journal`` a file that
    records the world as it changes and, when it exists already, is replayed first so the
    cloud resumes where the previous process left it. ``capabilities`` (default: all) lets it
    play a backend that can do less: a feature it does not declare is refused with a
    :class:`~hvroll.errors.CapabilityError`.
    """

    name = "sim"
    durable = False  # the world is its journal's, written without fsync

    def __init__(self, fleet: Fleet, *, seed: int = 1, faults: Faults | None = None,
                 journal: Path | None = None,
                 capabilities: frozenset[Capability] = SIM_CAPABILITIES) -> None:
        self.capabilities = frozenset(capabilities)
        faults = Faults() if faults is None else faults
        for host, _ in faults.host_crashes:
            if host not in fleet.host_by_name:
                raise InputError(f"Faults.host_crashes names host {host!r}, which is not in "
                                 f"the fleet")
        self._world = World(fleet, seed, faults)
        self._world.clock.bind(_weak_sleeper(self))
        self.clock: Clock = self._world.clock
        """A :class:`~hvroll.drivers.sim.engine.SimClock`, typed as the protocol's ``Clock``
        so that a ``SimCloud`` is a ``Driver`` for the type checker too."""
        self._journal: Journal | None = None
        self._dead = False
        self._unreachable_vms: dict[str, bool] = {}
        if journal is not None:
            opened = open_journal(journal, fleet, seed, faults.identity())
            try:
                replay(opened.records, self, self._advance_to)
            except BaseException:
                opened.close()
                raise
            self._journal = opened
        if faults.crash_after_events is not None:
            self._world.crash_at = self._world.events + faults.crash_after_events

    # --- what the cloud looks like ----------------------------------------------------------

    def hosts(self) -> list[HostState]:
        self._alive()
        return self._world.views.hosts()

    def vms(self) -> list[VmState]:
        self._alive()
        return self._world.views.vms()

    def host(self, name: str) -> HostState:
        self._alive()
        self._host(name)
        return self._world.views.host(name)

    def vm(self, name: str) -> VmState:
        self._alive()
        self._vm(name)
        return self._world.views.vm(name)

    def job(self, job: str) -> JobProgress:
        self._alive()
        return self._world.progress(self._job(job))

    def jobs(self) -> list[JobProgress]:
        self._alive()
        return [self._world.progress(j) for j in self._world.jobs.values()]

    def host_profile(self, host: str) -> str:
        self._alive()
        return self._host(host).profile

    def probe(self, vm: str) -> bool:
        self._alive()
        self._declared(Capability.PROBE)
        v = self._vm(vm)
        return (v.power is PowerState.RUNNING and self._world.hosts[v.host].up
                and not self._unreachable(vm))

    # --- time -------------------------------------------------------------------------------

    def wait(self, timeout_s: float) -> list[str]:
        """Jump to the next instant at which some job changes (a pass ends, a migration
        completes or fails, a reinstall ends), at most ``timeout_s`` ahead, and return the ids
        of every job that changed since the last ``wait`` (those changed during a ``sleep``
        too), in the order they changed. Returns at once when some already did."""
        self._alive()
        try:
            changed = self._next_changes(timeout_s)
        except SimulatedCrash:
            self._crashed()
            raise
        if self._journal is not None:
            self._journal.write_line(f'{{"w":{self.clock.now()!r}}}')
        return changed

    def wait_until(self, until_s: float) -> list[str]:
        """The executor's poll in one call (:class:`~hvroll.drivers.base.WaitsUntil`): the
        waits :func:`~hvroll.drivers.base.poll` makes until ``until_s``, each to the next
        instant at which a job changes, and the jobs they return, each once, in order. Their
        journal lines are the same, written together once the poll is over (or the simulated
        orchestrator crashed). A subclass that changes ``wait`` (a test's faults) is polled
        through its ``wait``."""
        if type(self).wait is not SimCloud.wait:
            return poll(self, until_s)
        self._alive()
        clock = self._world.clock
        waited: list[float] = []

        def wait(timeout_s: float) -> list[str]:  # :meth:`wait`, its journal line kept back
            changed = self._next_changes(timeout_s)
            waited.append(clock._now)
            return changed

        try:
            jobs = poll(self, until_s, wait=wait)
        except SimulatedCrash:
            self._journal_waits(waited)
            self._crashed()
            raise
        self._journal_waits(waited)
        return jobs

    def _next_changes(self, timeout_s: float) -> list[str]:
        """A wait's move of time, to the next instant at which some job changes, at most
        ``timeout_s`` ahead (nowhere if some job changed already), and the jobs changed since
        the last wait, in order."""
        world = self._world
        now = world.clock._now
        deadline = now if world.changed else now + max(0.0, timeout_s)
        if math.isinf(deadline) and not world.queue:
            deadline = now
        world.advance(deadline, stop_on_change=True)
        changed = list(world.changed)
        world.changed.clear()
        return changed

    def _journal_waits(self, times: list[float]) -> None:
        """The journal lines of waits that returned at ``times``."""
        if self._journal is not None:
            self._journal.write_lines([f'{{"w":{t!r}}}' for t in times])

    def _sleep(self, seconds: float) -> None:
        self._alive()
        if not seconds > 0:
            return
        deadline = self.clock.now() + seconds
        try:
            self._world.advance(deadline, stop_on_change=False)
        except SimulatedCrash:
            self._crashed()
            raise
        self._line(f'{{"s":{self.clock.now()!r}}}')

    def _crashed(self) -> None:
        """The simulated orchestrator crashed: this object is dead, its journal closed."""
        self._dead = True
        if self._journal is not None:
            self._journal.close()

    # --- changes ----------------------------------------------------------------------------

    def set_scheduling(self, host: str, enabled: bool) -> None:
        self._alive()
        h = self._host(host)
        state = SchedulingState.ENABLED if enabled else SchedulingState.DISABLED
        if h.scheduling is not state:
            h.scheduling = state
            self._world.views.host_changed(host)
            self._log({"op": "scheduling", "host": host, "enabled": enabled})

    def migrate(self, job: str, vm: str, dest: str, options: MigrationOptions) -> None:
        self._alive()
        if self._known(job, JobKind.LIVE_MIGRATION, vm, dest):
            return
        v = self._vm(vm)
        checks.migration(self.capabilities, self.name, vm, options, host=v.host)
        if v.power not in ACTIVE_POWER:
            raise DriverError(f"cannot live-migrate {vm}: it is {v.power.value}, not running "
                              f"or paused", host=v.host)
        self._check_route(v, dest)
        refusal = None
        if self._world.faults.known_issues:
            refusal = known_refusal(v, options) or self._world.cpu_refusal(v, dest)
        self._world.start_live(job, v, dest, options, refusal)
        if self._journal is not None:
            self._journal.append({"op": "migrate", "job": job, "vm": vm, "dest": dest,
                                  "options": {f: getattr(options, f) for f in _OPTION_FIELDS}})

    def cold_migrate(self, job: str, vm: str, dest: str) -> None:
        self._alive()
        self._declared(Capability.COLD_MIGRATION)
        if self._known(job, JobKind.COLD_MIGRATION, vm, dest):
            return
        v = self._vm(vm)
        if v.power is PowerState.CRASHED:
            raise DriverError(f"cannot cold-migrate {vm}: it crashed and is defined on no "
                              f"running host", host=v.host)
        self._check_route(v, dest)
        self._world.start_cold(job, v, dest)
        self._log({"op": "cold", "job": job, "vm": vm, "dest": dest})

    def reinstall(self, job: str, host: str, profile: str) -> None:
        self._alive()
        self._declared(Capability.REINSTALL)
        if self._known(job, JobKind.REINSTALL, host, profile):
            return
        h = self._host(host)
        checks.profile(profile, self._world.profiles, host=host)
        if h.reinstall is not None:
            raise DriverError(f"reinstall {h.reinstall} is still running", host=host)
        moving = next(iter(self._world.moving.get(host, ())), None)
        checks.empty_host(host, list(h.vms), moving=moving)
        self._world.start_reinstall(job, h, profile)
        self._log({"op": "reinstall", "job": job, "host": host, "profile": profile})

    def set_max_downtime(self, job: str, downtime_ms: int) -> None:
        self._alive()
        self._declared(Capability.MAX_DOWNTIME)
        j = self._live_job(job, "set the max downtime of")
        checks.downtime(job, downtime_ms, host=j.source)
        self._world.set_max_downtime(j, downtime_ms)
        self._log({"op": "downtime", "job": job, "ms": downtime_ms})

    def start_post_copy(self, job: str) -> None:
        """Switch a live migration started with ``post_copy`` to post-copy now; a no-op when
        it switched already or is in its final stop-and-copy (it completes anyway)."""
        self._alive()
        self._declared(Capability.POST_COPY)
        j = self._live_job(job, "switch to post-copy")
        if j.step in (POST, STOP):
            return  # switched already, or completing anyway within milliseconds
        if not j.post_copy:
            raise DriverError(f"cannot switch {job} to post-copy: it was started without "
                              f"post_copy=True", host=j.source)
        if j.step == DISK:
            raise DriverError(f"cannot switch {job} to post-copy yet: its disks are still "
                              f"being copied", host=j.source, retryable=True)
        self._world.start_post_copy(j)
        self._log({"op": "postcopy", "job": job})

    def abort(self, job: str) -> None:
        self._alive()
        self._declared(Capability.LIVE_MIGRATION)
        j = self._live_job(job, "abort")
        if j.step == POST:
            raise DriverError(f"cannot abort {job}: it runs in post-copy, the guest already "
                              f"runs on {j.dest}", host=j.source)
        self._world.abort(j)
        self._log({"op": "abort", "job": job})

    def suspend(self, vm: str) -> None:
        self._set_power(vm, PowerState.RUNNING, PowerState.PAUSED, "suspend")

    def resume(self, vm: str) -> None:
        self._set_power(vm, PowerState.PAUSED, PowerState.RUNNING, "resume")

    def _set_power(self, vm: str, before: PowerState, after: PowerState, op: str) -> None:
        self._alive()
        self._declared(Capability.SUSPEND)
        v = self._vm(vm)
        if v.power is after:
            return
        if v.power is not before:
            raise DriverError(f"cannot {op} {vm}: it is {v.power.value}", host=v.host)
        self._world.touch_guest(v)
        self._world.set_power(v, after)
        self._log({"op": op, "vm": vm})

    def apply_workaround(self, vm: str, action: str) -> None:
        self._alive()
        v = self._vm(vm)
        checks.workaround(action, WORKAROUNDS, vm, self.name)
        wanted = WORKAROUND_CAPABILITY.get(action)
        if wanted is not None:
            self._declared(wanted)
        if action in GUEST_WORKAROUNDS and v.power not in ACTIVE_POWER:
            raise DriverError(f"cannot apply {action} to {vm}: it is {v.power.value}, and "
                              f"only a running guest can be changed so", host=v.host)
        if action == "reboot_guest":
            if v.job is not None:
                raise DriverError(f"cannot reboot {vm}: migration {v.job} is in flight",
                                  host=v.host)
            v.power_cycled(self._world.boot_cpu(v))
        elif action == "remove_balloon":
            v.balloon = False
        v.workarounds.append(action)
        self._log({"op": "workaround", "vm": vm, "action": action})

    # --- for tests, invariant checks and reports ----------------------------------------------

    def placement(self) -> dict[str, str]:
        """Every VM and the host it is defined on."""
        return {v.name: v.host for v in self._world.vms.values()}

    def inspect_vm(self, vm: str) -> VmView:
        """What the simulator knows about one VM (dirty rate, balloon, history, …)."""
        return vm_view(self._vm(vm), self._unreachable(vm))

    def reinstall_seconds(self) -> dict[str, float]:
        """Each host's reinstalls that ended, in simulated seconds from start to end (a
        failed one's until it failed), summed: how long it was reinstalled, as drawn."""
        out: dict[str, float] = {}
        for job in self._world.jobs.values():
            if job.kind is JobKind.REINSTALL and job.ended_s is not None and job.source:
                out[job.source] = out.get(job.source, 0.0) + job.ended_s - job.started_s
        return out

    @property
    def events_processed(self) -> int:
        """Events processed since this object was created (those replayed included)."""
        return self._world.events

    def close(self) -> None:
        """Release the journal; the object must not be used afterwards."""
        self._dead = True
        if self._journal is not None:
            self._journal.close()

    # --- helpers ----------------------------------------------------------------------------

    def _alive(self) -> None:
        if self._dead:
            raise SimulatedCrash("this simulated cloud crashed or was closed; open a new one "
                                 "from its journal")

    def _log(self, record: Record) -> None:
        if self._journal is not None:
            self._journal.append(record)

    def _line(self, line: str) -> None:
        if self._journal is not None:
            self._journal.write_line(line)

    def _advance_to(self, time_s: float, waited: bool) -> None:
        """Replay a time advance: process events up to ``time_s``; after a ``wait``, the
        executor had been told about every change so far."""
        self._world.advance(time_s, stop_on_change=False)
        if waited:
            self._world.changed.clear()

    def _known(self, job: str, kind: JobKind, subject: str, target: str) -> bool:
        """True if ``job`` was already started with these arguments (the call is a no-op);
        raises if the id was used for something else."""
        return checks.job_reused(job, self._world.jobs.get(job), kind, subject, target)

    def _unreachable(self, vm: str) -> bool:
        """Whether ``vm`` never answers a probe (a digest of the seed and its name, computed
        once per VM: the executor probes every VM before and after each of its moves)."""
        found = self._unreachable_vms.get(vm)
        if found is None:
            found = self._unreachable_vms[vm] = unreachable(self._world.seed, vm)
        return found

    def _declared(self, capability: Capability) -> None:
        if capability not in self.capabilities:
            raise CapabilityError(capability.value, self.name)

    def _check_route(self, vm: SimVm, dest: str) -> None:
        checks.route(vm.name, vm.host, dest, vm.job)
        target = self._host(dest)
        source = self._world.hosts[vm.host]
        for host, role in ((source, "source"), (target, "destination")):
            if not host.up:
                why = "crashed" if host.crashed else f"being reinstalled by {host.reinstall}"
                raise DriverError(f"cannot migrate {vm.name}: {role} host is down ({why})",
                                  host=host.name)

    def _vm(self, name: str) -> SimVm:
        found = self._world.vms.get(name)
        if found is None:
            raise checks.unknown("VM", name)
        return found

    def _host(self, name: str) -> SimHost:
        found = self._world.hosts.get(name)
        if found is None:
            raise checks.unknown("host", name)
        return found

    def _job(self, job: str) -> SimJob:
        found = self._world.jobs.get(job)
        if found is None:
            raise checks.unknown("job", job)
        return found

    def _live_job(self, job: str, what: str) -> SimJob:
        j = self._job(job)
        checks.live_job(job, j.kind, j.phase, what, host=j.source)
        return j

    def __repr__(self) -> str:
        w = getattr(self, "_world", None)
        if w is None:
            return "SimCloud(<not initialised>)"
        return (f"SimCloud(seed={w.seed}, t={self.clock.now():.1f} s, hosts={len(w.hosts)}, "
                f"vms={len(w.vms)}, jobs={len(w.jobs)}, active={len(w.active)})")

    def __getstate__(self) -> Any:
        raise TypeError("a SimCloud cannot be pickled; reopen it from its journal")


def _weak_sleeper(cloud: SimCloud) -> Callable[[float], None]:
    """``cloud._sleep`` without keeping the cloud alive: a cloud dropped by its owner is freed
    at once, which releases its journal for the next one."""
    method = weakref.WeakMethod(cloud._sleep)

    def sleep(seconds: float) -> None:
        bound = method()
        if bound is None:
            raise SimulatedCrash("the simulated cloud of this clock is gone")
        bound(seconds)

    return sleep
