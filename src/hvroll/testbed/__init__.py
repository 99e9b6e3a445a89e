"""Real libvirt "hosts" on one machine, and a tiny canary guest, for tests and rehearsals.

Each host is a libvirtd in its own network, mount and UTS namespaces, reachable from this
machine at ``qemu+unix:///system?socket=<workdir>/hosts/hN/run/libvirt-sock``. Guests are TCG
QEMU guests booting a Debian kernel into a memory-dirtying program whose console lines tell
whether the guest survived a migration intact. See ``docs/testbed.md``.

Its names are imported on first use, so that the command line's help (which shows the
testbed's defaults) does not load the testbed's code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hvroll.lazy import exports

if TYPE_CHECKING:
    from hvroll.testbed.canaries import (
        CanarySpec,
        GuestState,
        add_guest,
        ensure_canaries,
        guest_states,
        remove_guest,
    )
    from hvroll.testbed.guests import DEFAULT_GUEST_CPU, Guest, GuestSpec, define_guest, domain_xml
    from hvroll.testbed.health import GuestHealth, guest_health, parse_console, wait_for_heartbeats
    from hvroll.testbed.hosts import (
        DownReport,
        HostStatus,
        Testbed,
        TestbedHost,
        TestbedStatus,
        down,
        restart_host,
        status,
        up,
    )
    from hvroll.testbed.image import GuestImage
    from hvroll.testbed.inventory import build_inventory, write_inventory
    from hvroll.testbed.layout import DEFAULT_PREFIX, DEFAULT_WORKDIR
    from hvroll.testbed.profile import (
        DEFAULT_PROFILE,
        PROFILE_RANKS,
        ProfileMarker,
        read_profile,
        write_profile,
    )

__all__ = [
    "DEFAULT_GUEST_CPU",
    "DEFAULT_PREFIX",
    "DEFAULT_PROFILE",
    "DEFAULT_WORKDIR",
    "PROFILE_RANKS",
    "CanarySpec",
    "DownReport",
    "Guest",
    "GuestHealth",
    "GuestImage",
    "GuestSpec",
    "GuestState",
    "HostStatus",
    "ProfileMarker",
    "Testbed",
    "TestbedHost",
    "TestbedStatus",
    "add_guest",
    "build_inventory",
    "define_guest",
    "domain_xml",
    "down",
    "ensure_canaries",
    "guest_health",
    "guest_states",
    "parse_console",
    "read_profile",
    "remove_guest",
    "restart_host",
    "status",
    "up",
    "wait_for_heartbeats",
    "write_inventory",
    "write_profile",
]

_WHERE = {
    "CanarySpec": ("hvroll.testbed.canaries", "CanarySpec"),
    "DEFAULT_GUEST_CPU": ("hvroll.testbed.guests", "DEFAULT_GUEST_CPU"),
    "DEFAULT_PREFIX": ("hvroll.testbed.layout", "DEFAULT_PREFIX"),
    "DEFAULT_PROFILE": ("hvroll.testbed.profile", "DEFAULT_PROFILE"),
    "DEFAULT_WORKDIR": ("hvroll.testbed.layout", "DEFAULT_WORKDIR"),
    "DownReport": ("hvroll.testbed.hosts", "DownReport"),
    "Guest": ("hvroll.testbed.guests", "Guest"),
    "GuestHealth": ("hvroll.testbed.health", "GuestHealth"),
    "GuestImage": ("hvroll.testbed.image", "GuestImage"),
    "GuestSpec": ("hvroll.testbed.guests", "GuestSpec"),
    "GuestState": ("hvroll.testbed.canaries", "GuestState"),
    "HostStatus": ("hvroll.testbed.hosts", "HostStatus"),
    "PROFILE_RANKS": ("hvroll.testbed.profile", "PROFILE_RANKS"),
    "ProfileMarker": ("hvroll.testbed.profile", "ProfileMarker"),
    "Testbed": ("hvroll.testbed.hosts", "Testbed"),
    "TestbedHost": ("hvroll.testbed.hosts", "TestbedHost"),
    "TestbedStatus": ("hvroll.testbed.hosts", "TestbedStatus"),
    "add_guest": ("hvroll.testbed.canaries", "add_guest"),
    "build_inventory": ("hvroll.testbed.inventory", "build_inventory"),
    "define_guest": ("hvroll.testbed.guests", "define_guest"),
    "domain_xml": ("hvroll.testbed.guests", "domain_xml"),
    "down": ("hvroll.testbed.hosts", "down"),
    "ensure_canaries": ("hvroll.testbed.canaries", "ensure_canaries"),
    "guest_health": ("hvroll.testbed.health", "guest_health"),
    "guest_states": ("hvroll.testbed.canaries", "guest_states"),
    "parse_console": ("hvroll.testbed.health", "parse_console"),
    "read_profile": ("hvroll.testbed.profile", "read_profile"),
    "remove_guest": ("hvroll.testbed.canaries", "remove_guest"),
    "restart_host": ("hvroll.testbed.hosts", "restart_host"),
    "status": ("hvroll.testbed.hosts", "status"),
    "up": ("hvroll.testbed.hosts", "up"),
    "wait_for_heartbeats": ("hvroll.testbed.health", "wait_for_heartbeats"),
    "write_inventory": ("hvroll.testbed.inventory", "write_inventory"),
    "write_profile": ("hvroll.testbed.profile", "write_profile"),
}
"""Each name of ``__all__``: the module that defines it, and its name there."""


__getattr__ = exports(__name__, _WHERE, globals())
