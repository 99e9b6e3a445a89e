"""What goes wrong in the simulated cloud: the faults to inject, which jobs they hit, and the
known migration failures the compatibility rules describe.

Which job fails, and when, is drawn from the seed and the job's id alone (see
:func:`hvroll.drivers.sim.model.unit`), so the same job fails the same way in a resumed run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from hvroll.compat.cpu import compare, model_features
from hvroll.compat.exposure import host_model_cpu, running_cpu, visible_cpu
from hvroll.domain import CpuGeneration, CpuMode, GuestCpu, HostProfile
from hvroll.domain.versions import upstream_version
from hvroll.drivers.base import MigrationOptions
from hvroll.drivers.sim.model import unit
from hvroll.drivers.sim.state import SimVm
from hvroll.errors import InputError

FAILING_PASSES = 4
"""A live migration doomed by ``Faults.migration_failure_rate`` fails in one of its first
passes, drawn uniformly."""

BALLOON_FIXED_QEMU = (2, 11)
"""The Windows balloon bug is not seen from hosts with QEMU of this version or newer."""


class SimulatedCrash(BaseException):
    """The simulated orchestrator "crashed": raised from ``wait``/``sleep`` after
    ``Faults.crash_after_events`` events.

    A ``BaseException`` so that the executor's ``except Exception`` cannot swallow it, exactly as
    it could not survive a real SIGKILL. Reopen the cloud from its journal to resume.
    """


@dataclass(frozen=True, slots=True)
class Faults:
    """Faults to inject; every one is off by default.

    Rates are probabilities in [0, 1] drawn per job from the seed and the job's id.
    """

    migration_failure_rate: float = 0.0
    """Share of live and cold migrations that fail. A failing live migration ends ``failed`` at
    the end of one of its first four pre-copy iterations (or when it would have converged, if
    sooner); a cold migration just before the VM starts on the destination. The VM stays on
    its source, in its previous power state."""
    reinstall_failure_rate: float = 0.0
    """Share of reinstalls whose hook fails partway; the host keeps its old profile."""
    host_crashes: tuple[tuple[str, float], ...] = ()
    """``(host, virtual time in s)``: the host goes down then. HA restarts its VMs on other up,
    schedulable hosts of its cluster with room; its migrations fail."""
    host_crash_rate_per_h: float = 0.0
    """Each host also crashes at an exponentially distributed time with this rate per hour
    (at most once; a reinstall brings a crashed host back)."""
    crash_after_events: int | None = None
    """Raise :class:`SimulatedCrash` from ``wait``/``sleep`` after this many events processed by
    this object (events replayed from a journal do not count)."""
    known_issues: bool = False
    """Reproduce the known migration failures the compatibility rules describe: a live migration
    fails at once for a VM with a local disk without block migration, with a passed-through
    device, or with a read-only iso9660 config drive not copied first (``copy_config_drive``);
    and at switch-over for a Windows VM with a balloon, live-migrated before and not
    power-cycled since, leaving a QEMU older than 2.11 (the balloon bug); and at once for a
    guest whose running CPU the destination cannot provide (libvirt's ``guest CPU doesn't
    match specification``)."""

    def __post_init__(self) -> None:
        for name in ("migration_failure_rate", "reinstall_failure_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InputError(f"Faults.{name} must be within [0, 1] (got {value})")
        if self.host_crash_rate_per_h < 0:
            raise InputError(
                f"Faults.host_crash_rate_per_h must be >= 0 (got {self.host_crash_rate_per_h})")
        for host, at_s in self.host_crashes:
            if not at_s >= 0 or math.isinf(at_s):
                raise InputError(f"Faults.host_crashes: crash time of {host!r} must be a finite "
                                 f"number of seconds >= 0 (got {at_s})")
        if self.crash_after_events is not None and self.crash_after_events < 1:
            raise InputError(
                f"Faults.crash_after_events must be >= 1 or None (got {self.crash_after_events})")

    def identity(self) -> dict[str, object]:
        """The faults that shape the simulated world, as JSON data (a journal records them).

        ``crash_after_events`` is left out: it is about the orchestrator, not the cloud, so a
        run resumed from a journal may set it differently.
        """
        data = asdict(self)
        del data["crash_after_events"]
        data["host_crashes"] = [[host, at_s] for host, at_s in self.host_crashes]
        return data


def failing_pass(seed: int, job: str, failure_rate: float) -> int | None:
    """The pass at whose end a live migration fails, or None for a healthy one."""
    if failure_rate <= 0.0 or unit(seed, "migration-fails", job) >= failure_rate:
        return None
    return int(unit(seed, "migration-fails-at", job) * FAILING_PASSES)


def cold_migration_fails(seed: int, job: str, failure_rate: float) -> bool:
    return failure_rate > 0.0 and unit(seed, "migration-fails", job) < failure_rate


def reinstall_fails_after_s(seed: int, job: str, failure_rate: float,
                            duration_s: float) -> float | None:
    """When a reinstall's hook fails (between 20 % and 80 % of the way), or None."""
    if failure_rate <= 0.0 or unit(seed, "reinstall-fails", job) >= failure_rate:
        return None
    return duration_s * (0.2 + 0.6 * unit(seed, "reinstall-fails-at", job))


def known_refusal(vm: SimVm, options: MigrationOptions) -> str | None:
    """Why a live migration of ``vm`` fails at once, as a known issue, or None."""
    if vm.passthrough:
        return f"cannot live-migrate {vm.name}: it has a passed-through PCI device"
    if vm.local_disk_mib > 0 and not options.block:
        return (f"unsafe migration of {vm.name}: it has local disks and no shared "
                f"storage; use block migration")
    if vm.iso_config_drive and "copy_config_drive" not in vm.workarounds:
        return (f"cannot live-migrate {vm.name}: its read-only iso9660 config drive is not "
                f"on the destination; copy it first (copy_config_drive)")
    return None


def boot_cpu(cpu: GuestCpu, generation: CpuGeneration, profile: HostProfile) -> GuestCpu:
    """The CPU a guest runs with once (re)started on a host of ``generation``/``profile``:
    a host-model guest gets that host's (libvirt's host-model, as ``hvroll.compat`` derives
    it); a custom model is kept; a passthrough guest always has its current host's."""
    if cpu.mode is not CpuMode.HOST_MODEL:
        return cpu
    return host_model_cpu(generation, profile,
                          model_features(generation.model, generation.vendor))


def cpu_refusal(vm: SimVm, source: tuple[CpuGeneration, HostProfile],
                dest: tuple[CpuGeneration, HostProfile], dest_name: str) -> str | None:
    """Why libvirt refuses to live-migrate ``vm``: the destination cannot provide the CPU it
    runs with (seed 001: ``guest CPU doesn't match specification: missing features: …``)."""
    running = running_cpu(vm.cpu, *source)
    check = compare(running, visible_cpu(*dest), exact=vm.cpu.mode is CpuMode.HOST_PASSTHROUGH)
    if check.compatible:
        return None
    return (f"cannot live-migrate {vm.name} to {dest_name}: guest CPU doesn't match "
            f"specification: {check.message()}")


def balloon_bug(vm: SimVm, source_qemu: str, dest: str) -> str | None:
    """Why the switch-over of a live migration fails for a Windows guest's balloon, or None:
    live-migrated before, not power-cycled since, leaving a QEMU older than 2.11."""
    if not (vm.windows and vm.balloon and vm.migrations_since_power_cycle >= 1
            and upstream_version(source_qemu).release < BALLOON_FIXED_QEMU):
        return None
    return (f"migration of {vm.name} to {dest} failed at switch-over: the memory balloon of a "
            f"guest live-migrated {vm.migrations_since_power_cycle} time(s) since its last "
            f"power cycle (QEMU {source_qemu}); remove the balloon first")
