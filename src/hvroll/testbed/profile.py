"""Each testbed host's software profile marker (``profile.json`` in its state directory).

A profile is the name of the software bundle the host "runs" (``CPv1``, ``CPv2``) plus the QEMU and
libvirt versions its daemon reported the last time it started. A reinstall hook changes the name
with :func:`write_profile` and restarts the daemon with ``restart_host``; the inventory groups hosts
by it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hvroll.errors import InputError
from hvroll.testbed.layout import HostLayout
from hvroll.testbed.state import load_layout

PROFILE_RANKS: dict[str, int] = {"CPv1": 1, "CPv2": 2}
"""Known profiles and their rank (a VM never moves to a host of lower rank)."""
DEFAULT_PROFILE = "CPv1"


@dataclass(frozen=True, slots=True)
class ProfileMarker:
    """What a host's ``profile.json`` says."""

    profile: str
    qemu_version: str | None = None
    libvirt_version: str | None = None


def check_profile(name: str) -> str:
    if name not in PROFILE_RANKS:
        known = ", ".join(PROFILE_RANKS)
        raise InputError(f"unknown testbed profile {name!r}: use one of {known}")
    return name


def read_marker(host: HostLayout) -> ProfileMarker | None:
    try:
        data = json.loads(host.profile_file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise InputError(f"{host.profile_file}: unreadable profile marker ({exc})") from exc
    return ProfileMarker(profile=str(data["profile"]), qemu_version=data.get("qemu_version"),
                         libvirt_version=data.get("libvirt_version"))


def write_marker(host: HostLayout, marker: ProfileMarker) -> None:
    check_profile(marker.profile)
    host.state_dir.mkdir(parents=True, exist_ok=True)
    tmp = host.profile_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"host": host.hostname, "profile": marker.profile,
                               "qemu_version": marker.qemu_version,
                               "libvirt_version": marker.libvirt_version}, indent=2) + "\n")
    tmp.replace(host.profile_file)


def _owned_host(workdir: Path | str, host: str) -> HostLayout:
    layout, state = load_layout(workdir)
    hl = layout.resolve_host(host)
    if hl.index not in state.hosts:
        raise InputError(f"testbed in {layout.workdir} has no host {hl.hostname}")
    return hl


def read_profile(workdir: Path | str, host: str) -> ProfileMarker:
    """The profile marker of ``host`` (``h2``, ``hvtb-h2`` or ``2``) of the testbed at
    ``workdir``."""
    hl = _owned_host(workdir, host)
    marker = read_marker(hl)
    if marker is None:
        raise InputError(
            f"testbed host {hl.hostname} has no profile marker: run 'hvroll testbed up'"
        )
    return marker


def write_profile(workdir: Path | str, host: str, profile: str) -> ProfileMarker:
    """Set ``host``'s profile name, keeping the versions last reported by its daemon.

    The daemon reports fresh versions at its next start (``restart_host``)."""
    hl = _owned_host(workdir, host)
    old = read_marker(hl) or ProfileMarker(profile=check_profile(profile))
    marker = ProfileMarker(profile=check_profile(profile), qemu_version=old.qemu_version,
                           libvirt_version=old.libvirt_version)
    write_marker(hl, marker)
    return marker
