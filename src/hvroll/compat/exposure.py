"""Which CPU a host shows its guests: hardware model and features, less what the host kernel's
flags hide and what its libvirt is too old to expose (data: ``data/cpu_exposure.yaml``).

The guest-visible CPU is a function of (hardware generation, host kernel flags, libvirt
version, guest CPU mode): kernel flags hide features from every guest; a feature newer than the
host stack (``libvirt_min``: the host's libvirt, whose cpu_map builds host-model and custom
CPUs, does not know it) is not given either. For ``host-passthrough`` guests the host kernel's
KVM decides rather than libvirt, and the same bound is applied: for SMAP, the only such feature
shipped, KVM virtualizes it since Linux 3.15 (qemu commit ece01354, which added the Broadwell
model), newer than the kernel of the profiles with a libvirt that old (Ubuntu 14.04: 3.13).
The mode matters for the comparison: a host-passthrough guest needs an identical CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml
from packaging.version import Version

from hvroll.compat.cpu import CpuDef, migratable, model_features, non_migratable
from hvroll.domain import CpuGeneration, CpuMode, GuestCpu, HostProfile


@dataclass(frozen=True, slots=True)
class Exposure:
    """Feature-hiding facts: kernel flag → hidden features; feature → oldest exposing libvirt."""

    kernel_flags: dict[str, frozenset[str]]
    libvirt_min: dict[str, Version]

    def hidden_by_kernel(self, profile: HostProfile) -> frozenset[str]:
        """Features the host kernel's command-line flags hide from every guest."""
        out: set[str] = set()
        for flag in profile.kernel_flags:
            out |= self.kernel_flags.get(flag, frozenset())
        return frozenset(out)

    def hidden(self, profile: HostProfile) -> frozenset[str]:
        """Features no ``host-model``/``custom`` guest of a host with ``profile`` can see,
        whatever the hardware."""
        libvirt = profile.libvirt_upstream
        too_new = {f for f, v in self.libvirt_min.items() if libvirt < v}
        return self.hidden_by_kernel(profile) | too_new


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
    hidden = exposure().hidden(profile) | non_migratable()
    return GuestCpu(
        mode=CpuMode.HOST_MODEL,
        model=generation.model,
        features=tuple(f for f in generation.features if f not in hidden),
        disabled=tuple(sorted((hidden & model_features) | set(generation.disabled))),
    )


@cache
def visible_cpu(generation: CpuGeneration, profile: HostProfile) -> CpuDef:
    """The CPU a host of ``generation`` running ``profile`` offers its guests: the hardware's
    model and extra features, less the features the profile hides (disabled model features,
    extra features left out), the model features the host lacks (``generation.disabled``) and
    the non-migratable ones (``invtsc``): the migratable host-model, whether the inventory's
    features came from ``virsh domcapabilities`` or from ``virsh capabilities``."""
    hidden = exposure().hidden(profile)
    model = model_features(generation.model, generation.vendor)
    extra = migratable(f for f in generation.features if f not in hidden)
    return CpuDef.of(generation.model, extra, (hidden | set(generation.disabled)) & model,
                     generation.vendor)


def guest_cpu_def(cpu: GuestCpu, vendor: str) -> CpuDef:
    """A recorded guest CPU (model, required and disabled features) as a :class:`CpuDef`."""
    assert cpu.model is not None
    return CpuDef.of(cpu.model, cpu.features, cpu.disabled, vendor)


def running_cpu(cpu: GuestCpu, generation: CpuGeneration, profile: HostProfile) -> CpuDef:
    """The CPU a guest runs with now on a host of ``generation``/``profile``: the one it was
    started with. A passthrough guest, or a host-model guest whose CPU was not recorded, has
    its host's."""
    if cpu.mode is CpuMode.HOST_PASSTHROUGH or cpu.model is None:
        return visible_cpu(generation, profile)
    return guest_cpu_def(cpu, generation.vendor)


def boot_cpu(cpu: GuestCpu, generation: CpuGeneration, profile: HostProfile) -> CpuDef:
    """The CPU a guest gets when it (re)starts on a host of ``generation``/``profile``:
    the host's for host-model and passthrough, its named model for custom."""
    if cpu.mode is not CpuMode.CUSTOM or cpu.model is None:
        return visible_cpu(generation, profile)
    return guest_cpu_def(cpu, generation.vendor)
