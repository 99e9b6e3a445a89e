"""A host's CPU is read as its guests can get it: libvirt's host-model from domain capabilities
(KVM, else TCG), the raw CPU of ``getCapabilities`` only when libvirt has no domain
capabilities. The XML is in ``data/`` (the ``tcg-amd`` pair captured from a testbed host)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hvroll.virt.discovery import ask_host_cpu
from hvroll.virt.domxml import HostCpu, host_arch, host_cpu, host_model

DATA = Path(__file__).parent / "data"
TCG_CAPS = (DATA / "tcg-amd.capabilities.xml").read_text()
TCG_DOMCAPS = (DATA / "tcg-amd.domcapabilities.xml").read_text()
KVM_CAPS = (DATA / "kvm-intel.capabilities.xml").read_text()
KVM_DOMCAPS = (DATA / "kvm-intel.domcapabilities.xml").read_text()

TCG_HOST_MODEL = HostCpu(
    model="EPYC", vendor="AMD",
    features=("3dnow", "3dnowext", "acpi", "clwb", "erms", "hypervisor", "la57", "monitor",
              "mpx", "npt", "pcommit", "pks", "pku", "ss", "svme-addr-chk", "umip", "vaes",
              "vgif"),
    disabled=("3dnowprefetch", "fxsr_opt", "misalignsse", "nrip-save", "osvw", "rdseed",
              "sha-ni", "topoext", "vme", "xsavec"),
    source="domcapabilities:qemu")
KVM_HOST_MODEL = HostCpu(
    model="Broadwell-IBRS", vendor="Intel",
    features=("abm", "arat", "f16c", "hypervisor", "md-clear", "pdpe1gb", "rdrand", "ss",
              "ssbd", "stibp", "tsc_adjust", "vme", "xsaveopt"),
    disabled=("hle", "rtm"), source="domcapabilities:kvm")


def test_host_model_of_a_captured_tcg_host() -> None:
    assert host_model(TCG_DOMCAPS, "domcapabilities:qemu") == TCG_HOST_MODEL


def test_host_model_of_a_kvm_host_has_neither_vmx_nor_invtsc() -> None:
    assert host_model(KVM_DOMCAPS, "domcapabilities:kvm") == KVM_HOST_MODEL
    model, vendor, raw = host_cpu(KVM_CAPS)
    assert (model, vendor) == ("Broadwell-noTSX-IBRS", "Intel")
    assert {"vmx", "invtsc"} <= set(raw)


def test_the_raw_tcg_host_cpu_lists_non_migratable_features_and_no_svm() -> None:
    model, vendor, raw = host_cpu(TCG_CAPS)
    assert (model, vendor, len(raw)) == ("kvm64", "AMD", 59)
    assert {"invtsc", "xsaves"} <= set(raw) and "svm" not in raw
    assert host_arch(TCG_CAPS) == "x86_64"


@pytest.mark.parametrize("mode", [
    "<mode name='host-model' supported='no'/>",
    "<mode name='host-model' supported='yes'><vendor>AMD</vendor></mode>",
    "<mode name='custom' supported='yes'><model>qemu64</model></mode>",
])
def test_no_host_model_when_libvirt_offers_none(mode: str) -> None:
    assert host_model(f"<domainCapabilities><cpu>{mode}</cpu></domainCapabilities>") is None


class FakeError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code

    def get_error_code(self) -> int:
        return self.code


class FakeLibvirt:
    libvirtError = FakeError  # noqa: N815 - libvirt's name
    VIR_ERR_NO_SUPPORT, VIR_ERR_INVALID_ARG, VIR_ERR_CONFIG_UNSUPPORTED = 3, 8, 67
    VIR_ERR_INTERNAL_ERROR = 1


class Daemon:
    """Answers ``getCapabilities`` and ``getDomainCapabilities`` per virt type (an int: that
    libvirt error code)."""

    def __init__(self, caps: str, domcaps: dict[str, str | int]) -> None:
        self.caps, self.domcaps = caps, domcaps
        self.asked: list[tuple[Any, ...]] = []

    def getCapabilities(self) -> str:  # noqa: N802 - libvirt's name
        return self.caps

    def getDomainCapabilities(self, emulator: str | None, arch: str,  # noqa: N802
                              machine: str | None, virt_type: str, flags: int) -> str:
        self.asked.append((emulator, arch, machine, virt_type, flags))
        answer = self.domcaps.get(virt_type, FakeLibvirt.VIR_ERR_INVALID_ARG)
        if isinstance(answer, int):
            raise FakeError(answer)
        return answer


def test_a_kvm_host_is_read_from_kvm_domain_capabilities() -> None:
    daemon = Daemon(KVM_CAPS, {"kvm": KVM_DOMCAPS, "qemu": TCG_DOMCAPS})
    assert ask_host_cpu(FakeLibvirt, daemon) == KVM_HOST_MODEL
    assert daemon.asked == [(None, "x86_64", None, "kvm", 0)]


def test_a_host_without_kvm_is_read_from_tcg_domain_capabilities() -> None:
    """The testbed: QEMU says 'the accel kvm is not supported' (invalid argument)."""
    daemon = Daemon(TCG_CAPS, {"qemu": TCG_DOMCAPS})
    assert ask_host_cpu(FakeLibvirt, daemon) == TCG_HOST_MODEL
    assert [a[3] for a in daemon.asked] == ["kvm", "qemu"]


def test_a_libvirt_without_domain_capabilities_is_read_from_capabilities() -> None:
    daemon = Daemon(KVM_CAPS, {"kvm": FakeLibvirt.VIR_ERR_NO_SUPPORT,
                               "qemu": FakeLibvirt.VIR_ERR_NO_SUPPORT})
    found = ask_host_cpu(FakeLibvirt, daemon)
    assert (found.model, found.vendor, found.source) == \
        ("Broadwell-noTSX-IBRS", "Intel", "capabilities")
    assert "vmx" in found.features and found.disabled == ()


def test_other_libvirt_errors_are_not_hidden() -> None:
    daemon = Daemon(KVM_CAPS, {"kvm": FakeLibvirt.VIR_ERR_INTERNAL_ERROR})
    with pytest.raises(FakeError):
        ask_host_cpu(FakeLibvirt, daemon)
