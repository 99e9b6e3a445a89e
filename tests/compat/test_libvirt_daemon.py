"""CPU verdicts against a real libvirtd's own ``compareCPU`` (needs the testbed: root and
libvirt-daemon-system). The host CPU is whatever the daemon reports for this machine."""

from __future__ import annotations

import os
import secrets
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hvroll.compat.cpu import CpuDef, compare, libvirt_compatible, model_features

pytestmark = pytest.mark.libvirt

NEUTRAL_MODELS = ("kvm64", "qemu64")
VENDOR_MODELS = {
    "Intel": ("Westmere", "SandyBridge", "IvyBridge", "Haswell-noTSX", "Broadwell-noTSX",
              "Skylake-Client-noTSX-IBRS", "Skylake-Server-noTSX-IBRS",
              "Cascadelake-Server-noTSX", "Icelake-Server-noTSX"),
    "AMD": ("Opteron_G3", "Opteron_G4", "Opteron_G5", "EPYC", "EPYC-Rome"),
}
"""cpu_map models by vendor: whatever this machine's CPU, some guests are of its vendor and
some of the other, so both the same-vendor and the cross-vendor case run on Intel and AMD."""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A connection to a throwaway testbed libvirtd."""
    if os.geteuid() != 0:
        pytest.skip("testbed needs root")
    if shutil.which("libvirtd") is None and not Path("/usr/sbin/libvirtd").exists():
        pytest.skip("testbed needs libvirt-daemon-system")
    import libvirt

    from hvroll import testbed as tb

    workdir = tmp_path_factory.mktemp("tb")
    try:
        bed = tb.up(1, workdir, prefix=f"cc{secrets.token_hex(3)}")
        conn = libvirt.open(bed.hosts[0].uri)
        try:
            yield conn
        finally:
            conn.close()
    finally:
        tb.down(workdir)


def host_cpu(conn: Any) -> CpuDef:
    cpu = ET.fromstring(conn.getCapabilities()).find("host/cpu")
    assert cpu is not None
    return CpuDef.of(cpu.findtext("model", ""), (f.get("name", "") for f in cpu.iter("feature")),
                     (), cpu.findtext("vendor", ""))


def other_vendor(host: CpuDef) -> str:
    if host.vendor not in VENDOR_MODELS:
        pytest.skip(f"no cpu_map models listed for a {host.vendor!r} host")
    return next(v for v in VENDOR_MODELS if v != host.vendor)


def same_vendor_guests(host: CpuDef) -> list[CpuDef]:
    some = sorted(model_features(host.model, host.vendor))[:1]
    return [
        *(CpuDef.of(m, vendor=host.vendor) for m in NEUTRAL_MODELS),
        *(CpuDef.of(m, vendor=host.vendor) for m in VENDOR_MODELS[host.vendor]),
        host,
        CpuDef.of(host.model, host.features, some, host.vendor),
        CpuDef.of(host.model, (*host.features, "avx512-fp16"), (), host.vendor),
    ]


def cross_vendor_guests(host: CpuDef) -> list[CpuDef]:
    """CPUs of the other vendor (its own models): never compatible, the reason is the vendor."""
    other = other_vendor(host)
    return [CpuDef.of(m, vendor=other) for m in VENDOR_MODELS[other]]


def cross_vendor_model_guests(host: CpuDef) -> list[CpuDef]:
    """CPUs of the host's vendor named by the other vendor's models (a guest started with
    ``Westmere`` on an AMD host): compared by features; libvirt will not baseline them as is."""
    return [CpuDef.of(m, vendor=host.vendor) for m in VENDOR_MODELS[other_vendor(host)]]


GUESTS = {"same-vendor": same_vendor_guests, "cross-vendor": cross_vendor_guests,
          "cross-vendor-model": cross_vendor_model_guests}
OUTCOMES = {"same-vendor": {True, False}, "cross-vendor": {False}}


def daemon_compatible(conn: Any, guest: CpuDef) -> bool:
    """The daemon's ``compareCPU``: identical or superset is compatible."""
    import libvirt

    ok = (libvirt.VIR_CPU_COMPARE_IDENTICAL, libvirt.VIR_CPU_COMPARE_SUPERSET)
    return bool(conn.compareCPU(guest.xml()) in ok)


def test_this_machine_has_a_vendor_with_models_on_both_sides(daemon: Any) -> None:
    host = host_cpu(daemon)
    assert host.vendor in VENDOR_MODELS
    assert cross_vendor_guests(host) and cross_vendor_model_guests(host)


@pytest.mark.parametrize("kind", GUESTS)
def test_compare_agrees_with_the_daemons_compare_cpu(daemon: Any, kind: str) -> None:
    host = host_cpu(daemon)
    guests = GUESTS[kind](host)
    ours = {f"{g.vendor} {g.label()}": compare(g, host).compatible for g in guests}
    theirs = {f"{g.vendor} {g.label()}": daemon_compatible(daemon, g) for g in guests}
    assert ours == theirs
    if kind in OUTCOMES:
        assert set(ours.values()) == OUTCOMES[kind]


@pytest.mark.parametrize("kind", GUESTS)
def test_baseline_semantics_agree_on_the_daemons_host_cpu(daemon: Any, kind: str) -> None:
    host = host_cpu(daemon)
    guests = GUESTS[kind](host)
    assert {f"{g.vendor} {g.label()}": compare(g, host).compatible for g in guests} == {
        f"{g.vendor} {g.label()}": libvirt_compatible(g, host) for g in guests}


def test_cross_vendor_guests_are_incompatible_with_a_vendor_reason(daemon: Any) -> None:
    host = host_cpu(daemon)
    checks = [compare(g, host) for g in cross_vendor_guests(host)]
    assert all(c.vendor_mismatch and "vendor" in c.message() for c in checks)
