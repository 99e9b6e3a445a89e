"""The failures the operators of seeds 000 and 001 hit, reproduced as verdicts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hvroll.compat.kinds import VerdictKind
from hvroll.compat.verdict import Checker, Reason
from hvroll.domain import CpuGeneration, Host, HostProfile, Vm

from .fleets import CPV1, CPV2, CPV2N, make_fleet, vm

SMAP_MESSAGE = ("centos 5.11 does not support SMAP and the CPU it gets at its next boot on "
                "{dest} exposes smap: it would not boot there")


def blocks(reasons: tuple[Reason, ...]) -> list[tuple[str, str | None]]:
    return [(r.code, r.action) for r in reasons if r.kind is VerdictKind.BLOCK]


@pytest.mark.parametrize(("guest", "source", "dest", "expected", "live_blocks"), [
    # Broadwell: CPv1 hid SMAP; CPv2 exposes it unless the host boots with nosmap.
    ("legacy-bdw", "bdw1", "bdw2", [("smap-legacy-guest", "host_kernel_flag:nosmap")], True),
    ("legacy-bdw", "bdw1", "bdw3", [], True),
    # Skylake has no CPv1 feature set to keep: the guest must be updated. Its CPv2 host shows
    # SMAP already, so a live move to another one carries the risk (warns) and adds none.
    ("legacy-sky", "sky1", "sky2", [("smap-legacy-guest", "require_guest_update")], False),
    # Haswell has no SMAP at all.
    ("legacy-hsw", "hsw1", "hsw2", [], True),
])
def test_legacy_guest_without_smap_support(checker: Checker, host_of: Callable[[str], Host],
                                           vm_of: Callable[[str], Vm], guest: str, source: str,
                                           dest: str, expected: list[tuple[str, str]],
                                           live_blocks: bool) -> None:
    """Seed 000 failure 1: the non-SMAP guest is blocked on Skylake and on Broadwell CPv2
    unless the host has nosmap, at its next boot, and for a live migration from a host that
    did not expose SMAP."""
    live = checker.migration(vm_of(guest), host_of(source), host_of(dest))
    boot = checker.spawn(vm_of(guest), host_of(dest))
    assert blocks(live.reasons) == (expected if live_blocks else [])
    assert blocks(boot.reasons) == expected


def test_smap_message_names_guest_and_destination(checker: Checker,
                                                  host_of: Callable[[str], Host],
                                                  vm_of: Callable[[str], Vm]) -> None:
    verdict = checker.spawn(vm_of("legacy-bdw"), host_of("bdw2"))
    assert [r.message for r in verdict.reasons] == [SMAP_MESSAGE.format(dest="Broadwell/CPv2")]


def test_legacy_guest_boots_on_broadwell_cpv1(checker: Checker, host_of: Callable[[str], Host],
                                             vm_of: Callable[[str], Vm]) -> None:
    """CPv1's libvirt 1.2.2 is too old to expose SMAP, so the guest booted there."""
    assert checker.spawn(vm_of("legacy-bdw"), host_of("bdw1")).allowed


@pytest.mark.parametrize(("guest", "source", "dest", "kind", "workarounds"), [
    ("win-migrated", "hsw1", "hsw2", VerdictKind.WORKAROUND, ("remove_balloon",)),
    ("win-rebooted", "hsw1", "hsw2", VerdictKind.WARN, ()),
    # The source QEMU of CPv2 (2.11.1) is not in the affected range.
    ("win-migrated", "hsw2", "hsw2", VerdictKind.OK, ()),
])
def test_windows_balloon_after_earlier_migration(checker: Checker,
                                                 host_of: Callable[[str], Host],
                                                 vm_of: Callable[[str], Vm], guest: str,
                                                 source: str, dest: str, kind: VerdictKind,
                                                 workarounds: tuple[str, ...]) -> None:
    """Seed 000 failure 3: a Windows guest live-migrated before and not power-cycled since
    needs its balloon removed before it leaves a CPv1 host."""
    verdict = checker.migration(vm_of(guest), host_of(source), host_of(dest))
    assert (verdict.kind, verdict.workarounds) == (kind, workarounds)


def test_windows_guest_without_balloon_needs_nothing(host_of: Callable[[str], Host]) -> None:
    guest = vm("win", "hsw1", guest={"family": "windows", "version": "2016"},
               devices={"balloon": False}, history={"live_migrations_since_power_cycle": 2})
    checker = Checker(make_fleet([guest]))
    assert checker.migration(guest, host_of("hsw1"), host_of("hsw2")).workarounds == ()


@pytest.mark.parametrize(("source", "dest", "flagged"), [
    ("hsw1", "hsw2", True),   # CPv1 (libvirt 1.2.2) → CPv2 (4.0.0)
    ("hsw1", "bdw1", False),  # CPv1 → CPv1: both 1.2.2, no change of direction
    ("bdw2", "bdw3", False),  # CPv2 → CPv2n: both 4.0.0
])
def test_interface_stats_flagged_across_libvirt_3_9(checker: Checker,
                                                    host_of: Callable[[str], Host],
                                                    vm_of: Callable[[str], Vm], source: str,
                                                    dest: str, flagged: bool) -> None:
    """Seed 000 failure 2: a VM moving from libvirt < 3.9.0 to >= 3.9.0 sees the direction of
    its ethernet interfaces' counters change."""
    verdict = checker.migration(vm_of("web-hsw"), host_of(source), host_of(dest))
    found = [(r.code, r.kind, r.action) for r in verdict.reasons
             if r.code == "iface-stats-rxtx-swap"]
    assert found == ([("iface-stats-rxtx-swap", VerdictKind.WARN, "normalize_iface_stats")]
                     if flagged else [])


SEED001_SOURCE = CpuGeneration(name="Haswell-E3", model="Haswell-noTSX",
                               features=("vme", "ss", "ht", "vmx", "pdpe1gb", "abm"))
SEED001_DEST = CpuGeneration(name="IvyBridge-E3", model="IvyBridge",
                             features=("vme", "ss", "ht", "pcid"))


def test_seed001_host_model_guest_to_older_cpu_reports_missing_features() -> None:
    """Seed 001: a host-model guest of a newer CPU cannot move to an older one; the missing
    features are reported as libvirt does, in cpu_map order."""
    fleet = make_fleet(
        [], extra_generations=(SEED001_SOURCE, SEED001_DEST),
        extra_hosts=(("kvm02", "c-e3", "Haswell-E3", "CPv1"),
                     ("kvm03", "c-e3", "IvyBridge-E3", "CPv1")))
    guest = vm("guest01", "hsw1", cpu={"mode": "host-model"}).model_copy(update={"host": "kvm02"})
    checker = Checker(fleet)
    verdict = checker.migration(guest, fleet.host_by_name["kvm02"], fleet.host_by_name["kvm03"])
    assert [(r.code, r.message) for r in verdict.blocking] == [
        ("cpu", "guest CPU doesn't match specification on IvyBridge-E3/CPv1: missing features: "
                "vmx,fma,movbe,bmi1,avx2,bmi2,invpcid,pdpe1gb,abm")]
    assert verdict.fixes == ("pin_cpu_model",)


def test_seed001_fix_is_a_model_both_hosts_support() -> None:
    """The proper fix of seed 001: a cpu_map model both hosts support (libvirt's baseline)."""
    fleet = make_fleet(
        [], extra_generations=(SEED001_SOURCE, SEED001_DEST),
        extra_hosts=(("kvm02", "c-e3", "Haswell-E3", "CPv1"),
                     ("kvm03", "c-e3", "IvyBridge-E3", "CPv1")))
    checker = Checker(fleet)
    model = checker.baseline([fleet.host_by_name["kvm02"], fleet.host_by_name["kvm03"]])
    assert model.label() == "IvyBridge +ss,ht,pcid"


@pytest.mark.parametrize(("profile", "smap_visible"), [(CPV1, False), (CPV2, True),
                                                       (CPV2N, False)])
def test_broadwell_guest_cpu_is_function_of_profile(checker: Checker,
                                                    host_of: Callable[[str], Host],
                                                    profile: HostProfile,
                                                    smap_visible: bool) -> None:
    """The guest-visible CPU depends on libvirt version and kernel flags, not only hardware."""
    from hvroll.compat.exposure import visible_cpu

    gen = checker.fleet.generation_of(host_of("bdw1"))
    assert ("smap" in visible_cpu(gen, profile).expanded()) is smap_visible
