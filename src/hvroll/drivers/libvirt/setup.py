"""Building a configured driver from the environment, for ``hvroll run --driver libvirt``.

Environment variables read by :func:`cloud_for`:

``HVROLL_REINSTALL_CMD``
    an operator command run to reinstall a host (``{host}``, ``{profile}``, ``{uri}`` are
    replaced); with ``HVROLL_REINSTALL_TIMEOUT_S`` (default 3600) and
    ``HVROLL_REINSTALL_RETRIES`` (default 0).
``HVROLL_MIGRATION_BANDWIDTH_MIB_S``
    bandwidth cap of every live migration, MiB/s (default and 0: none).
``HVROLL_SHARED_PATHS``
    colon-separated directories that are shared storage (default: none, or the defaults given).
``HVROLL_LIBVIRT_POLL_S``
    the driver's poll interval, seconds (default 0.5).

Defaults for a kind of hosts (the testbed's: :func:`hvroll.testbed.driver.testbed_defaults`)
are passed in by the caller; the environment overrides them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hvroll.domain import Fleet
from hvroll.drivers.libvirt.cloud import LibvirtCloud
from hvroll.drivers.libvirt.hooks import CommandHook, ReinstallHook
from hvroll.errors import InputError


def cloud_for(fleet: Fleet, *, journal: Path | None,
              environ: Mapping[str, str] | None = None,
              defaults: Mapping[str, Any] | None = None) -> LibvirtCloud:
    """The driver ``hvroll run --driver libvirt`` uses: ``defaults`` (keyword arguments of
    :class:`LibvirtCloud`), then the environment variables above."""
    env = os.environ if environ is None else environ
    options: dict[str, Any] = {**(defaults or {}), "journal": journal}
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
