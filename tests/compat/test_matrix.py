"""The verification matrix of seed 000, computed from the fleet's VMs."""

from __future__ import annotations

from hvroll.compat.matrix import Column, Origin, Status, build_matrix
from hvroll.domain import Fleet

from .fleets import CPV2, CPV2N


def symbols(fleet: Fleet, **kw: object) -> dict[str, list[str]]:
    matrix = build_matrix(fleet, CPV2, **kw)  # type: ignore[arg-type]
    return {r.generation: [r.cells[c].symbol() for c in Column] for r in matrix.rows}


def test_seed000_matrix(seed_fleet: Fleet) -> None:
    """The operator's table: Broadwell CPv2 is ✓ after nosmap, Skylake after a guest update,
    Skylake has no CPv1 (N/A). A legacy guest live-migrated between two new hosts keeps the
    next-boot risk it has since its start there: the move is ✓, the risk named."""
    assert symbols(seed_fleet) == {
        "Haswell": ["✓", "✓", "✓ (workaround: remove_balloon ×1)", "✓"],
        "Broadwell": ["✓", "✗ smap-legacy-guest ×1 → ✓ after nosmap",
                      "✗ smap-legacy-guest ×1 → ✓ after nosmap",
                      "✓ (risk already there: smap-legacy-guest ×1)"],
        "Skylake": ["N/A", "✗ smap-legacy-guest ×1 → ✓ after guest update", "N/A",
                    "✓ (risk already there: smap-legacy-guest ×1)"],
    }


def test_matrix_with_nosmap_on_broadwell(seed_fleet: Fleet) -> None:
    assert symbols(seed_fleet, targets={"Broadwell": CPV2N})["Broadwell"] == ["✓"] * 4


def test_cell_data(seed_fleet: Fleet) -> None:
    row = build_matrix(seed_fleet, CPV2).rows[1]
    assert row.cells[Column.SPAWN_NEW].data() == {
        "status": "fail", "source": "computed", "vms": 2, "blocked": 1, "workaround": 0,
        "reasons": {"smap-legacy-guest": 1}, "workarounds": {},
        "fixes": {"host_kernel_flag:nosmap": 1}, "carried": {}, "after_fix": "ok",
        "profiles": ["CPv2"],
        "note": ""}


def test_observed_result_replaces_a_cell_and_keeps_the_computed_one(seed_fleet: Fleet) -> None:
    matrix = build_matrix(seed_fleet, CPV2).observe("Haswell", "lm_old_new", False,
                                                    "canary vm-1 lost its balloon")
    cell = matrix.rows[0].cells[Column.LM_OLD_NEW]
    assert (cell.status, cell.source, cell.note, cell.symbol()) == (
        Status.FAIL, Origin.OBSERVED, "canary vm-1 lost its balloon", "✗ [observed]")
    assert cell.computed is not None and cell.computed.status is Status.OK


def test_generation_without_vms_is_untested(seed_fleet: Fleet) -> None:
    empty = seed_fleet.model_copy(update={"vms": ()})
    assert symbols(empty)["Haswell"] == ["untested"] * 4
