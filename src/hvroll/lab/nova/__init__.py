"""A real Nova control plane on loopback, for tests and operators' rehearsals.

``up`` starts MariaDB and RabbitMQ (Debian's, run by hand on loopback ports), a Neutron stub,
placement, glance, nova-api, conductor, scheduler and N nova-computes whose virt driver is a
restartable fake live-migration driver, then creates servers; ``down`` stops only what ``up``
started. Nova runs from its own virtual environment. See ``docs/nova.md``.
"""

from hvroll.lab.nova.api import (
    KNOBS,
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
