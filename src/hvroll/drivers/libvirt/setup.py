"""Building a configured driver for ``hvroll run --driver libvirt``.

What :func:`cloud_for` takes from :class:`~hvroll.drivers.settings.DriverSettings` (flags of
``hvroll run`` or ``HVROLL_*`` variables; see ``docs/settings.md``): the reinstall command with
its timeout and retries, the migration bandwidth cap, the shared paths and the poll interval.

Defaults for a kind of hosts (the testbed's: :func:`hvroll.testbed.driver.testbed_defaults`)
are passed in by the caller; the settings override them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hvroll.domain import Fleet
from hvroll.drivers.libvirt.cloud import LibvirtCloud
from hvroll.drivers.libvirt.hooks import CommandHook, ReinstallHook
from hvroll.drivers.settings import DriverSettings
from hvroll.drivers.settings import load as load_settings


def cloud_for(fleet: Fleet, *, journal: Path | None, settings: DriverSettings | None = None,
              defaults: Mapping[str, Any] | None = None) -> LibvirtCloud:
    """The driver ``hvroll run --driver libvirt`` uses: ``defaults`` (keyword arguments of
    :class:`LibvirtCloud`), then ``settings`` (default: read from the environment)."""
    settings = settings if settings is not None else load_settings()
    options: dict[str, Any] = {**(defaults or {}), "journal": journal,
                               "poll_s": settings.libvirt_poll_s}
    if settings.reinstall_cmd:
        hook: ReinstallHook = CommandHook(settings.reinstall_cmd,
                                          timeout_s=settings.reinstall_timeout_s,
                                          retries=settings.reinstall_retries)
        options["reinstall_hook"] = hook
    if settings.migration_bandwidth_mib_s > 0:
        options["bandwidth_mib_s"] = settings.migration_bandwidth_mib_s
    if settings.shared_paths:
        options["shared_paths"] = settings.shared_paths
    return LibvirtCloud(fleet, **options)
