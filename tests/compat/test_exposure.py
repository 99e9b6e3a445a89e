"""The guest-visible CPU: hardware, less what kernel flags and an old libvirt hide."""

from __future__ import annotations

import pytest

from hvroll.compat.cpu import CpuDef, model_features
from hvroll.compat.exposure import (
    boot_cpu,
    exposure,
    host_model_cpu,
    running_cpu,
    visible_cpu,
)
from hvroll.domain import CpuGeneration, CpuMode, GuestCpu, HostProfile

from .fleets import CPV1, CPV2, CPV2N
from .fleets import GENERATIONS as G

EXTRA = ("vme", "ss", "ht", "tsc_adjust", "pdpe1gb")


@pytest.mark.parametrize(("generation", "profile", "expected"), [
    ("Broadwell", CPV1, CpuDef.of("Broadwell-noTSX", EXTRA, ["smap"])),
    ("Broadwell", CPV2, CpuDef.of("Broadwell-noTSX", EXTRA)),
    ("Broadwell", CPV2N, CpuDef.of("Broadwell-noTSX", EXTRA, ["smap"])),
    ("Haswell", CPV1, CpuDef.of("Haswell-noTSX", EXTRA)),
    ("Skylake", CPV2, CpuDef.of("Skylake-Server-noTSX-IBRS", (*EXTRA, "clflushopt", "umip"))),
])
def test_visible_cpu(generation: str, profile: HostProfile, expected: CpuDef) -> None:
    assert visible_cpu(G[generation], profile) == expected


def test_nosmap_on_cpv2_keeps_cpv1_feature_set_on_broadwell() -> None:
    """The seed 000 fix: Broadwell CPv2 + nosmap shows what Broadwell CPv1 showed."""
    assert visible_cpu(G["Broadwell"], CPV2N).expanded() == \
        visible_cpu(G["Broadwell"], CPV1).expanded()


def test_hidden_extra_feature_is_left_out() -> None:
    gen = CpuGeneration(name="X", model="Haswell-noTSX", features=("smap", "vme"))
    assert visible_cpu(gen, CPV1) == CpuDef.of("Haswell-noTSX", ["vme"])


@pytest.mark.parametrize(("flag", "hidden"), [
    ("nosmap", {"smap"}), ("nosmep", {"smep"}),
    ("noxsave", {"xsave", "avx", "avx2", "fma", "xsaveopt"}), ("quiet", set()),
])
def test_kernel_flags_hide_features(flag: str, hidden: set[str]) -> None:
    profile = CPV2.model_copy(update={"kernel_flags": (flag,)})
    assert exposure().hidden(profile) == hidden


def test_old_libvirt_hides_smap() -> None:
    assert (exposure().hidden(CPV1), exposure().hidden(CPV2)) == ({"smap"}, set())


def test_host_model_cpu_for_the_generator() -> None:
    """``host_model_cpu`` (used by the fleet generator) records hidden model features."""
    cpu = host_model_cpu(G["Broadwell"], CPV1, model_features("Broadwell-noTSX"))
    assert cpu == GuestCpu(mode=CpuMode.HOST_MODEL, model="Broadwell-noTSX", features=EXTRA,
                           disabled=("smap",))


@pytest.mark.parametrize(("cpu", "running", "boot"), [
    # host-model, recorded: runs with what it started with, boots with the host's.
    (GuestCpu(model="Broadwell-noTSX", features=EXTRA, disabled=("smap",)),
     CpuDef.of("Broadwell-noTSX", EXTRA, ["smap"]), CpuDef.of("Broadwell-noTSX", EXTRA)),
    # host-model, not recorded: the host's.
    (GuestCpu(), CpuDef.of("Broadwell-noTSX", EXTRA), CpuDef.of("Broadwell-noTSX", EXTRA)),
    # custom: its model, always.
    (GuestCpu(mode=CpuMode.CUSTOM, model="Haswell-noTSX"), CpuDef.of("Haswell-noTSX"),
     CpuDef.of("Haswell-noTSX")),
    # passthrough: the host's.
    (GuestCpu(mode=CpuMode.HOST_PASSTHROUGH, model="Haswell-noTSX"),
     CpuDef.of("Broadwell-noTSX", EXTRA), CpuDef.of("Broadwell-noTSX", EXTRA)),
])
def test_running_and_boot_cpu_by_mode(cpu: GuestCpu, running: CpuDef, boot: CpuDef) -> None:
    assert (running_cpu(cpu, G["Broadwell"], CPV2), boot_cpu(cpu, G["Broadwell"], CPV2)) == \
        (running, boot)
