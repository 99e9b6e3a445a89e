"""Enumerations of the fleet's vocabulary; every state is one of these, never a loose string."""

from __future__ import annotations

from enum import StrEnum


class HostRole(StrEnum):
    """Whether a host normally carries VMs or is kept empty as a hot spare."""

    ACTIVE = "active"
    SPARE = "spare"


class SchedulingState(StrEnum):
    """Whether the cloud's scheduler may place new VMs on a host."""

    ENABLED = "enabled"
    DISABLED = "disabled"


class PowerState(StrEnum):
    """A VM's power state as the hypervisor reports it."""

    RUNNING = "running"
    PAUSED = "paused"
    SHUTOFF = "shutoff"
    CRASHED = "crashed"


class CpuMode(StrEnum):
    """libvirt guest CPU modes (``<cpu mode=…>``)."""

    HOST_MODEL = "host-model"
    CUSTOM = "custom"
    HOST_PASSTHROUGH = "host-passthrough"


class GuestOsFamily(StrEnum):
    """Guest operating system families."""

    LINUX = "linux"
    WINDOWS = "windows"
    FREEBSD = "freebsd"
    OTHER = "other"


class DiskKind(StrEnum):
    """Where a VM disk lives: on the host, on shared storage (e.g. Ceph), or an attached volume."""

    LOCAL = "local"
    SHARED = "shared"
    VOLUME = "volume"


class ConfigDrive(StrEnum):
    """Config drive format; ``iso9660`` is read-only and must be copied before a live migration."""

    NONE = "none"
    ISO9660 = "iso9660"
    VFAT = "vfat"


class Passthrough(StrEnum):
    """PCI devices passed through to a guest; they pin the VM to its host's hardware."""

    GPU = "gpu"
    FPGA = "fpga"


class GroupPolicy(StrEnum):
    """Server group policies, as in Nova."""

    ANTI_AFFINITY = "anti-affinity"
    SOFT_ANTI_AFFINITY = "soft-anti-affinity"
    AFFINITY = "affinity"
    SOFT_AFFINITY = "soft-affinity"
