"""The libvirt driver configured for the on-machine testbed.

On the testbed (every host's ``libvirt_uri`` is a testbed socket) the driver gets:

* the profile from each host's profile marker (``<workdir>/hosts/hN/profile.json``; CPv1 and
  CPv2 run the same binaries, so versions cannot tell them apart);
* a guest probe that waits for a new heartbeat on the guest's console log (the canary prints
  one per second) and checks the lines it reads are healthy;
* ``<workdir>/shared`` as shared storage;
* the testbed reinstall hook (:class:`~hvroll.testbed.hook.TestbedReinstallHook`).

:func:`testbed_defaults` gives these as keyword arguments of
:class:`~hvroll.drivers.libvirt.LibvirtCloud` (``hvroll run --driver libvirt`` passes them to
:func:`~hvroll.drivers.libvirt.cloud_for` when the inventory is a testbed's);
:func:`for_testbed` builds the driver directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hvroll.domain import Fleet, Host
from hvroll.drivers.libvirt import LibvirtCloud
from hvroll.errors import InputError
from hvroll.testbed.health import guest_health, wait_for_heartbeats
from hvroll.testbed.hook import TestbedReinstallHook
from hvroll.testbed.layout import workdir_from_uri
from hvroll.testbed.profile import read_profile
from hvroll.testbed.state import load_layout

PROBE_TIMEOUT_S = 15.0
"""How long the guest probe waits for a canary's next heartbeat after its migration. A
healthy canary prints one a second of its own time, so the probe usually returns within a
second; but a TCG guest's vCPU shares the machine's cores, and with them busy its next line
can take longer: with 3 s, a healthy canary that went on beating was reported as not
answering after its migration, on two cores at a load average of 10. Only a guest that
really stopped costs the whole wait."""


def testbed_workdir(fleet: Fleet) -> Path | None:
    """The work directory of the testbed all of ``fleet``'s hosts belong to, or None."""
    found: set[Path] = set()
    for host in fleet.hosts:
        uri = host.libvirt_uri or ""
        if "socket=" not in uri:
            return None
        try:
            found.add(workdir_from_uri(uri))
        except InputError:
            return None
    return found.pop() if len(found) == 1 else None


class MarkerProfiles:
    """Profile source: the testbed host's profile marker."""

    def __init__(self, workdir: Path) -> None:
        self.hook = TestbedReinstallHook(workdir)

    def __call__(self, host: Host, versions: tuple[str, str]) -> str:
        hl = self.hook.host_layout(host)
        return read_profile(self.hook.workdir, hl.short_name).profile


class HeartbeatProbe:
    """Guest probe: a new healthy heartbeat on the canary's console log within ``timeout_s``
    (None for a VM without a console log: not a canary)."""

    def __init__(self, workdir: Path, timeout_s: float = PROBE_TIMEOUT_S) -> None:
        self.layout, _ = load_layout(workdir)
        self.timeout_s = timeout_s

    def __call__(self, vm: str) -> bool | None:
        log = self.layout.console_log(vm)
        if not log.is_file():
            return None
        offset = log.stat().st_size
        health = wait_for_heartbeats(log, offset, 1, timeout_s=self.timeout_s, poll_s=0.1)
        return health.ok and guest_health(log, offset).ok


def testbed_defaults(fleet: Fleet, workdir: Path | None = None) -> dict[str, Any]:
    """Keyword arguments of ``LibvirtCloud`` for the testbed ``fleet``'s hosts belong to (its
    work directory found from the URIs); empty when they are not all hosts of one testbed."""
    workdir = workdir or testbed_workdir(fleet)
    if workdir is None:
        return {}
    layout, _ = load_layout(workdir)
    return {
        "reinstall_hook": TestbedReinstallHook(workdir),
        "profile_source": MarkerProfiles(workdir),
        "guest_probe": HeartbeatProbe(workdir),
        "shared_paths": (layout.shared_dir,),
    }


def for_testbed(fleet: Fleet, workdir: Path | None = None, **kwargs: Any) -> LibvirtCloud:
    """A driver for the testbed hosts of ``fleet``; keyword arguments override the testbed
    defaults."""
    options = testbed_defaults(fleet, workdir)
    if not options:
        raise InputError("the inventory's hosts are not all hosts of one testbed (expected "
                         "libvirt_uri qemu+unix:///system?socket=<workdir>/hosts/hN/run/"
                         "libvirt-sock)")
    options.update(kwargs)
    return LibvirtCloud(fleet, **options)
