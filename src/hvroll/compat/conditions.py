"""The facts a rule looks at, and whether a rule's ``when`` holds for them. Pure.

A :class:`Situation` is one VM (as the few attributes rules can see, :class:`VmFacts`) going
from a source host (none for a spawn) to a destination, with the outcome of the CPU check and
the migration capabilities both hosts share.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from hvroll.compat.cpu import CpuCheck
from hvroll.compat.guestos import smap_fact
from hvroll.compat.kinds import Affects
from hvroll.compat.ruleset import (
    Count,
    CpuCondition,
    DevicesCondition,
    DisksCondition,
    GuestCondition,
    HostCondition,
    IssueRule,
    When,
    in_range,
)
from hvroll.domain import (
    ConfigDrive,
    CpuGeneration,
    DiskKind,
    GuestCpu,
    GuestOsFamily,
    HostProfile,
    Passthrough,
    PowerState,
    Vm,
)


@dataclass(frozen=True, slots=True)
class VmFacts:
    """What rules can see of a VM; equal facts get equal verdicts (the verdict cache key)."""

    family: GuestOsFamily
    distro: str
    version: str
    smap_support: bool
    """Explicit, or derived (:func:`hvroll.compat.guestos.smap_fact`; assumed when unverified)."""
    cpu: GuestCpu
    balloon: bool
    config_drive: ConfigDrive
    passthrough: tuple[Passthrough, ...]
    migrations: int
    """Live migrations since the last power cycle."""
    disk_kinds: frozenset[DiskKind]
    power: PowerState

    @classmethod
    def of(cls, vm: Vm) -> VmFacts:
        return cls(
            family=vm.guest.family, distro=vm.guest.distro, version=vm.guest.version,
            smap_support=smap_fact(vm.guest).value, cpu=vm.cpu, balloon=vm.devices.balloon,
            config_drive=vm.devices.config_drive, passthrough=vm.devices.passthrough,
            migrations=vm.history.live_migrations_since_power_cycle,
            disk_kinds=frozenset(d.kind for d in vm.disks), power=vm.power,
        )

    @property
    def guest_label(self) -> str:
        return " ".join(p for p in (self.distro or self.family.value, self.version) if p)


@dataclass(frozen=True)
class HostSide:
    """A host as rules see it: its CPU generation and the profile it runs (or will run)."""

    generation: CpuGeneration
    profile: HostProfile

    @property
    def label(self) -> str:
        return f"{self.generation.name}/{self.profile.name}"


@dataclass(frozen=True)
class Situation:
    """One VM, one action, its hosts, and what the CPU check found."""

    action: Affects
    vm: VmFacts
    source: HostSide | None
    destination: HostSide
    cpu: CpuCheck
    """Can the destination provide the guest's CPU: the one it runs with (live migration) or
    the one it boots with (spawn, cold migration)."""
    boot_features: frozenset[str]
    """Features of the CPU the guest gets at its next boot on the destination."""
    capabilities: frozenset[str]
    """Migration capabilities both hosts support (empty for a spawn)."""

    @cached_property
    def words(self) -> dict[str, str]:
        """Values for the placeholders of rule messages."""
        src, dst = self.source, self.destination
        return {
            "guest": self.vm.guest_label,
            "cpu": self.cpu.message(),
            "source": src.label if src else "",
            "destination": dst.label,
            "source_qemu": src.profile.qemu_version if src else "",
            "source_libvirt": src.profile.libvirt_version if src else "",
            "destination_qemu": dst.profile.qemu_version,
            "destination_libvirt": dst.profile.libvirt_version,
            "migrations": str(self.vm.migrations),
        }


def applies(rule: IssueRule, situation: Situation) -> bool:
    """Whether ``rule`` is about this kind of action and its ``when`` holds."""
    affected = situation.action in rule.affects or Affects.TELEMETRY in rule.affects
    return affected and matches(rule.when, situation)


def next_boot(when: When) -> bool:
    """Whether ``when`` speaks of the VM's next boot on the destination (``cpu.boot_exposes``)."""
    return when.cpu is not None and bool(when.cpu.boot_exposes)


def carriable(when: When, move: Situation) -> bool:
    """Whether ``move`` can carry a risk ``when`` names (see :func:`carried`): a move that does
    not start the VM — a live migration, or a cold migration of a VM that is shut off (Nova and
    the simulator leave it off) — and ``when`` speaks of the next boot."""
    boots = move.action is not Affects.LIVE_MIGRATION and not (
        move.action is Affects.COLD_MIGRATION and move.vm.power is PowerState.SHUTOFF)
    return not boots and move.source is not None and next_boot(when)


def carried(when: When, move: Situation, at_source: Situation) -> bool:
    """Whether ``when``, holding for ``move``, names a risk of the VM's next boot that it
    already carries: the move does not start the VM (:func:`carriable`), ``when`` speaks of the
    next boot (``cpu.boot_exposes``) and holds as well for ``at_source``, the VM's next boot on
    the host it leaves. Such a move exposes nothing that the VM's next boot where it is does
    not already expose. A spawn, and a cold migration of a running VM (it boots on the
    destination), never carry a risk."""
    return (carriable(when, move) and at_source.action is Affects.SPAWN
            and at_source.destination == move.source and matches(when, at_source))


def matches(when: When, s: Situation) -> bool:
    """Whether every section of ``when`` holds in ``s``."""
    if when.source is not None and (s.source is None or not host_matches(when.source, s.source)):
        return False
    if when.destination is not None and not host_matches(when.destination, s.destination):
        return False
    if when.either is not None and not (
            host_matches(when.either, s.destination)
            or (s.source is not None and host_matches(when.either, s.source))):
        return False
    return all((
        when.guest is None or _guest(when.guest, s.vm),
        when.cpu is None or _cpu(when.cpu, s),
        when.devices is None or _devices(when.devices, s.vm),
        when.history is None or when.history.live_migrations_since_power_cycle is None
        or _count(when.history.live_migrations_since_power_cycle, s.vm.migrations),
        when.disks is None or _disks(when.disks, s.vm.disk_kinds),
        not when.power or s.vm.power in when.power,
    ))


def host_matches(cond: HostCondition, side: HostSide) -> bool:
    profile = side.profile
    flags = set(profile.kernel_flags)
    return all((
        cond.qemu is None or in_range(profile.qemu_version, cond.qemu),
        cond.libvirt is None or in_range(profile.libvirt_version, cond.libvirt),
        all(f in flags for f in cond.kernel_flags),
        not any(f in flags for f in cond.without_kernel_flags),
        not cond.generations or side.generation.name in cond.generations,
        not cond.profiles or profile.name in cond.profiles,
    ))


def _guest(cond: GuestCondition, vm: VmFacts) -> bool:
    return all((
        not cond.family or vm.family in cond.family,
        not cond.distro or vm.distro in cond.distro,
        not cond.version or vm.version in cond.version,
        cond.smap_support is None or vm.smap_support == cond.smap_support,
    ))


def _cpu(cond: CpuCondition, s: Situation) -> bool:
    return all((
        not cond.mode or s.vm.cpu.mode in cond.mode,
        all(f in s.boot_features for f in cond.boot_exposes),
        cond.compatible is None or s.cpu.compatible == cond.compatible,
    ))


def _devices(cond: DevicesCondition, vm: VmFacts) -> bool:
    return all((
        cond.balloon is None or vm.balloon == cond.balloon,
        not cond.config_drive or vm.config_drive in cond.config_drive,
        not cond.passthrough or any(p in cond.passthrough for p in vm.passthrough),
    ))


def _count(cond: Count, value: int) -> bool:
    return (cond.min is None or value >= cond.min) and (cond.max is None or value <= cond.max)


def _disks(cond: DisksCondition, kinds: frozenset[DiskKind]) -> bool:
    return (all(k in kinds for k in cond.all_of)
            and (not cond.any_of or any(k in kinds for k in cond.any_of))
            and not any(k in kinds for k in cond.none_of))
