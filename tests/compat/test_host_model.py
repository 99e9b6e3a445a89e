"""Hosts judged by the CPU their guests can get (libvirt's host-model from domain
capabilities), not by the raw CPU of ``virsh capabilities``: no false block for a feature no
guest has (``vmx`` without nested virtualization, TCG's missing ``svm``), no recommended model
with a feature a guest cannot have. XML in ``tests/virt/data`` (``tcg-amd``: captured from a
testbed host)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hvroll.compat.verdict import Checker
from hvroll.domain import CpuGeneration, Fleet
from hvroll.synthetic.presets import CPV2
from hvroll.virt.domxml import host_cpu, host_model

pytest.importorskip("libvirt")

DATA = Path(__file__).parents[1] / "virt" / "data"


def from_domcaps(name: str, file: str) -> CpuGeneration:
    found = host_model((DATA / file).read_text())
    assert found is not None
    return CpuGeneration(name=name, model=found.model, vendor=found.vendor,
                         features=found.features, disabled=found.disabled)


def from_caps(name: str, file: str) -> CpuGeneration:
    model, vendor, features = host_cpu((DATA / file).read_text())
    return CpuGeneration(name=name, model=model, vendor=vendor, features=features)


TCG_RAW = from_caps("tcg-raw", "tcg-amd.capabilities.xml")
TCG = from_domcaps("tcg", "tcg-amd.domcapabilities.xml")
INTEL_RAW = from_caps("bdw-raw", "kvm-intel.capabilities.xml")
INTEL = from_domcaps("bdw", "kvm-intel.domcapabilities.xml")


def two_hosts(a: CpuGeneration, b: CpuGeneration, cpu: dict[str, Any]) -> Fleet:
    gens = [a] if a.name == b.name else [a, b]
    return Fleet.model_validate({
        "regions": [{"name": "r"}], "clusters": [{"name": "c", "region": "r"}],
        "generations": [g.model_dump() for g in gens], "profiles": [CPV2.model_dump()],
        "hosts": [{"name": h, "cluster": "c", "generation": g.name, "profile": "CPv2",
                   "vcpus": 8, "ram_mib": 16384} for h, g in (("a", a), ("b", b))],
        "vms": [{"name": "v", "uuid": "00000000-0000-4000-8000-000000000001", "host": "a",
                 "vcpus": 1, "ram_mib": 1024, "guest": {"family": "linux"}, "cpu": cpu}],
    })


def move(a: CpuGeneration, b: CpuGeneration, cpu: dict[str, Any]) -> tuple[str, ...]:
    """The reasons ``v`` may not live-migrate from a host of ``a`` to one of ``b``."""
    fleet = two_hosts(a, b, cpu)
    verdict = Checker(fleet).migration(fleet.vm_by_name["v"], fleet.host_by_name["a"],
                                       fleet.host_by_name["b"])
    return tuple(r.message for r in verdict.reasons)


QEMU64 = {"mode": "custom", "model": "qemu64"}
KVM64 = {"mode": "custom", "model": "kvm64"}


def test_a_tcg_guest_without_cpu_model_is_blocked_by_the_raw_cpu_of_an_amd_machine() -> None:
    """The false block of the testbed on AMD: QEMU's default qemu64 has svm, the raw host CPU
    (no nested virtualization) has not; TCG emulates svm all the same."""
    assert move(TCG_RAW, TCG_RAW, QEMU64) == (
        "guest CPU doesn't match specification on tcg-raw/CPv2: missing features: svm",)


@pytest.mark.parametrize("cpu", [QEMU64, KVM64])
def test_tcg_guests_move_between_hosts_read_from_tcg_domain_capabilities(
        cpu: dict[str, Any]) -> None:
    assert move(TCG, TCG, cpu) == ()


def test_the_canary_cpu_moves_whichever_way_the_host_was_read() -> None:
    assert move(TCG_RAW, TCG_RAW, KVM64) == move(INTEL_RAW, INTEL, KVM64) == ()


def test_a_host_model_guest_is_falsely_blocked_by_raw_vmx_on_its_source() -> None:
    """Read from ``virsh capabilities``, the source lists vmx (and more a guest never gets);
    a host-model guest is then taken to have them and blocked from a host read right."""
    assert move(INTEL_RAW, INTEL, {"mode": "host-model"}) == (
        "guest CPU doesn't match specification on bdw/CPv2: missing features: ds,acpi,ht,tm,"
        "pbe,dtes64,monitor,ds_cpl,vmx,smx,est,tm2,xtpr,pdcm,dca,osxsave,cmt",)


def test_a_host_model_guest_moves_between_hosts_read_from_domain_capabilities() -> None:
    assert move(INTEL, INTEL, {"mode": "host-model"}) == ()


def test_the_recommended_model_of_a_host_read_from_domain_capabilities() -> None:
    fleet = two_hosts(INTEL, INTEL, {"mode": "host-model"})
    model = Checker(fleet).baseline(fleet.hosts)
    assert model.label() == ("Broadwell-noTSX-IBRS +vme,ss,f16c,rdrand,hypervisor,arat,"
                             "tsc_adjust,md-clear,stibp,ssbd,xsaveopt,pdpe1gb,abm")
    assert not {"vmx", "invtsc"} & model.expanded()


def test_a_recommended_model_never_has_invtsc_even_from_the_raw_cpu() -> None:
    fleet = two_hosts(INTEL_RAW, INTEL_RAW, {"mode": "host-model"})
    assert "invtsc" not in Checker(fleet).baseline(fleet.hosts).expanded()


def test_disabled_host_model_features_are_not_offered() -> None:
    """Broadwell-IBRS without hle and rtm is what the host gives: a guest pinned to
    Broadwell-IBRS (with TSX) cannot come, one pinned to Broadwell-noTSX-IBRS can."""
    assert move(INTEL, INTEL, {"mode": "custom", "model": "Broadwell-IBRS"}) == (
        "guest CPU doesn't match specification on bdw/CPv2: missing features: hle,rtm",)
    assert move(INTEL, INTEL, {"mode": "custom", "model": "Broadwell-noTSX-IBRS"}) == ()
