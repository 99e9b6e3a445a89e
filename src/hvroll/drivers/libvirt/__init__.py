"""The libvirt driver: real hosts through libvirt-python (see ``docs/libvirt.md``).

* :class:`LibvirtCloud` implements :class:`~hvroll.drivers.base.Driver` on the hosts of an
  inventory (each with its ``libvirt_uri``);
* :func:`cloud_for` builds one configured from the environment (``hvroll run --driver
  libvirt``; the testbed's defaults are in :mod:`hvroll.testbed.driver`);
* :class:`CommandHook` reinstalls a host with an operator's command.

Importing this package does not import libvirt-python; creating a driver does.
"""

from hvroll.drivers.libvirt.cloud import WORKAROUNDS, GuestProbe, LibvirtCloud, ProfileSource
from hvroll.drivers.libvirt.core import Settings
from hvroll.drivers.libvirt.hooks import CommandHook, ReinstallHook
from hvroll.drivers.libvirt.setup import cloud_for

__all__ = [
    "WORKAROUNDS",
    "CommandHook",
    "GuestProbe",
    "LibvirtCloud",
    "ProfileSource",
    "ReinstallHook",
    "Settings",
    "cloud_for",
]
