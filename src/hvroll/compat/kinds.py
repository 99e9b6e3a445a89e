"""The compatibility vocabulary: verdict kinds, what a rule affects, migration capabilities and
the named actions a verdict can ask for."""

from __future__ import annotations

import re
from enum import StrEnum


class VerdictKind(StrEnum):
    """How bad a verdict is, ordered ``OK < WARN < WORKAROUND < BLOCK`` (not alphabetically)."""

    OK = "ok"
    WARN = "warn"
    """Allowed; something to know (e.g. interface stats to normalize), nothing to do first."""
    WORKAROUND = "workaround"
    """Allowed once the named workaround actions are done (e.g. remove the balloon first)."""
    BLOCK = "block"
    """Not allowed."""

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __lt__(self, other: object) -> bool:
        if isinstance(other, VerdictKind):
            return self.rank < other.rank
        return NotImplemented

    def __le__(self, other: object) -> bool:
        if isinstance(other, VerdictKind):
            return self.rank <= other.rank
        return NotImplemented

    def __gt__(self, other: object) -> bool:
        if isinstance(other, VerdictKind):
            return self.rank > other.rank
        return NotImplemented

    def __ge__(self, other: object) -> bool:
        if isinstance(other, VerdictKind):
            return self.rank >= other.rank
        return NotImplemented


_RANK = {VerdictKind.OK: 0, VerdictKind.WARN: 1, VerdictKind.WORKAROUND: 2, VerdictKind.BLOCK: 3}


class Affects(StrEnum):
    """What a known issue breaks."""

    SPAWN = "spawn"
    """Starting the VM on the host (also: its next boot after a power cycle there)."""
    LIVE_MIGRATION = "live_migration"
    COLD_MIGRATION = "cold_migration"
    TELEMETRY = "telemetry"
    """Metrics about the VM (evaluated with every spawn and migration)."""


class Capability(StrEnum):
    """Migration features that need both hosts' QEMU and libvirt to support them."""

    AUTO_CONVERGE = "auto_converge"
    POST_COPY = "post_copy"
    MIGRATE_URI3 = "migrate_uri3"


ACTIONS = {
    "remove_balloon": "hot-unplug the memory balloon before the live migration "
                      "(virsh qemu-monitor-command --hmp DOMAIN device_del balloon0)",
    "pin_cpu_model": "give the VM a named CPU model every destination provides "
                     "(the baseline of the hosts), at its next restart",
    "copy_config_drive": "copy the read-only config drive (disk.config) to the destination "
                         "before the live migration",
    "require_guest_update": "the guest OS must be updated before it can run there",
    "use_migrate_uri3": "migrate with virDomainMigrateToURI3 (selected disks)",
    "normalize_iface_stats": "read interface RX/TX by the reporting host's libvirt version "
                             "and interface type (ethernet: swapped from 3.9.0)",
    "cold_migrate": "move the VM powered off (cold migration) instead",
    "reboot_guest": "have the guest rebooted (power cycled) before the live migration",
    "host_kernel_flag": "boot the destination host with a kernel flag (host_kernel_flag:FLAG)",
}
"""Every action a rule may name, and what it means. ``host_kernel_flag`` takes ``:FLAG``."""

ACTION_PATTERN = re.compile(
    r"^(?:" + "|".join(a for a in ACTIONS if a != "host_kernel_flag")
    + r"|host_kernel_flag:[A-Za-z0-9_.=-]+)$")


def kernel_flag(action: str) -> str | None:
    """The flag of a ``host_kernel_flag:FLAG`` action, else None."""
    prefix = "host_kernel_flag:"
    return action[len(prefix):] if action.startswith(prefix) else None
