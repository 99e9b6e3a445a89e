"""The fleet's objects: frozen pydantic models that are also the inventory schema.

Names follow the house rule of units in names (``ram_mib``, ``link_mib_s``). Every model forbids
unknown keys so that a typo in an inventory is an error, not a silently ignored field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from packaging.version import Version
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from hvroll.domain.enums import (
    ConfigDrive,
    CpuMode,
    DiskKind,
    GroupPolicy,
    GuestOsFamily,
    HostRole,
    Passthrough,
    PowerState,
    SchedulingState,
)
from hvroll.domain.versions import upstream_version


def _check_version(value: str) -> str:
    upstream_version(value)
    return value


VersionStr = Annotated[str, AfterValidator(_check_version)]
"""A version string as a distribution writes it (``2.11.1``, ``3.2.0-14.el7_4.9``,
``1:2.11+dfsg-1ubuntu7.23``): compared by :func:`~hvroll.domain.versions.upstream_version`,
kept as written for round trips."""

Name = Annotated[
    str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$")
]
"""An object name: a letter or digit first, then letters, digits and ``._:@/-``."""


def _number(value: object) -> object:
    """Refuse ``true``/``false`` where a number is expected (pydantic would read them as 1/0)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {str(value).lower()}")
    return value


Int = Annotated[int, BeforeValidator(_number)]
Float = Annotated[float, BeforeValidator(_number)]
PositiveInt = Annotated[Int, Field(gt=0)]
NonNegativeInt = Annotated[Int, Field(ge=0)]
Ratio = Annotated[Float, Field(gt=0, le=64)]

# Bounds of every number of the inventory (docs/inventory.md, "Limits"). They are far beyond
# any real machine and keep the planner's arithmetic finite and fast.
MAX_HOST_VCPUS = 16_384
MAX_HOST_RAM_MIB = 128 * 1024 * 1024
"""128 TiB."""
MAX_VM_VCPUS = 4_096
MAX_VM_RAM_MIB = 32 * 1024 * 1024
"""32 TiB."""
MAX_DISK_GIB = 1024 * 1024
"""1 PiB."""
MIN_LINK_MIB_S = 1.0
MAX_LINK_MIB_S = 1_000_000.0
"""About 8 Tbit/s."""
MAX_DIRTY_RATE_MIB_S = 1_000_000.0
MAX_COUNT = 1_000_000
"""Counters such as migrations since the last power cycle."""
MAX_RANK = 1_000


class Model(BaseModel):
    """Base of every fleet object: immutable, strict about unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False,
                              allow_inf_nan=False)


class Region(Model):
    """A region: a failure and upgrade domain holding clusters."""

    name: Name


class Cluster(Model):
    """A group of hosts with the same hardware, upgraded together; spares are hosts with
    ``role: spare``."""

    name: Name
    region: Name


class CpuGeneration(Model):
    """A hardware CPU generation as libvirt describes the CPU its guests can get.

    ``model`` is a model name from libvirt's ``cpu_map`` (e.g. ``Broadwell-noTSX``),
    ``features`` the features the host has beyond that model and ``disabled`` the model's
    features it lacks, as the host-model CPU of ``virsh domcapabilities`` lists them
    (``<feature policy='require'|'disable'>``). Features typed from ``virsh capabilities``
    work too: compat drops those no guest can migrate with (``invtsc``).
    """

    name: Name
    model: Name
    vendor: str = "Intel"
    features: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()


class HostProfile(Model):
    """A versioned bundle of host software (a "compute profile", e.g. CPv1, CPv2)."""

    name: Name
    os_name: str
    os_version: str
    kernel_flags: tuple[str, ...] = ()
    qemu_version: VersionStr
    libvirt_version: VersionStr
    nova_release: str | None = None
    rank: Annotated[NonNegativeInt, Field(le=MAX_RANK)] = 0
    """Order of profiles: a VM never moves to a host of lower rank (the one-way profile graph)."""

    @property
    def qemu_upstream(self) -> Version:
        """The upstream QEMU version in ``qemu_version`` (what version bounds compare)."""
        return upstream_version(self.qemu_version)

    @property
    def libvirt_upstream(self) -> Version:
        """The upstream libvirt version in ``libvirt_version``."""
        return upstream_version(self.libvirt_version)


class Host(Model):
    """A hypervisor."""

    name: Name
    cluster: Name
    generation: Name
    profile: Name
    vcpus: Annotated[PositiveInt, Field(le=MAX_HOST_VCPUS)]
    ram_mib: Annotated[PositiveInt, Field(le=MAX_HOST_RAM_MIB)]
    disk_gib: Annotated[NonNegativeInt, Field(le=MAX_DISK_GIB)] = 0
    cpu_allocation_ratio: Ratio = 4.0
    ram_allocation_ratio: Ratio = 1.0
    disk_allocation_ratio: Ratio = 1.0
    link_mib_s: Annotated[Float, Field(ge=MIN_LINK_MIB_S, le=MAX_LINK_MIB_S)] = 1180.0
    """Bandwidth of the migration network link, MiB/s (10 GbE ≈ 1180 MiB/s)."""
    role: HostRole = HostRole.ACTIVE
    scheduling: SchedulingState = SchedulingState.ENABLED
    libvirt_uri: str | None = None
    """How to reach this host's libvirtd, for the libvirt driver (e.g. ``qemu+ssh://hv1/system``)."""

    @property
    def vcpu_capacity(self) -> float:
        return self.vcpus * self.cpu_allocation_ratio

    @property
    def ram_capacity_mib(self) -> float:
        return self.ram_mib * self.ram_allocation_ratio

    @property
    def disk_capacity_gib(self) -> float:
        return self.disk_gib * self.disk_allocation_ratio


class Disk(Model):
    """A VM disk. Only ``local`` disks use the host's disk capacity and need block migration."""

    kind: DiskKind
    size_gib: Annotated[NonNegativeInt, Field(le=MAX_DISK_GIB)] = 0


class GuestOs(Model):
    """The guest operating system."""

    family: GuestOsFamily
    distro: str = ""
    version: str = ""
    kernel: str = ""
    """The guest kernel's version if known (e.g. ``3.2.0-126-generic``): decides SMAP support."""
    smap_support: bool | None = None
    """Whether the guest boots on a CPU that exposes SMAP; unset, hvroll derives it from the
    kernel or the distribution release (``hvroll.compat.guestos``), and an explicit value
    wins (``false`` for legacy kernels such as Linux 2.6/3.2)."""

    @property
    def label(self) -> str:
        return " ".join(p for p in (self.distro or self.family.value, self.version) if p)


class GuestCpu(Model):
    """The guest CPU: its mode, and the CPU it was started with (kept until its next power cycle).

    ``model`` is a ``cpu_map`` model name; ``features`` are required beyond the model and
    ``disabled`` removed from it, as in ``<feature policy='require'|'disable'>``.
    """

    mode: CpuMode = CpuMode.HOST_MODEL
    model: Name | None = None
    features: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()


class Devices(Model):
    """Devices that matter for migration."""

    balloon: bool = True
    config_drive: ConfigDrive = ConfigDrive.NONE
    passthrough: tuple[Passthrough, ...] = ()


class VmHistory(Model):
    """What happened to the VM since its last power cycle."""

    live_migrations_since_power_cycle: Annotated[NonNegativeInt, Field(le=MAX_COUNT)] = 0
    last_power_cycle: datetime | None = None


class ServerGroup(Model):
    """A Nova server group; ``anti-affinity`` means no two members on one host."""

    name: Name
    policy: GroupPolicy = GroupPolicy.ANTI_AFFINITY


_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class Vm(Model):
    """A virtual machine."""

    name: Name
    uuid: Annotated[str, Field(pattern=_UUID)]
    host: Name
    vcpus: Annotated[PositiveInt, Field(le=MAX_VM_VCPUS)]
    ram_mib: Annotated[PositiveInt, Field(le=MAX_VM_RAM_MIB)]
    disks: tuple[Disk, ...] = ()
    guest: GuestOs
    cpu: GuestCpu = GuestCpu()
    devices: Devices = Devices()
    tenant: str = ""
    internal: bool = False
    """An internal tenant's VM: a canary candidate."""
    server_group: Name | None = None
    power: PowerState = PowerState.RUNNING
    history: VmHistory = VmHistory()
    dirty_rate_mib_s: Annotated[Float, Field(ge=0, le=MAX_DIRTY_RATE_MIB_S)] | None = None
    """Typical rate at which the guest dirties memory, MiB/s, if known."""

    @property
    def local_disk_gib(self) -> int:
        total = 0  # a loop, not sum() of a generator: read for every VM by each plan and load
        for disk in self.disks:
            if disk.kind is DiskKind.LOCAL:
                total += disk.size_gib
        return total

    @property
    def has_local_disk(self) -> bool:
        return any(d.kind is DiskKind.LOCAL for d in self.disks)

    @property
    def has_volume(self) -> bool:
        return any(d.kind is DiskKind.VOLUME for d in self.disks)
