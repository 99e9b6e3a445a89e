"""Targets per cluster: advice judged per cluster on what its running guests have, and the
VMs ``check`` counts as moving are the ones the plan moves (seed 000's Broadwell clusters: an
Ubuntu one whose CPv1 libvirt never exposed SMAP, a RHEL one whose CPv1 libvirt did)."""

from __future__ import annotations

from hvroll.compat.matrix import build_matrix
from hvroll.compat.report import check_upgrade
from hvroll.compat.target import Targets
from hvroll.planner.build import plan
from hvroll.planner.model import Policy
from seed000 import CPV2_RHEL, CPV2_UBUNTU, seed000_fleet

CPV2_UBUNTU_NOSMAP = CPV2_UBUNTU.model_copy(update={"name": "CPv2-un",
                                                   "kernel_flags": ("nosmap",)})
PER_CLUSTER = Targets(CPV2_UBUNTU, {"c-bdw-r": CPV2_RHEL})


def flag_advice(report_targets: Targets) -> list[tuple[str, str, int]]:
    report = check_upgrade(seed000_fleet(), report_targets)
    return [(r.clusters, r.action, r.vms) for r in report.recommendations
            if r.action.startswith("host_kernel_flag")]


def test_nosmap_is_advised_where_it_keeps_the_feature_set_and_not_where_it_removes_one() -> None:
    report = check_upgrade(seed000_fleet(), PER_CLUSTER)
    assert flag_advice(PER_CLUSTER) == [(("c-bdw-u",), "host_kernel_flag:nosmap", 1)]
    fixes = {r.vm.name: [(x.code, x.action) for x in r.verdict.blocking] for r in report.blocked}
    assert fixes["legacy-u12"] == [("smap-legacy-guest", "host_kernel_flag:nosmap")]
    # on the RHEL cluster nosmap would take SMAP away from guests started on CPv1-r
    assert fixes["legacy-br-off"] == [("smap-legacy-guest", "require_guest_update")]
    rhel = next(r for r in report.recommendations if r.generation == "Broadwell"
                and r.action == "require_guest_update")
    assert "CPv2-r" in rhel.text


def test_a_per_generation_nosmap_target_blocks_the_rhel_clusters_running_guests() -> None:
    """What the per-generation advice would do: CPv2 with nosmap on every Broadwell host. The
    Ubuntu cluster's guests keep their CPU; the RHEL cluster's guests lose smap."""
    report = check_upgrade(seed000_fleet(), Targets(CPV2_UBUNTU,
                                                    {"Broadwell": CPV2_UBUNTU_NOSMAP}))
    cpu_blocked = sorted(r.vm.name for r in report.blocked
                         if any(x.code == "cpu" for x in r.verdict.blocking))
    assert cpu_blocked == ["app-br1", "app-br2", "c6-br", "win-br"]
    assert "legacy-u12" not in {r.vm.name for r in report.blocked}


def test_check_moves_exactly_the_vms_the_plan_moves() -> None:
    fleet = seed000_fleet()
    report = check_upgrade(fleet, PER_CLUSTER)
    moving = {r.vm.name for r in report.results if r.moves}
    result = plan(fleet, PER_CLUSTER, Policy(allow_cold_migration=True, canary_hosts=0))
    upgraded = {s.host for w in result.waves for s in w.steps if s.reinstall}
    upgraded |= {s.host for s in result.skipped}
    planned = {vm.name for vm in fleet.vms if vm.host in upgraded}
    assert moving == planned
    assert "app-sky" not in moving  # Skylake is on CPv2 already


def test_the_matrix_has_a_row_per_target_of_a_generation() -> None:
    matrix = build_matrix(seed000_fleet(), PER_CLUSTER)
    rows = [(r.generation, r.clusters, r.cells[next(iter(r.cells))].profiles)
            for r in matrix.rows]
    assert [(g, c) for g, c, _ in rows] == [
        ("Haswell", ()), ("Broadwell", ("c-bdw-u",)), ("Broadwell", ("c-bdw-r",)),
        ("Skylake", ())]
    assert rows[1][2] == ("CPv1-u",) and rows[2][2] == ("CPv1-r",)
