"""The fleet's domain model: plain, immutable data shared by every other part of hvroll."""

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
from hvroll.domain.fleet import INVENTORY_VERSION, Fleet
from hvroll.domain.models import (
    Cluster,
    CpuGeneration,
    Devices,
    Disk,
    GuestCpu,
    GuestOs,
    Host,
    HostProfile,
    Region,
    ServerGroup,
    Vm,
    VmHistory,
)
from hvroll.domain.versions import upstream_version

__all__ = [
    "INVENTORY_VERSION",
    "Cluster",
    "ConfigDrive",
    "CpuGeneration",
    "CpuMode",
    "Devices",
    "Disk",
    "DiskKind",
    "Fleet",
    "GroupPolicy",
    "GuestCpu",
    "GuestOs",
    "GuestOsFamily",
    "Host",
    "HostProfile",
    "HostRole",
    "Passthrough",
    "PowerState",
    "Region",
    "SchedulingState",
    "ServerGroup",
    "Vm",
    "VmHistory",
    "upstream_version",
]
