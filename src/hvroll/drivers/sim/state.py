"""The simulated cloud's live state: mutable records of hosts, VMs and jobs, built from a fleet,
and their translation into the driver protocol's types.

The records are private to the simulator; the executor sees them only as
:class:`~hvroll.drivers.base.HostState`, :class:`~hvroll.drivers.base.VmState` and
:class:`~hvroll.drivers.base.JobProgress` (with the simulator's raw figures in ``extra``), and
tests as :class:`VmView`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hvroll.bulk import paused_gc
from hvroll.domain import (
    ConfigDrive,
    Fleet,
    GroupPolicy,
    GuestCpu,
    GuestOsFamily,
    PowerState,
    SchedulingState,
)
from hvroll.drivers.base import HostState, JobKind, JobPhase, JobProgress, VmState
from hvroll.drivers.sim.model import MIB_PER_GIB, drawn_dirty_rate_mib_s
from hvroll.errors import InputError

ACTIVE_POWER = frozenset({PowerState.RUNNING, PowerState.PAUSED})

# Internal steps of a job. A live migration goes DISK (block migration only) → RAM (pre-copy
# passes) → STOP (stop-and-copy) → DONE, or RAM → POST (post-copy) → DONE; a cold migration
# COPY (local disks) → BOOT → DONE; a reinstall REINSTALL → DONE.
DISK, RAM, STOP, POST, COPY, BOOT, REINSTALL, DONE = (
    "disk", "ram", "stop", "post", "copy", "boot", "reinstall", "done")
TRANSFER_STEPS = frozenset({DISK, RAM, POST, COPY})
"""Steps that move data over the link: they end when their data is sent, so a bandwidth change
reschedules them."""
LINK_STEPS = TRANSFER_STEPS | {STOP}
"""Steps that hold a share of the link."""


@dataclass(slots=True, eq=False)
class SimHost:
    name: str
    cluster: str
    generation: str
    profile: str
    scheduling: SchedulingState
    link_mib_s: float
    ram_capacity_mib: float
    vcpu_capacity: float
    crashed: bool = False
    reinstall: str | None = None
    """The id of the reinstall job running on this host."""
    ram_used_mib: float = 0.0
    vcpus_used: int = 0
    vms: dict[str, None] = field(default_factory=dict)
    """VMs defined on this host (in any power state), in the order they arrived."""
    outgoing: dict[str, None] = field(default_factory=dict)
    """Jobs sending over this host's link."""
    incoming: dict[str, None] = field(default_factory=dict)

    @property
    def up(self) -> bool:
        return not self.crashed and self.reinstall is None


@dataclass(slots=True, eq=False)
class SimVm:
    name: str
    host: str
    power: PowerState
    ram_mib: float
    vcpus: int
    dirty_mib_s: float
    local_disk_mib: float
    has_balloon: bool
    """Whether the VM was defined with a balloon (it returns at each power cycle)."""
    balloon: bool
    windows: bool
    migrations_since_power_cycle: int
    anti_affinity_group: str | None
    iso_config_drive: bool
    passthrough: bool
    cpu: GuestCpu
    """The CPU the guest runs with: the one it was started with, until its next power cycle."""
    job: str | None = None
    """The id of the migration in flight, if any."""
    workarounds: list[str] = field(default_factory=list)

    def power_cycled(self, cpu: GuestCpu) -> None:
        """The guest was stopped and started (with ``cpu``): history cleared, balloon back."""
        self.migrations_since_power_cycle = 0
        self.balloon = self.has_balloon
        self.cpu = cpu


@dataclass(slots=True, eq=False)
class SimJob:
    id: str
    kind: JobKind
    started_s: float
    vm: str | None = None
    source: str | None = None
    """The migration's source, or the host being reinstalled."""
    dest: str | None = None
    guest: SimVm | None = None
    """The VM being migrated."""
    route: tuple[SimHost, SimHost] | None = None
    """A migration's source and destination hosts."""
    step: str = RAM
    phase: JobPhase = JobPhase.RUNNING
    max_downtime_ms: int = 500
    cap_mib_s: float | None = None
    auto_converge: bool = False
    post_copy: bool = False
    block: bool = False
    ram_mib: float = 0.0
    disk_mib: float = 0.0
    rate_mib_s: float = 0.0
    """The bandwidth in force since ``last_s``."""
    last_s: float = 0.0
    """When the step's figures below were last brought up to date."""
    step_total_mib: float = 0.0
    step_sent_mib: float = 0.0
    dirtied_mib: float = 0.0
    """Dirtied by the guest during the current pre-copy pass."""
    iteration: int = 0
    processed_mib: float = 0.0
    """Sent in finished steps and passes (the current one is added from the step figures)."""
    throttle_pct: int = 0
    high_passes: int = 0
    fails_at_pass: int | None = None
    fails: bool = False
    fail_after_s: float | None = None
    profile: str | None = None
    prev_power: PowerState | None = None
    downtime_ms: float | None = None
    ended_s: float | None = None
    error: str | None = None
    version: int = 0
    view: JobProgress | None = None
    """The progress of a final job, built once."""

    @property
    def final(self) -> bool:
        return self.step == DONE


@dataclass(frozen=True, slots=True)
class VmView:
    """What the simulator knows about a VM, for tests and invariant checks."""

    name: str
    host: str
    power: PowerState
    dirty_rate_mib_s: float
    balloon: bool
    migrations_since_power_cycle: int
    workarounds: tuple[str, ...]
    unreachable: bool
    job: str | None
    cpu: GuestCpu
    """The CPU the guest runs with (changes only at a power cycle)."""


def build_hosts(fleet: Fleet) -> dict[str, SimHost]:
    return {h.name: SimHost(h.name, h.cluster, h.generation, h.profile, h.scheduling,
                            h.link_mib_s,
                            h.ram_capacity_mib, h.vcpu_capacity) for h in fleet.hosts}


def build_vms(fleet: Fleet, seed: int, hosts: dict[str, SimHost]) -> dict[str, SimVm]:
    """The simulated VMs of ``fleet``, each defined on its host; built with the cyclic
    collector paused (:func:`hvroll.bulk.paused_gc`): the public preset's 250,819 started six
    collections of the whole heap."""
    with paused_gc():
        return _build_vms(fleet, seed, hosts)


def _build_vms(fleet: Fleet, seed: int, hosts: dict[str, SimHost]) -> dict[str, SimVm]:
    anti = {g.name for g in fleet.server_groups if g.policy is GroupPolicy.ANTI_AFFINITY}
    windows, iso = GuestOsFamily.WINDOWS, ConfigDrive.ISO9660
    vms: dict[str, SimVm] = {}
    for vm in fleet.vms:
        name, dirty, devices, group = vm.name, vm.dirty_rate_mib_s, vm.devices, vm.server_group
        host = hosts.get(vm.host)
        if host is None:
            raise InputError(f"VM {name!r} is on host {vm.host!r}, which is not in the fleet")
        balloon = devices.balloon
        sim = vms[name] = SimVm(
            name, host.name, vm.power, float(vm.ram_mib), vm.vcpus,
            drawn_dirty_rate_mib_s(seed, name) if dirty is None else dirty,
            float(vm.local_disk_gib * MIB_PER_GIB), balloon, balloon,
            vm.guest.family is windows, vm.history.live_migrations_since_power_cycle,
            group if group in anti else None, devices.config_drive is iso,
            bool(devices.passthrough), vm.cpu)
        place(host, sim)
    return vms


def place(host: SimHost, vm: SimVm) -> None:
    """Define ``vm`` on ``host`` (it must be defined nowhere else)."""
    vm.host = host.name
    host.vms[vm.name] = None
    host.ram_used_mib += vm.ram_mib
    host.vcpus_used += vm.vcpus


def unplace(host: SimHost, vm: SimVm) -> None:
    del host.vms[vm.name]
    host.ram_used_mib -= vm.ram_mib
    host.vcpus_used -= vm.vcpus


def host_state(host: SimHost) -> HostState:
    """A host lists every VM defined on it, whatever the VM's power state."""
    return HostState(host.name, host.profile, host.scheduling, host.up, tuple(sorted(host.vms)))


def vm_state(vm: SimVm) -> VmState:
    """A VM is reported on the host it is defined on in every power state (``power`` says
    whether it runs), as a host lists it; the simulator never runs a VM twice, nor loses one."""
    return VmState(vm.name, (vm.host,), vm.power)


class Views:
    """The protocol's lists of hosts and VMs, rebuilt only where something changed, so that an
    executor may ask for them as often as it likes (3,500 hosts and 35,000 VMs)."""

    def __init__(self, hosts: dict[str, SimHost], vms: dict[str, SimVm]) -> None:
        self._hosts, self._vms = hosts, vms
        self._host_index = {name: i for i, name in enumerate(hosts)}
        self._vm_index = {name: i for i, name in enumerate(vms)}
        self._host_list: list[HostState] | None = None
        self._vm_list: list[VmState] | None = None
        self._stale_hosts: dict[str, None] = {}
        self._stale_vms: dict[str, None] = {}

    def host_changed(self, host: str) -> None:
        self._stale_hosts[host] = None

    def vm_changed(self, vm: SimVm) -> None:
        """The VM's host or power changed (call it on both hosts of a move)."""
        self._stale_vms[vm.name] = None
        self._stale_hosts[vm.host] = None

    def host(self, name: str) -> HostState:
        if self._host_list is None or name in self._stale_hosts:
            return host_state(self._hosts[name])
        return self._host_list[self._host_index[name]]

    def vm(self, name: str) -> VmState:
        if self._vm_list is None or name in self._stale_vms:
            return vm_state(self._vms[name])
        return self._vm_list[self._vm_index[name]]

    def hosts(self) -> list[HostState]:
        if self._host_list is None:
            self._host_list = [host_state(h) for h in self._hosts.values()]
        else:
            for name in self._stale_hosts:
                self._host_list[self._host_index[name]] = host_state(self._hosts[name])
        self._stale_hosts.clear()
        return list(self._host_list)

    def vms(self) -> list[VmState]:
        if self._vm_list is None:
            self._vm_list = [vm_state(v) for v in self._vms.values()]
        else:
            for name in self._stale_vms:
                self._vm_list[self._vm_index[name]] = vm_state(self._vms[name])
        self._stale_vms.clear()
        return list(self._vm_list)


def vm_view(vm: SimVm, unreachable: bool) -> VmView:
    return VmView(vm.name, vm.host, vm.power, vm.dirty_mib_s, vm.balloon,
                  vm.migrations_since_power_cycle, tuple(vm.workarounds), unreachable, vm.job,
                  vm.cpu)


def progress(job: SimJob, now_s: float, rate_mib_s: float, dirty_mib_s: float) -> JobProgress:
    """The job's progress at ``now_s``, with ``rate_mib_s`` its bandwidth now and
    ``dirty_mib_s`` how fast its guest dirties memory now. Does not change the job.

    ``extra`` holds the simulator's own figures: ``step`` (``disk``, ``ram``, ``stop``,
    ``post``, ``copy``, ``boot``, ``reinstall``, ``done``), ``rate_mib_s``, and for live
    migrations the current step's ``step_total_mib``/``step_sent_mib``, ``dirtied_mib`` in the
    current pass, ``disk_total_mib``/``disk_remaining_mib``, ``max_downtime_ms`` and
    ``high_passes`` (auto-converge's counter).
    """
    end_s = now_s if job.ended_s is None else job.ended_s
    elapsed = end_s - job.started_s
    in_step = 0.0  # sent so far in the current transfer step, up to now
    dirtied = job.dirtied_mib
    if job.step in TRANSFER_STEPS:
        span = now_s - job.last_s
        in_step = min(job.step_total_mib, job.step_sent_mib + job.rate_mib_s * span)
        if job.step == RAM:
            dirtied += dirty_mib_s * span
    processed = job.processed_mib + in_step
    if job.kind is JobKind.REINSTALL:
        return JobProgress(job=job.id, kind=job.kind, phase=job.phase, source=job.source,
                           started_s=job.started_s, elapsed_s=elapsed, error=job.error,
                           extra={"step": job.step, "profile": job.profile})
    if job.kind is JobKind.COLD_MIGRATION:
        left = job.disk_mib - processed if not job.final else 0.0
        return JobProgress(job=job.id, kind=job.kind, phase=job.phase, vm=job.vm,
                           source=job.source, dest=job.dest, started_s=job.started_s,
                           elapsed_s=elapsed, total_mib=job.disk_mib, processed_mib=processed,
                           remaining_mib=left, error=job.error,
                           extra={"step": job.step, "rate_mib_s": rate_mib_s})
    return _live_progress(job, elapsed, processed, in_step, dirtied, rate_mib_s, dirty_mib_s)


def _live_progress(job: SimJob, elapsed: float, processed: float, in_step: float,
                   dirtied: float, rate_mib_s: float, dirty_mib_s: float) -> JobProgress:
    step = job.step
    disk_total = job.disk_mib if job.block else 0.0
    disk_left = job.step_total_mib - in_step if step == DISK else 0.0
    if step == DISK:
        memory_left = job.ram_mib
    elif step == RAM:
        memory_left = min(job.ram_mib, job.step_total_mib - in_step + dirtied)
    elif step == POST:
        memory_left = job.step_total_mib - in_step
    elif step == STOP:
        memory_left = job.step_total_mib
    else:
        memory_left = 0.0
    expected_ms = 0.0
    if step in (RAM, DISK) and rate_mib_s > 0:
        expected_ms = memory_left / rate_mib_s * 1000.0
    elif step == STOP and job.downtime_ms is not None:
        expected_ms = job.downtime_ms
    guest_dirty = dirty_mib_s if step in (RAM, DISK) else 0.0
    extra = {"step": step, "rate_mib_s": rate_mib_s, "step_total_mib": job.step_total_mib,
             "step_sent_mib": in_step, "dirtied_mib": dirtied, "disk_total_mib": disk_total,
             "disk_remaining_mib": disk_left, "max_downtime_ms": job.max_downtime_ms,
             "high_passes": job.high_passes}
    total = job.ram_mib + disk_total
    remaining = memory_left + disk_left
    downtime = job.downtime_ms if job.phase is JobPhase.COMPLETED else None
    # by position, in the order of the fields (most of a run's reads are of running live
    # migrations, and a named tuple built by keyword takes twice as long)
    return JobProgress(job.id, job.kind, job.phase, job.vm, job.source, job.dest, job.started_s,
                       elapsed, total, processed, remaining, job.iteration, guest_dirty,
                       expected_ms, job.throttle_pct, downtime, job.error, extra)
