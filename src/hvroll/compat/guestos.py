"""Guest-OS facts derived from what an inventory knows, as data with sources
(``data/guest_smap.yaml``).

Nova and Glance know a guest's distribution and version (``os_distro``, ``os_version``), rarely
its kernel, never whether it boots on a CPU that exposes SMAP. :func:`smap_fact` answers that
from, in this order: the VM's explicit ``smap_support`` (the operator's word wins); the guest
kernel's version (Linux supports SMAP since 3.7); the kernel its distribution release ships.
Where nothing decides, the fact is *unverified*: hvroll assumes the guest boots (as it did
before deriving it) and says so — ``hvroll check`` lists the VM under ``unverified_vms`` and
the canary wave prefers it.

Worked examples::

    smap_fact(GuestOs(family=linux, distro="centos", version="5.11"))
        → SmapFact(False, verified, "centos 5.11 ships Linux 2.6.18, older than 3.7")
    smap_fact(GuestOs(family=linux, distro="centos", version="6.10"))
        → SmapFact(True, unverified, "no kernel version and no release ... decides")
    smap_fact(GuestOs(family=linux, distro="centos", version="5.11", smap_support=True))
        → SmapFact(True, verified, "given in the inventory")
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from hvroll.domain import GuestOs, GuestOsFamily, Vm, upstream_version

FACT = "smap_support"


@dataclass(frozen=True, slots=True)
class Release:
    """A distribution release range and the kernel it ships."""

    distros: frozenset[str]
    versions: SpecifierSet
    kernel: Version
    source: str


@dataclass(frozen=True, slots=True)
class SmapTable:
    smap_since: Version
    kernel_source: str
    releases: tuple[Release, ...]
    assumed: bool
    assumed_why: str


@dataclass(frozen=True, slots=True)
class SmapFact:
    """Whether the guest boots on a CPU exposing SMAP, and on what that rests."""

    value: bool
    verified: bool
    basis: str
    """Why: the evidence used, or what was assumed and why."""
    source: str = ""

    def data(self) -> dict[str, object]:
        return {"fact": FACT, "value": self.value, "verified": self.verified,
                "basis": self.basis, "source": self.source}


@cache
def smap_table() -> SmapTable:
    """The shipped table."""
    text = resources.files("hvroll.compat").joinpath("data/guest_smap.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    linux = raw["kernels"]["linux"]
    return SmapTable(
        smap_since=Version(linux["smap_since"]), kernel_source=" ".join(linux["source"].split()),
        releases=tuple(Release(frozenset(r["distros"]), SpecifierSet(r["versions"]),
                               Version(r["kernel"]), r["source"]) for r in raw["releases"]),
        assumed=bool(raw["assumed"]), assumed_why=" ".join(raw["assumed_why"].split()))


def _version(text: str) -> Version | None:
    try:
        return upstream_version(text)
    except (ValueError, InvalidVersion):
        return None


def release_kernel(guest: GuestOs, table: SmapTable | None = None) -> Release | None:
    """The table's entry for the guest's distribution release, if any."""
    table = table or smap_table()
    version = _version(guest.version)
    if version is None:
        return None
    distro = guest.distro.lower()
    return next((r for r in table.releases
                 if distro in r.distros and r.versions.contains(version, prereleases=True)),
                None)


@cache
def smap_fact(guest: GuestOs) -> SmapFact:
    """Whether ``guest`` boots on a CPU that exposes SMAP (see the module docstring)."""
    table = smap_table()
    if guest.smap_support is not None:
        return SmapFact(guest.smap_support, True, "given in the inventory")
    if guest.family is not GuestOsFamily.LINUX:
        return SmapFact(table.assumed, False, f"{guest.label}: {table.assumed_why}")
    kernel = _version(guest.kernel) if guest.kernel else None
    if kernel is not None:
        ok = kernel >= table.smap_since
        return SmapFact(ok, True, f"guest kernel {guest.kernel} is "
                        f"{'at least' if ok else 'older than'} Linux {table.smap_since}",
                        table.kernel_source)
    release = release_kernel(guest, table)
    if release is not None:
        ok = release.kernel >= table.smap_since
        return SmapFact(ok, True, f"{guest.label} ships Linux {release.kernel}, "
                        f"{'at least' if ok else 'older than'} {table.smap_since}",
                        f"{release.source}; {table.kernel_source}")
    return SmapFact(table.assumed, False, f"{guest.label}: {table.assumed_why}")


def unverified(vms: list[Vm] | tuple[Vm, ...]) -> list[tuple[Vm, SmapFact]]:
    """The VMs whose SMAP support no source decides, with what was assumed."""
    return [(vm, fact) for vm in vms if not (fact := smap_fact(vm.guest)).verified]
