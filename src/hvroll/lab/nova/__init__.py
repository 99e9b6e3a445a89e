"""A real Nova control plane on loopback, for tests and operators' rehearsals.

``up`` starts MariaDB and RabbitMQ (Debian's, run by hand on loopback ports), a Neutron stub,
placement, glance, nova-api, conductor, scheduler and N nova-computes whose virt driver is a
restartable fake live-migration driver, then creates servers; ``down`` stops only what ``up``
started. Nova runs from its own virtual environment. See ``docs/nova.md``.

Its names are imported on first use, so that the command line's help (which shows the lab's
defaults: workdir, ports, releases, profiles) does not load the lab's control code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hvroll.lazy import exports

if TYPE_CHECKING:
    from hvroll.lab.nova.api import (
        DownReport,
        LabStatus,
        UpReport,
        console_log,
        down,
        reinstall,
        set_knob,
        status,
        up,
    )
    from hvroll.lab.nova.layout import (
        CLOUD_NAME,
        DEFAULT_CACHE,
        DEFAULT_WORKDIR,
        KNOBS,
        MAX_PORT_OFFSET,
        PORT_OFFSET_ENV,
        Layout,
        Ports,
    )
    from hvroll.lab.nova.profiles import DEFAULT_PROFILE, PROFILES
    from hvroll.lab.nova.upgrade import GROUPS, switch
    from hvroll.lab.nova.upgrade import start as start_services
    from hvroll.lab.nova.upgrade import stop as stop_services
    from hvroll.lab.nova.venv import DEFAULT_RELEASE, RELEASES

__all__ = [
    "CLOUD_NAME",
    "DEFAULT_CACHE",
    "DEFAULT_PROFILE",
    "DEFAULT_RELEASE",
    "DEFAULT_WORKDIR",
    "GROUPS",
    "KNOBS",
    "MAX_PORT_OFFSET",
    "PORT_OFFSET_ENV",
    "PROFILES",
    "RELEASES",
    "DownReport",
    "LabStatus",
    "Layout",
    "Ports",
    "UpReport",
    "console_log",
    "down",
    "reinstall",
    "set_knob",
    "start_services",
    "status",
    "stop_services",
    "switch",
    "up",
]

_WHERE = {
    "CLOUD_NAME": ("hvroll.lab.nova.layout", "CLOUD_NAME"),
    "DEFAULT_CACHE": ("hvroll.lab.nova.layout", "DEFAULT_CACHE"),
    "DEFAULT_PROFILE": ("hvroll.lab.nova.profiles", "DEFAULT_PROFILE"),
    "DEFAULT_RELEASE": ("hvroll.lab.nova.venv", "DEFAULT_RELEASE"),
    "DEFAULT_WORKDIR": ("hvroll.lab.nova.layout", "DEFAULT_WORKDIR"),
    "DownReport": ("hvroll.lab.nova.api", "DownReport"),
    "GROUPS": ("hvroll.lab.nova.upgrade", "GROUPS"),
    "KNOBS": ("hvroll.lab.nova.layout", "KNOBS"),
    "LabStatus": ("hvroll.lab.nova.api", "LabStatus"),
    "Layout": ("hvroll.lab.nova.layout", "Layout"),
    "MAX_PORT_OFFSET": ("hvroll.lab.nova.layout", "MAX_PORT_OFFSET"),
    "PORT_OFFSET_ENV": ("hvroll.lab.nova.layout", "PORT_OFFSET_ENV"),
    "PROFILES": ("hvroll.lab.nova.profiles", "PROFILES"),
    "Ports": ("hvroll.lab.nova.layout", "Ports"),
    "RELEASES": ("hvroll.lab.nova.venv", "RELEASES"),
    "UpReport": ("hvroll.lab.nova.api", "UpReport"),
    "console_log": ("hvroll.lab.nova.api", "console_log"),
    "down": ("hvroll.lab.nova.api", "down"),
    "reinstall": ("hvroll.lab.nova.api", "reinstall"),
    "set_knob": ("hvroll.lab.nova.api", "set_knob"),
    "start_services": ("hvroll.lab.nova.upgrade", "start"),
    "status": ("hvroll.lab.nova.api", "status"),
    "stop_services": ("hvroll.lab.nova.upgrade", "stop"),
    "switch": ("hvroll.lab.nova.upgrade", "switch"),
    "up": ("hvroll.lab.nova.api", "up"),
}
"""Each name of ``__all__``: the module that defines it, and its name there."""


__getattr__ = exports(__name__, _WHERE, globals())
