"""Progress, failures, distributions and the observed matrix, computed from a snapshot."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from hvroll.compat.matrix import Column, Origin, Status
from hvroll.telemetry.snapshot import Migration, StateSource
from hvroll.telemetry.views import (
    NOT_IN_PLAN,
    computed_matrix,
    failure_reasons,
    failures,
    filter_migrations,
    histogram,
    hosts_by_cluster,
    observed_matrix,
    per_hour,
    progress,
    quantile,
    reason_of,
    timeline,
)

M = Migration(id=1, step_id=1, wave=1, cluster="c1", region="r1", vm="vm-1", source="hv-1",
              dest="hv-2", planned_dest="hv-2", kind="live", is_return=False, state="completed",
              rung="precopy", rungs=("precopy",), attempts=1, estimate_s=10.0, started_s=0.0,
              finished_s=10.0, elapsed_s=10.0, sent_mib=100.0, downtime_ms=20.0, error="")


def test_histogram_uses_prometheus_le_bins() -> None:
    assert histogram([0.5, 1.0, 1.5, 2.0, 9.0], [1.0, 2.0, 5.0]) == [2, 2, 0, 1]


@pytest.mark.parametrize(("q", "expected"), [(0.0, 1), (0.5, 3), (0.9, 5), (0.99, 5),
                                             (1.0, 5)])
def test_quantile_by_nearest_rank(q: float, expected: float) -> None:
    assert quantile([5, 1, 4, 2, 3], q) == expected


def test_quantile_of_nothing_is_none() -> None:
    assert quantile([], 0.5) is None


def test_per_hour_counts_finished_migrations_with_empty_hours() -> None:
    rows = [replace(M, finished_s=100.0), replace(M, finished_s=3700.0, state="failed"),
            replace(M, finished_s=3 * 3600 + 5), replace(M, state="pending", finished_s=None)]
    assert per_hour(rows, 0.0) == [(0, 1, 0), (1, 0, 1), (2, 0, 0), (3, 1, 0)]


def test_reason_of_takes_names_and_numbers_out() -> None:
    assert reason_of("migration of vm-7 to hv-2 failed in pass 3 (injected fault)",
                     ("vm-7", "hv-1", "hv-2")) == \
        "migration of VM to HOST failed in pass N (injected fault)"


def test_same_failure_of_two_vms_is_one_reason() -> None:
    rows = [replace(M, vm=f"vm-{i}", state="failed",
                    error=f"migration of vm-{i} to hv-2 failed in pass {i} (injected fault)")
            for i in (7, 8)]
    assert failure_reasons(rows) == [
        ("migration of VM to HOST failed in pass N (injected fault)", 2, ["vm-7", "vm-8"])]


def test_filters_combine_and_match_part_of_a_vm_name() -> None:
    rows = [M, replace(M, id=2, vm="web-12", region="r2"), replace(M, id=3, rung="suspend")]
    assert [m.id for m in filter_migrations(rows, vm="WEB")] == [2]
    assert [m.id for m in filter_migrations(rows, region="r1", rung="precopy")] == [1]
    assert [m.id for m in filter_migrations(rows)] == [1, 2, 3]


def test_progress_per_region_adds_up_to_the_status(source: StateSource) -> None:
    snap = source.snapshot()
    status = snap.status()
    regions = progress(snap)
    assert sum(r.total.migrations for r in regions) == status["migrations"]
    assert sum(r.total.migrations_failed for r in regions) == status["migrations_failed"]
    assert sum(r.total.hosts for r in regions) == len(snap.steps)
    for r in regions:
        assert sum(w.migrations for w in r.waves.values()) == r.total.migrations


def test_every_host_of_the_fleet_is_in_the_grid_once(source: StateSource) -> None:
    snap = source.snapshot()
    cells = [h for c in hosts_by_cluster(snap) for h in c.hosts]
    assert sorted(h.name for h in cells) == sorted(h.name for h in snap.fleet.hosts)
    in_plan = {s.host for s in snap.steps}
    assert {h.name for h in cells if h.state == NOT_IN_PLAN} == {
        h.name for h in snap.fleet.hosts} - in_plan


def test_failures_list_every_failed_host_and_migration(source: StateSource) -> None:
    snap = source.snapshot()
    found = failures(snap)
    assert sum(f.kind == "host_failed" for f in found) == snap.status()["hosts_failed"]
    assert sum(f.kind == "migration_failed" for f in found) == \
        snap.status()["migrations_failed"]


def test_the_canary_wave_observes_live_migration_old_to_new(source: StateSource) -> None:
    snap = source.snapshot()
    matrix = observed_matrix(computed_matrix(snap.static), snap)
    observed = {(row.generation, column) for row in matrix.rows
                for column, cell in row.cells.items() if cell.source is Origin.OBSERVED}
    canary_generations = {snap.static.generation_of[m.source] for m in snap.migrations
                          if m.wave == 0 and m.kind == "live" and m.state == "completed"}
    assert canary_generations
    assert {(g, Column.LM_OLD_NEW) for g in canary_generations} <= observed
    for row in matrix.rows:
        cell = row.cells[Column.LM_OLD_NEW]
        if cell.source is Origin.OBSERVED:
            assert cell.computed is not None
            assert "canary wave" in cell.note


def test_the_computed_matrix_uses_each_generation_s_target(source: StateSource) -> None:
    matrix = computed_matrix(source.snapshot().static)
    assert matrix.target.name == "CPv2"
    broadwell = next(r for r in matrix.rows if r.generation == "Broadwell")
    assert broadwell.cells[Column.SPAWN_NEW].profiles == ("CPv2n",)
    assert broadwell.cells[Column.SPAWN_NEW].status is Status.OK


def test_timeline_bars_of_a_row_never_overlap(source: StateSource) -> None:
    snap = source.snapshot()
    lanes = timeline(snap)
    assert sum(len(row) for lane in lanes for row in lane.lanes) == sum(
        1 for s in snap.steps if s.started_s is not None)
    for lane in lanes:
        for row in lane.lanes:
            for a, b in itertools.pairwise(row):
                assert a.end_s <= b.start_s
