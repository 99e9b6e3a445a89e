"""``check``: every VM's verdict for an upgrade of the fleet, summarized."""

from __future__ import annotations

from hvroll.compat.report import check_upgrade
from hvroll.domain import Fleet

from .fleets import CPV2, CPV2N


def test_check_counts(seed_fleet: Fleet) -> None:
    data = check_upgrade(seed_fleet, CPV2).data()
    assert {k: data[k] for k in ("vms", "moving", "ok", "warn", "workaround", "blocked",
                                 "by_reason", "workarounds")} == {
        "vms": 8, "moving": 6, "ok": 5, "warn": 4, "workaround": 1, "blocked": 2,
        "by_reason": {"iface-stats-rxtx-swap": 6, "smap-legacy-guest": 2,
                      "windows-balloon-remigration": 1},
        "workarounds": {"remove_balloon": 1},
    }
    assert [(b["vm"], [r["fix"] for r in b["reasons"]]) for b in data["blocked_vms"]] == [
        ("legacy-bdw", ["host_kernel_flag:nosmap"]), ("legacy-sky", ["require_guest_update"])]


def test_recommendations(seed_fleet: Fleet) -> None:
    report = check_upgrade(seed_fleet, CPV2)
    assert [r.text for r in report.recommendations] == [
        "boot the 3 Broadwell hosts of cluster c-bdw on CPv2 with kernel flag nosmap: they "
        "then keep the CPU feature set their running guests have (from CPv1); 1 VM "
        "(centos 5.11) would not boot otherwise [smap-legacy-guest]",
        "1 VM on Skylake hosts need a guest OS update before they can run on CPv2 "
        "(centos 5.11) [smap-legacy-guest]",
        "remove_balloon before moving 1 VM on Haswell hosts (windows-server 2012r2) "
        "[windows-balloon-remigration]",
        "normalize interface RX/TX stats by the reporting host's libvirt version for 4 VMs on "
        "Haswell hosts [iface-stats-rxtx-swap]",
        "normalize interface RX/TX stats by the reporting host's libvirt version for 2 VMs on "
        "Broadwell hosts [iface-stats-rxtx-swap]",
    ]


def test_per_generation_target_lifts_the_broadwell_block(seed_fleet: Fleet) -> None:
    report = check_upgrade(seed_fleet, CPV2, targets={"Broadwell": CPV2N})
    assert [r.vm.name for r in report.blocked] == ["legacy-sky"]


def test_vm_on_a_host_already_on_target_only_needs_to_boot(seed_fleet: Fleet) -> None:
    report = check_upgrade(seed_fleet, CPV2)
    assert sorted(r.vm.name for r in report.results if not r.moves) == ["app-sky", "legacy-sky"]


def test_a_moving_vm_that_carries_its_risk_is_still_blocked_by_its_boot_there(
        seed_fleet: Fleet) -> None:
    """An upgrade of sky1 (CPv2, shows smap) to a CPv3 that shows smap too: legacy-sky's live
    move only carries its risk (warn), but its next boot on CPv3 blocks, and check says so."""
    from hvroll.compat.kinds import VerdictKind
    from hvroll.compat.report import upgrade_verdict
    from hvroll.compat.verdict import Checker

    cpv3 = CPV2.model_copy(update={"name": "CPv3", "rank": 3})
    result = upgrade_verdict(Checker(seed_fleet), seed_fleet.vm_by_name["legacy-sky"],
                             seed_fleet.host_by_name["sky1"], cpv3)
    assert (result.moves, result.verdict.kind) == (True, VerdictKind.BLOCK)
    assert [(r.code, r.kind, r.carried, r.message) for r in result.verdict.reasons] == [
        ("smap-legacy-guest", VerdictKind.WARN, True,
         "centos 5.11 does not support SMAP and the CPU it gets at its next boot on "
         "Skylake/CPv3 exposes smap: it would not boot there (as already on Skylake/CPv2, "
         "where it is now: a risk the VM carries, the move adds none)"),
        ("smap-legacy-guest", VerdictKind.BLOCK, False,
         "centos 5.11 does not support SMAP and the CPU it gets at its next boot on "
         "Skylake/CPv3 exposes smap: it would not boot there")]
