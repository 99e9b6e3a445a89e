"""CPU definitions through libvirt's own API: expansion, comparison, order, baseline."""

from __future__ import annotations

import itertools

import pytest

from hvroll.compat.cpu import (
    CpuCheck,
    CpuDef,
    baseline,
    compare,
    libvirt_compatible,
    libvirt_order,
    model_features,
    vendor_conflict,
)
from hvroll.errors import InputError

INTEL_EXTRA = ("vme", "ss", "ht", "tsc_adjust", "pdpe1gb")


@pytest.mark.parametrize(("model", "size"), [
    ("Haswell-noTSX", 48), ("Broadwell-noTSX", 52), ("Skylake-Server-noTSX-IBRS", 69),
])
def test_model_sizes_come_from_libvirt(model: str, size: int) -> None:
    assert len(model_features(model)) == size


def test_broadwell_is_haswell_plus_four_features() -> None:
    """As cpu_map defines it: Broadwell = Haswell + 3dnowprefetch, adx, rdseed, smap."""
    assert model_features("Broadwell-noTSX") - model_features("Haswell-noTSX") == {
        "3dnowprefetch", "adx", "rdseed", "smap"}


def test_unknown_model_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"^CPU model 'Pentium9' is unknown to libvirt's "
                                         r"cpu_map \(internal error: Unknown CPU model "
                                         r"Pentium9\)$"):
        model_features("Pentium9")


def test_order_is_cpu_map_order_unknown_last() -> None:
    assert libvirt_order(["abm", "vmx", "smap", "zzz", "fpu"]) == (
        "fpu", "vmx", "smap", "abm", "zzz")


@pytest.mark.parametrize(("guest", "host", "exact", "expected"), [
    # A CPU started with smap hidden fits a host that shows it...
    (CpuDef.of("Broadwell-noTSX", ["vme"], ["smap"]), CpuDef.of("Broadwell-noTSX", ["vme"]),
     False, CpuCheck(True)),
    # ...but not the other way round.
    (CpuDef.of("Broadwell-noTSX", ["vme"]), CpuDef.of("Broadwell-noTSX", ["vme"], ["smap"]),
     False, CpuCheck(False, ("smap",))),
    # host-passthrough needs the identical CPU: more is as bad as less.
    (CpuDef.of("Broadwell-noTSX", ["vme"], ["smap"]), CpuDef.of("Broadwell-noTSX", ["vme"]),
     True, CpuCheck(False, (), ("smap",))),
    (CpuDef.of("Haswell-noTSX", INTEL_EXTRA), CpuDef.of("Haswell-noTSX", INTEL_EXTRA),
     True, CpuCheck(True)),
])
def test_compare(guest: CpuDef, host: CpuDef, exact: bool, expected: CpuCheck) -> None:
    assert compare(guest, host, exact=exact) == expected


CROSS_VENDOR = [
    # An Intel guest on an AMD host, and the other way round: incompatible, with the reason.
    (CpuDef.of("Haswell-noTSX"), CpuDef.of("Opteron_G5", vendor="AMD"),
     CpuCheck(False, vendor_mismatch=True,
              reason="guest CPU vendor Intel differs from host CPU vendor AMD")),
    (CpuDef.of("EPYC", vendor="AMD"), CpuDef.of("Skylake-Server-noTSX-IBRS"),
     CpuCheck(False, vendor_mismatch=True,
              reason="guest CPU vendor AMD differs from host CPU vendor Intel")),
    # An AMD guest started with Intel's Westmere model: compared by features, as the daemon's
    # compareCPU does (libvirt itself refuses to baseline the two).
    (CpuDef.of("Westmere", vendor="AMD"), CpuDef.of("EPYC", vendor="AMD"), CpuCheck(True)),
    (CpuDef.of("Westmere", ["vmx"], vendor="AMD"), CpuDef.of("EPYC", vendor="AMD"),
     CpuCheck(False, ("vmx",))),
    (CpuDef.of("EPYC", vendor="AMD"), CpuDef.of("Westmere", vendor="AMD"),
     CpuCheck(False, ("vme", "pclmuldq", "fma", "movbe", "xsave", "avx", "f16c", "rdrand",
                      "arat", "fsgsbase", "bmi1", "avx2", "smep", "bmi2", "rdseed", "adx",
                      "smap", "clflushopt", "sha-ni", "xsaveopt", "xsavec", "xgetbv1",
                      "mmxext", "fxsr_opt", "pdpe1gb", "rdtscp", "svm", "cr8legacy", "abm",
                      "sse4a", "misalignsse", "3dnowprefetch", "osvw"))),
    (CpuDef.of("Haswell-noTSX", disabled=["smap"], vendor="AMD"),
     CpuDef.of("EPYC", vendor="AMD"), None),
]
CROSS_IDS = [f"{g.vendor}-{g.model}-on-{h.vendor}-{h.model}" for g, h, _ in CROSS_VENDOR]


@pytest.mark.parametrize(("guest", "host", "expected"), CROSS_VENDOR, ids=CROSS_IDS)
def test_cross_vendor_compare_is_answered(guest: CpuDef, host: CpuDef,
                                          expected: CpuCheck | None) -> None:
    check = compare(guest, host)
    if expected is not None:
        assert check == expected


def test_cross_vendor_reason_is_the_message() -> None:
    check = compare(CpuDef.of("Haswell-noTSX"), CpuDef.of("EPYC", vendor="AMD"))
    assert check.message() == "guest CPU vendor Intel differs from host CPU vendor AMD"


@pytest.mark.parametrize(("guest", "host", "expected"), CROSS_VENDOR, ids=CROSS_IDS)
def test_cross_vendor_libvirt_baseline_agrees_and_does_not_raise(
        guest: CpuDef, host: CpuDef, expected: CpuCheck | None) -> None:
    assert libvirt_compatible(guest, host) is compare(guest, host).compatible


@pytest.mark.parametrize(("model", "vendor", "reason"), [
    ("Westmere", "AMD", "CPU vendor Intel of model Westmere differs from vendor AMD"),
    ("Westmere", "Intel", ""),
    ("EPYC", "AMD", ""),
    ("qemu64", "AMD", ""),
    ("kvm64", "Intel", ""),
    ("Westmere", "", ""),
])
def test_vendor_conflict_of_a_model(model: str, vendor: str, reason: str) -> None:
    assert vendor_conflict(model, vendor) == reason


def test_vendor_conflict_of_an_unknown_model_is_an_input_error() -> None:
    with pytest.raises(InputError, match="'Pentium9' is unknown"):
        vendor_conflict("Pentium9", "AMD")


def test_baseline_of_two_vendors_is_an_input_error() -> None:
    with pytest.raises(InputError, match="one vendor"):
        baseline([CpuDef.of("Haswell-noTSX"), CpuDef.of("EPYC", vendor="AMD")])


@pytest.mark.parametrize(("check", "message"), [
    (CpuCheck(False, ("vmx", "fma")), "missing features: vmx,fma"),
    (CpuCheck(False, (), ("smap",)), "extra features: smap"),
    (CpuCheck(False, ("adx",), ("smap",)), "missing features: adx; extra features: smap"),
    (CpuCheck(False, vendor_mismatch=True), "CPU vendors do not match"),
    (CpuCheck(True), ""),
])
def test_check_message_uses_libvirt_words(check: CpuCheck, message: str) -> None:
    assert check.message() == message


HOSTS = [
    CpuDef.of("Haswell-noTSX", INTEL_EXTRA),
    CpuDef.of("Broadwell-noTSX", INTEL_EXTRA, ["smap"]),
    CpuDef.of("Broadwell-noTSX", INTEL_EXTRA),
    CpuDef.of("Skylake-Server-noTSX-IBRS", (*INTEL_EXTRA, "clflushopt", "umip")),
    CpuDef.of("Skylake-Server-noTSX-IBRS", (*INTEL_EXTRA, "clflushopt", "umip"), ["smap"]),
    CpuDef.of("IvyBridge", ["vme", "ss", "ht", "pcid"]),
]
GUESTS = [
    *HOSTS,
    CpuDef.of("Haswell-noTSX", ["vme", "ss", "ht", "vmx", "pdpe1gb", "abm"]),
    CpuDef.of("Haswell-noTSX"),
    CpuDef.of("SandyBridge"),
    CpuDef.of("Skylake-Client-noTSX-IBRS"),
    CpuDef.of("Westmere", ["pcid"]),
    CpuDef.of("Broadwell-noTSX", disabled=["smap", "adx"]),
]


@pytest.mark.parametrize(("guest", "host"), list(itertools.product(GUESTS, HOSTS)),
                         ids=lambda c: c.label())
def test_compare_agrees_with_libvirt_baseline(guest: CpuDef, host: CpuDef) -> None:
    """libvirt's own semantics: a guest fits a host when baselineCPU({host, guest}), the
    common CPU, is the guest itself."""
    assert compare(guest, host).compatible is libvirt_compatible(guest, host)


def test_agreement_table_has_both_outcomes() -> None:
    """The table above is not one-sided (a test that cannot fail is a defect)."""
    outcomes = {compare(g, h).compatible for g in GUESTS for h in HOSTS}
    assert outcomes == {True, False}


@pytest.mark.parametrize(("cpus", "label"), [
    # The mixed cluster of seed 000 hardware: the newest model all of them have.
    ([CpuDef.of("Haswell-noTSX", INTEL_EXTRA),
      CpuDef.of("Skylake-Server-noTSX-IBRS", (*INTEL_EXTRA, "clflushopt", "umip"))],
     "Haswell-noTSX +vme,ss,ht,tsc_adjust,pdpe1gb"),
    ([CpuDef.of("Broadwell-noTSX", INTEL_EXTRA),
      CpuDef.of("Skylake-Server-noTSX-IBRS", (*INTEL_EXTRA, "clflushopt", "umip"))],
     "Broadwell-noTSX +vme,ss,ht,tsc_adjust,pdpe1gb"),
    # Broadwell booted with nosmap no longer has a Broadwell model: Haswell + the rest.
    ([CpuDef.of("Broadwell-noTSX", INTEL_EXTRA, ["smap"]),
      CpuDef.of("Skylake-Server-noTSX-IBRS", (*INTEL_EXTRA, "clflushopt", "umip"))],
     "Haswell-noTSX +vme,ss,ht,tsc_adjust,rdseed,adx,pdpe1gb,3dnowprefetch"),
])
def test_baseline(cpus: list[CpuDef], label: str) -> None:
    assert baseline(cpus).label() == label


def test_baseline_is_provided_by_every_input() -> None:
    cpus = HOSTS[:5]
    common = baseline(cpus)
    assert [compare(common, c).compatible for c in cpus] == [True] * 5


def test_baseline_of_nothing_is_an_input_error() -> None:
    with pytest.raises(InputError, match="at least one CPU"):
        baseline([])


def test_cpu_xml_lists_required_and_disabled_features() -> None:
    assert CpuDef.of("Broadwell-noTSX", ["vme"], ["smap"]).xml() == (
        "<cpu mode='custom' match='exact'><model fallback='forbid'>Broadwell-noTSX</model>"
        "<vendor>Intel</vendor><feature policy='require' name='vme'/>"
        "<feature policy='disable' name='smap'/></cpu>")
