"""The host-facts file: what Nova's API cannot tell about hosts, written by the operator.

Nova reports a compute's hypervisor type and version, not the name of its software profile,
its libvirt version or its host OS. A small YAML file names each profile and how to recognise
it from what Nova reports::

    version: 1
    profiles:
      - name: CPv1
        os_name: ubuntu
        os_version: "14.04"
        qemu_version: 2.0.0
        libvirt_version: 1.2.2
        rank: 1
        match: {hypervisor_type: QEMU, hypervisor_version: 2000000}
    hosts:                  # optional, per host: facts Nova cannot tell
      compute1: {link_mib_s: 1180}

A ``match`` may name a placement ``trait`` (``CUSTOM_…``) besides, or instead of, the hypervisor
type and version: operators tag a compute node through nova-compute's provider config file
(``[compute] provider_config_location``, ``traits: {additional: [CUSTOM_…]}``), which Nova
applies to the node's resource provider. Profiles are tried in file order and the first whose
every condition holds names the host, so a profile matched by a trait goes before one matched
only by the QEMU version the upgrade does not change::

      - {name: B, os_name: debian, os_version: "12", qemu_version: 7.2.0, rank: 2,
         match: {trait: CUSTOM_HOST_OS_DEBIAN12}}
      - {name: A, os_name: debian, os_version: "11", qemu_version: 7.2.0, rank: 1,
         match: {hypervisor_type: QEMU, hypervisor_version: 7002000}}

Every profile the file names goes into the inventory (so an upgrade target exists before any
host runs it). A host whose hypervisor matches no profile is an error naming it: hvroll never
invents a profile.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hvroll.domain import HostProfile
from hvroll.errors import InputError


@dataclass(frozen=True, slots=True)
class ProfileMatch:
    profile: HostProfile
    hypervisor_type: str | None
    hypervisor_version: int | None
    trait: str | None = None
    """A placement trait the compute node's resource provider must have."""

    def matches(self, hypervisor_type: str | None, hypervisor_version: int | None,
                traits: Collection[str] = ()) -> bool:
        return ((self.hypervisor_type is None
                 or (hypervisor_type or "").lower() == self.hypervisor_type.lower())
                and (self.hypervisor_version is None
                     or hypervisor_version == self.hypervisor_version)
                and (self.trait is None or self.trait in traits))


@dataclass(frozen=True, slots=True)
class HostFacts:
    profiles: tuple[ProfileMatch, ...]
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def uses_traits(self) -> bool:
        """Whether any profile is told by a placement trait (then hosts' traits are read)."""
        return any(m.trait is not None for m in self.profiles)

    def profile_for(self, hypervisor_type: str | None, hypervisor_version: int | None,
                    traits: Collection[str] = ()) -> HostProfile | None:
        """The first profile, in file order, whose every condition holds."""
        for m in self.profiles:
            if m.matches(hypervisor_type, hypervisor_version, traits):
                return m.profile
        return None


HOST_KEYS = frozenset({"link_mib_s", "role", "disk_gib"})
MATCH_KEYS = frozenset({"hypervisor_type", "hypervisor_version", "trait"})
_TRAIT = re.compile(r"[A-Z0-9_]{1,255}")


def parse_facts(text: str, source: str) -> HostFacts:
    """Parse a host-facts document; ``InputError`` naming ``source`` on any problem."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise InputError(f"{source}{line}: not YAML ({getattr(exc, 'problem', exc)})") from exc
    if not isinstance(doc, dict) or doc.get("version") != 1:
        got = doc.get("version") if isinstance(doc, dict) else type(doc).__name__
        raise InputError(f"{source}: a host-facts file starts with 'version: 1' (got {got!r})")
    profiles = []
    for i, raw in enumerate(doc.get("profiles") or []):
        if not isinstance(raw, dict):
            raise InputError(f"{source}: profiles[{i}] must be a mapping (got {raw!r})")
        entry = dict(raw)
        match = entry.pop("match", None) or {}
        if not isinstance(match, dict) or set(match) - MATCH_KEYS:
            extra = sorted(set(match) - MATCH_KEYS) if isinstance(match, dict) else match
            raise InputError(f"{source}: profiles[{i}] match: unknown keys {extra!r} "
                             f"(expected some of: {', '.join(sorted(MATCH_KEYS))})")
        trait = match.get("trait")
        if trait is not None and not (isinstance(trait, str) and _TRAIT.fullmatch(trait)):
            raise InputError(f"{source}: profiles[{i}] match.trait: a placement trait "
                             f"(expected upper case letters, digits and _, e.g. "
                             f"CUSTOM_HOST_OS_DEBIAN12, got {trait!r})")
        try:
            profile = HostProfile(**entry)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InputError(f"{source}: profiles[{i}] {where}: {first['msg']}") from exc
        version = match.get("hypervisor_version")
        profiles.append(ProfileMatch(profile=profile,
                                     hypervisor_type=match.get("hypervisor_type"),
                                     hypervisor_version=None if version is None
                                     else int(version), trait=trait))
    if not profiles:
        raise InputError(f"{source}: names no profiles (expected a 'profiles' list)")
    hosts = doc.get("hosts") or {}
    for name, extra in hosts.items():
        unknown = set(extra or {}) - HOST_KEYS
        if unknown:
            raise InputError(f"{source}: host {name!r} has unknown keys {sorted(unknown)} "
                             f"(expected some of: {', '.join(sorted(HOST_KEYS))})")
    return HostFacts(profiles=tuple(profiles), hosts={k: dict(v or {}) for k, v in hosts.items()})


def load_facts(path: Path) -> HostFacts:
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the host-facts file ({exc.strerror})") from exc
    return parse_facts(text, str(path))
