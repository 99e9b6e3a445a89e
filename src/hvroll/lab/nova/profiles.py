"""How a lab compute's profile shows in Nova, and the host-facts file that names it back.

Nova's API tells a compute's hypervisor type and version (``hypervisor_version``, QEMU's version
as ``major * 1_000_000 + minor * 1000 + micro``) and its CPU (``cpu_info``), not the software
profile an operator calls it by, nor the libvirt version or host OS. A lab compute on profile
``P`` reports ``P``'s QEMU version; every compute runs the same Nova, so the nova-compute
service version does not change with the profile. The lab writes ``host-facts.yaml`` so that
``hvroll fleet discover`` can name each compute's profile from what Nova reports, and knows
the facts Nova cannot tell (the same file format an operator writes for a real cloud).
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from packaging.version import Version

from hvroll.domain import HostProfile
from hvroll.errors import InputError
from hvroll.synthetic.presets import CPV1, CPV2

PROFILES: dict[str, HostProfile] = {p.name: p for p in (CPV1, CPV2)}
DEFAULT_PROFILE = "CPv1"
CPU_MODEL = "Broadwell-noTSX"
CPU_VENDOR = "Intel"
CPU_FEATURES = ("vmx", "xsaveopt")


def hypervisor_version(qemu_version: str) -> int:
    """Nova's integer encoding of a QEMU version: ``2.11.1`` → ``2011001``."""
    release = (*Version(qemu_version).release, 0, 0, 0)
    return release[0] * 1_000_000 + release[1] * 1000 + release[2]


@dataclass(frozen=True, slots=True)
class ComputeProfile:
    """What a lab compute reports for a profile (``profile.json`` in its state directory)."""

    profile: str
    hypervisor_version: int
    vcpus: int = 32
    memory_mb: int = 65536
    local_gb: int = 400

    def as_json(self) -> dict[str, object]:
        return {"profile": self.profile, "hypervisor_version": self.hypervisor_version,
                "cpu_model": CPU_MODEL, "cpu_vendor": CPU_VENDOR,
                "cpu_features": list(CPU_FEATURES), "vcpus": self.vcpus,
                "memory_mb": self.memory_mb, "local_gb": self.local_gb}


def check_profile(name: str) -> HostProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise InputError(f"unknown lab profile {name!r} (expected one of: "
                         f"{', '.join(PROFILES)})") from None


def compute_profile(name: str) -> ComputeProfile:
    p = check_profile(name)
    return ComputeProfile(profile=p.name, hypervisor_version=hypervisor_version(p.qemu_version))


def host_facts_yaml() -> str:
    """The lab's host-facts file: each profile with the hypervisor version that names it."""
    profiles = []
    for p in PROFILES.values():
        entry = p.model_dump(mode="json", exclude_defaults=True)
        entry["match"] = {"hypervisor_type": "QEMU",
                          "hypervisor_version": hypervisor_version(p.qemu_version)}
        profiles.append(entry)
    doc = {"version": 1, "profiles": profiles}
    return "# hvroll host facts; format: docs/nova.md\n" + yaml.safe_dump(doc, sort_keys=False)
