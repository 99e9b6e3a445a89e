"""The profile an upgrade goes to, named or written inline (``--target``).

Forms, comma-separated:

* ``CPv2`` — a profile of the inventory;
* ``CPv2,flags=nosmap`` — that profile with some fields replaced;
* ``name=CPv3,qemu=7.2,libvirt=9.0,os=debian:12,flags=nosmap`` — a new profile.

Keys: ``name``, ``os`` (``NAME:VERSION``), ``qemu``, ``libvirt``, ``flags`` (kernel flags joined
by ``+``, empty for none), ``nova``, ``rank`` (defaults: the base profile's, or one more than
the highest rank in the inventory for a new profile).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from hvroll.domain import Fleet, Host, HostProfile
from hvroll.errors import InputError
from hvroll.inventory.locate import LineIndex
from hvroll.inventory.reading import load_yaml, read_text

KEYS = ("name", "os", "qemu", "libvirt", "flags", "nova", "rank")
EXAMPLE = "name=CPv3,qemu=7.2,libvirt=9.0,os=debian:12,flags=nosmap"


def parse_target(spec: str, fleet: Fleet) -> HostProfile:
    """The profile ``spec`` names or describes; bad input raises a one-line
    :class:`InputError`."""
    text = spec.strip()
    known = ", ".join(fleet.profile_by_name) or "none defined"
    if not text:
        raise InputError(f"--target is empty (expected a profile name: {known}, or an inline "
                         f"profile such as {EXAMPLE!r})")
    base: HostProfile | None = None
    fields: dict[str, str] = {}
    for i, item in enumerate(p.strip() for p in text.split(",")):
        if "=" not in item:
            if i != 0 or not item:
                raise InputError(f"--target item {item!r} is not KEY=VALUE (expected a "
                                 f"profile name first, then KEY=VALUE with KEY one of: "
                                 f"{', '.join(KEYS)})")
            base = fleet.profile_by_name.get(item)
            if base is None:
                raise InputError(f"--target profile {item!r} is not in the inventory "
                                 f"(expected one of: {known}, or an inline profile such as "
                                 f"{EXAMPLE!r})")
            continue
        key, _, value = item.partition("=")
        key = key.strip()
        if key not in KEYS:
            raise InputError(f"--target has unknown key {key!r} (expected one of: "
                             f"{', '.join(KEYS)})")
        if key in fields:
            raise InputError(f"--target sets {key!r} twice (expected each key once)")
        fields[key] = value.strip()
    data: dict[str, Any] = base.model_dump() if base is not None else {
        "name": "target", "os_name": "unknown", "os_version": "",
        "rank": max((p.rank for p in fleet.profiles), default=0) + 1}
    if base is None and not {"qemu", "libvirt"} <= fields.keys():
        raise InputError(f"--target {text!r} names no inventory profile, so it needs qemu= "
                         f"and libvirt= (expected e.g. {EXAMPLE!r})")
    for key, value in fields.items():
        if key == "os":
            name, _, version = value.partition(":")
            data["os_name"], data["os_version"] = name, version
        elif key == "flags":
            data["kernel_flags"] = tuple(f for f in value.split("+") if f)
        elif key == "rank":
            try:
                data["rank"] = int(value)
            except ValueError:
                raise InputError(f"--target rank must be an integer (expected e.g. rank=3, "
                                 f"got {value!r})") from None
        elif key in ("qemu", "libvirt"):
            data[f"{key}_version"] = value
        elif key == "nova":
            data["nova_release"] = value or None
        else:
            data[key] = value
    try:
        return HostProfile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        reason = err.get("ctx", {}).get("error", err["msg"])
        raise InputError(f"--target {where} is invalid ({reason})") from None


@dataclass(frozen=True, slots=True)
class Targets:
    """The profile each host should end on: by cluster name, else by CPU generation name,
    else ``default``. A host already on a profile of that rank or higher is left alone."""

    default: HostProfile | None
    by_name: Mapping[str, HostProfile] = field(default_factory=dict)

    def for_host(self, host: Host) -> HostProfile | None:
        return self.by_name.get(host.cluster) or self.by_name.get(host.generation) or self.default

    def profiles(self) -> list[HostProfile]:
        found = {p.name: p for p in self.by_name.values()}
        if self.default is not None:
            found[self.default.name] = self.default
        return list(found.values())

    def moves(self, host: Host, current: HostProfile) -> bool:
        """Whether a host on ``current`` is upgraded (so its VMs move): its target ranks
        higher. The planner and ``hvroll check`` count the same hosts."""
        target = self.for_host(host)
        return target is not None and current.rank < target.rank


TARGETS_FILE_EXAMPLE = "target: CPv2\nfor:\n  Broadwell: CPv2n\n  c-bdw-rhel: CPv2-rhel\n"


def resolve_targets(fleet: Fleet, target: str | None, target_for: Sequence[str] = (),
                    targets_file: str | os.PathLike[str] | None = None) -> Targets:
    """The targets of ``--target``, ``--target-for`` (GENERATION=… or CLUSTER=…, repeatable)
    and ``--targets FILE`` together: the file first, then the options (which win)."""
    default: HostProfile | None = None
    by_name: dict[str, HostProfile] = {}
    if targets_file is not None:
        default, by_name = _from_file(fleet, targets_file)
    if target:
        default = _profile(fleet, target, "--target")
    for item in target_for:
        key, sep, spec = item.partition("=")
        if not sep or (key not in fleet.generation_by_name and key not in fleet.cluster_by_name):
            raise InputError(f"--target-for {item!r} is not GENERATION=PROFILE or "
                             f"CLUSTER=PROFILE with a generation or cluster of the inventory "
                             f"(expected e.g. Broadwell=CPv2n; generations: "
                             f"{', '.join(fleet.generation_by_name)}; clusters: "
                             f"{_some(fleet.cluster_by_name)})")
        by_name[key] = _profile(fleet, spec, "--target-for")
    if default is None and not by_name:
        raise InputError("no target given (expected --target PROFILE, e.g. --target CPv2, "
                         "--target-for GENERATION=PROFILE or --targets FILE)")
    return Targets(default=default, by_name=by_name)


def _some(names: Mapping[str, object]) -> str:
    listed = list(names)
    return ", ".join(listed[:8]) + (", …" if len(listed) > 8 else "")


def _profile(fleet: Fleet, spec: str, option: str) -> HostProfile:
    profile = parse_target(spec, fleet)
    known = fleet.profile_by_name.get(profile.name)
    if known is not None and known != profile:
        raise InputError(f"{option} {spec!r} changes profile {profile.name!r} of the inventory "
                         f"(expected a new name for it, e.g. '{spec},name={profile.name}n', so "
                         f"that reinstalled hosts can be verified by the profile they report)")
    return profile


def _from_file(fleet: Fleet, path: str | os.PathLike[str]
               ) -> tuple[HostProfile | None, dict[str, HostProfile]]:
    """``target: SPEC`` and ``for: {GENERATION or CLUSTER: SPEC}`` from a YAML or JSON file;
    problems as ``FILE:LINE: what (expected …, got …)``."""
    name = os.fspath(path)
    text = read_text(name, "a targets file: 'target: PROFILE' and 'for: {NAME: PROFILE}'")
    data = load_yaml(text, name)  # binary, duplicate keys, bombs: one line each
    lines = LineIndex(text)
    if not isinstance(data, dict) or not set(data) <= {"target", "for"} or not data:
        got = type(data).__name__ if not isinstance(data, dict) else ", ".join(map(str, data))
        raise InputError(f"{name}:1: a targets file has keys target and for (expected e.g. "
                         f"{TARGETS_FILE_EXAMPLE!r}, got {got or 'nothing'})")

    def spec_at(where: tuple[str, ...], value: object, option: str) -> HostProfile:
        line = lines.line_of(where)
        if not isinstance(value, str):
            raise InputError(f"{name}:{line}: {'.'.join(where)} must be a profile (expected "
                             f"e.g. CPv2 or 'CPv2,flags=nosmap,name=CPv2n', got {value!r})")
        try:
            return _profile(fleet, value, option)
        except InputError as exc:
            raise InputError(f"{name}:{line}: {exc}") from None

    default = spec_at(("target",), data["target"], "target") if "target" in data else None
    by_name: dict[str, HostProfile] = {}
    entries = data.get("for") or {}
    if not isinstance(entries, dict):
        raise InputError(f"{name}:{lines.line_of(('for',))}: for must map GENERATION or "
                         f"CLUSTER to a profile (expected e.g. 'Broadwell: CPv2n', got "
                         f"{entries!r})")
    for key, value in entries.items():
        if key not in fleet.generation_by_name and key not in fleet.cluster_by_name:
            raise InputError(f"{name}:{lines.line_of(('for', key), key=True)}: {key!r} is "
                             f"neither a generation nor a cluster of the inventory (expected "
                             f"one of: {', '.join(fleet.generation_by_name)}; clusters: "
                             f"{_some(fleet.cluster_by_name)})")
        by_name[str(key)] = spec_at(("for", str(key)), value, "for")
    return default, by_name
