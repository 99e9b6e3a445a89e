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

from typing import Any

from pydantic import ValidationError

from hvroll.domain import Fleet, HostProfile
from hvroll.errors import InputError

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
