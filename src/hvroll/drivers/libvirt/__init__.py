"""The libvirt driver: real hosts through libvirt-python (see ``docs/libvirt.md``).

* :class:`LibvirtCloud` implements :class:`~hvroll.drivers.base.Driver` on the hosts of an
  inventory (each with its ``libvirt_uri``);
* :func:`for_testbed` and :func:`cloud_for` build one configured for the on-machine testbed or
  from the environment (``hvroll run --driver libvirt``);
* :class:`CommandHook` reinstalls a host with an operator's command.

Importing this package does not import libvirt-python; creating a driver does.
"""

from hvroll.drivers.libvirt.cloud import WORKAROUNDS, GuestProbe, LibvirtCloud, ProfileSource
from hvroll.drivers.libvirt.core import Settings
from hvroll.drivers.libvirt.hooks import CommandHook, ReinstallHook
from hvroll.drivers.libvirt.setup import cloud_for, for_testbed, testbed_workdir

__all__ = [
    "WORKAROUNDS",
    "CommandHook",
    "GuestProbe",
    "LibvirtCloud",
    "ProfileSource",
    "ReinstallHook",
    "Settings",
    "cloud_for",
    "for_testbed",
    "testbed_workdir",
]
