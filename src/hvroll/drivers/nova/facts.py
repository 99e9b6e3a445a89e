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

Every profile the file names goes into the inventory (so an upgrade target exists before any
host runs it). A host whose hypervisor matches no profile is an error naming it: hvroll never
invents a profile.
"""

from __future__ import annotations

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

    def matches(self, hypervisor_type: str | None, hypervisor_version: int | None) -> bool:
        return ((self.hypervisor_type is None
                 or (hypervisor_type or "").lower() == self.hypervisor_type.lower())
                and (self.hypervisor_version is None
                     or hypervisor_version == self.hypervisor_version))


@dataclass(frozen=True, slots=True)
class HostFacts:
    profiles: tuple[ProfileMatch, ...]
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def profile_for(self, hypervisor_type: str | None, hypervisor_version: int | None
                    ) -> HostProfile | None:
        for m in self.profiles:
            if m.matches(hypervisor_type, hypervisor_version):
                return m.profile
        return None


HOST_KEYS = frozenset({"link_mib_s", "role", "disk_gib"})


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
                                     else int(version)))
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
