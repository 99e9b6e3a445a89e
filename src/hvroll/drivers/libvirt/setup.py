"""Building a configured driver: for the on-machine testbed, and from the environment for
``hvroll run --driver libvirt``.

On the testbed (every host's ``libvirt_uri`` is a testbed socket) the driver gets:

* the profile from each host's profile marker (``<workdir>/hosts/hN/profile.json``; CPv1 and
  CPv2 run the same binaries, so versions cannot tell them apart);
* a guest probe that waits for a new heartbeat on the guest's console log (the canary prints
  one per second) and checks the lines it reads are healthy;
* ``<workdir>/shared`` as shared storage;
* the testbed reinstall hook (:class:`~hvroll.testbed.hook.TestbedReinstallHook`).

Environment variables read by :func:`cloud_for`:

``HVROLL_REINSTALL_CMD``
    an operator command run to reinstall a host (``{host}``, ``{profile}``, ``{uri}`` are
    replaced), instead of the testbed hook; with ``HVROLL_REINSTALL_TIMEOUT_S`` (default 3600)
    and ``HVROLL_REINSTALL_RETRIES`` (default 0).
``HVROLL_MIGRATION_BANDWIDTH_MIB_S``
    bandwidth cap of every live migration, MiB/s (default and 0: none).
``HVROLL_SHARED_PATHS``
    colon-separated directories that are shared storage (default: the testbed's).
``HVROLL_LIBVIRT_POLL_S``
    the driver's poll interval, seconds (default 0.5).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hvroll.domain import Fleet, Host
from hvroll.drivers.libvirt.cloud import LibvirtCloud
from hvroll.drivers.libvirt.hooks import CommandHook, ReinstallHook
from hvroll.errors import InputError
from hvroll.testbed.health import guest_health, wait_for_heartbeats
from hvroll.testbed.hook import TestbedReinstallHook
from hvroll.testbed.layout import workdir_from_uri
from hvroll.testbed.profile import read_profile
from hvroll.testbed.state import load_layout

PROBE_TIMEOUT_S = 3.0


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


def for_testbed(fleet: Fleet, workdir: Path | None = None, **kwargs: Any) -> LibvirtCloud:
    """A driver for the testbed hosts of ``fleet`` (its work directory found from the URIs);
    keyword arguments override the testbed defaults."""
    workdir = workdir or testbed_workdir(fleet)
    if workdir is None:
        raise InputError("the inventory's hosts are not all hosts of one testbed (expected "
                         "libvirt_uri qemu+unix:///system?socket=<workdir>/hosts/hN/run/"
                         "libvirt-sock)")
    layout, _ = load_layout(workdir)
    options: dict[str, Any] = {
        "reinstall_hook": TestbedReinstallHook(workdir),
        "profile_source": MarkerProfiles(workdir),
        "guest_probe": HeartbeatProbe(workdir),
        "shared_paths": (layout.shared_dir,),
    }
    options.update(kwargs)
    return LibvirtCloud(fleet, **options)


def cloud_for(fleet: Fleet, *, journal: Path | None,
              environ: Mapping[str, str] | None = None) -> LibvirtCloud:
    """The driver ``hvroll run --driver libvirt`` uses: testbed defaults when the inventory is
    a testbed's, then the environment variables above."""
    env = os.environ if environ is None else environ
    options: dict[str, Any] = {"journal": journal}
    command = env.get("HVROLL_REINSTALL_CMD", "").strip()
    if command:
        hook: ReinstallHook = CommandHook(
            command, timeout_s=_number(env, "HVROLL_REINSTALL_TIMEOUT_S", 3600.0),
            retries=int(_number(env, "HVROLL_REINSTALL_RETRIES", 0)))
        options["reinstall_hook"] = hook
    cap = _number(env, "HVROLL_MIGRATION_BANDWIDTH_MIB_S", 0.0)
    if cap > 0:
        options["bandwidth_mib_s"] = cap
    if env.get("HVROLL_SHARED_PATHS"):
        options["shared_paths"] = tuple(Path(p) for p in env["HVROLL_SHARED_PATHS"].split(":")
                                        if p)
    if env.get("HVROLL_LIBVIRT_POLL_S"):
        options["poll_s"] = _number(env, "HVROLL_LIBVIRT_POLL_S", 0.5)
    if testbed_workdir(fleet) is not None:
        return for_testbed(fleet, **options)
    return LibvirtCloud(fleet, **options)


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{name}={text!r} is not a number") from None
    if value < 0:
        raise InputError(f"{name} must be >= 0 (got {text})")
    return value
