"""Which CPU a host shows its guests: hardware model and features, less what the host kernel's
flags hide and what its libvirt is too old to expose (data: ``data/cpu_exposure.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml
from packaging.version import Version

from hvroll.domain import CpuGeneration, CpuMode, GuestCpu, HostProfile


@dataclass(frozen=True, slots=True)
class Exposure:
    """Feature-hiding facts: kernel flag → hidden features; feature → oldest exposing libvirt."""

    kernel_flags: dict[str, frozenset[str]]
    libvirt_min: dict[str, Version]

    def hidden(self, profile: HostProfile) -> frozenset[str]:
        """Features no guest of a host with ``profile`` can see, whatever the hardware."""
        out: set[str] = set()
        for flag in profile.kernel_flags:
            out |= self.kernel_flags.get(flag, frozenset())
        libvirt = Version(profile.libvirt_version)
        out |= {f for f, v in self.libvirt_min.items() if libvirt < v}
        return frozenset(out)


@cache
def exposure() -> Exposure:
    """The shipped exposure data."""
    text = resources.files("hvroll.compat").joinpath("data/cpu_exposure.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    return Exposure(
        kernel_flags={k: frozenset(v["hides"]) for k, v in raw["kernel_flags"].items()},
        libvirt_min={k: Version(v["version"]) for k, v in raw["libvirt_min"].items()},
    )


def host_model_cpu(generation: CpuGeneration, profile: HostProfile,
                   model_features: frozenset[str] = frozenset()) -> GuestCpu:
    """The CPU a ``host-model`` guest started on such a host gets.

    ``model_features`` are the features of ``generation.model`` (from libvirt's cpu_map) so
    that hidden model features are listed as disabled; extra host features that are hidden are
    simply left out.
    """
    hidden = exposure().hidden(profile)
    return GuestCpu(
        mode=CpuMode.HOST_MODEL,
        model=generation.model,
        features=tuple(f for f in generation.features if f not in hidden),
        disabled=tuple(sorted(hidden & model_features)),
    )
