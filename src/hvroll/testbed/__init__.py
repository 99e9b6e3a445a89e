"""Real libvirt "hosts" on one machine, and a tiny canary guest, for tests and rehearsals.

Each host is a libvirtd in its own network, mount and UTS namespaces, reachable from this
machine at ``qemu+unix:///system?socket=<workdir>/hosts/hN/run/libvirt-sock``. Guests are TCG
QEMU guests booting a Debian kernel into a memory-dirtying program whose console lines tell
whether the guest survived a migration intact. See ``docs/testbed.md``.
"""

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
