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

MODELS = ("kvm64", "qemu64", "Westmere", "SandyBridge", "IvyBridge", "Haswell-noTSX",
          "Broadwell-noTSX", "Skylake-Client-noTSX-IBRS", "Skylake-Server-noTSX-IBRS",
          "Cascadelake-Server-noTSX", "Icelake-Server-noTSX")


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


def guests(host: CpuDef) -> list[CpuDef]:
    some = sorted(model_features(host.model, host.vendor))[:1]
    return [
        *(CpuDef.of(m, vendor=host.vendor) for m in MODELS),
        host,
        CpuDef.of(host.model, host.features, some, host.vendor),
        CpuDef.of(host.model, (*host.features, "avx512-fp16"), (), host.vendor),
    ]


def test_compare_agrees_with_the_daemons_compare_cpu(daemon: Any) -> None:
    import libvirt

    host = host_cpu(daemon)
    ok = (libvirt.VIR_CPU_COMPARE_IDENTICAL, libvirt.VIR_CPU_COMPARE_SUPERSET)
    ours = {g.label(): compare(g, host).compatible for g in guests(host)}
    theirs = {g.label(): daemon.compareCPU(g.xml()) in ok for g in guests(host)}
    assert ours == theirs
    assert set(ours.values()) == {True, False}


def test_baseline_semantics_agree_on_the_daemons_host_cpu(daemon: Any) -> None:
    host = host_cpu(daemon)
    assert {g.label(): compare(g, host).compatible for g in guests(host)} == {
        g.label(): libvirt_compatible(g, host) for g in guests(host)}
