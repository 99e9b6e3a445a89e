"""Starting migrations: the ladder's record written with each attempt, the limits that hold
a drain."""

from __future__ import annotations

from hvroll.executor.migrations import _with_rung, held_beyond_destination


def test_a_rung_is_added_at_the_end_of_the_recorded_ladder() -> None:
    assert _with_rung("[]", "precopy") == '["precopy"]'
    assert _with_rung('["precopy"]', "auto_converge") == '["precopy","auto_converge"]'
    assert _with_rung('["precopy","auto_converge"]', "precopy") == (
        '["precopy","auto_converge","precopy"]')
    assert _with_rung("", "cold") == '["cold"]'


def test_a_migration_is_held_beyond_its_destination_when_its_source_cluster_or_region_is_full(
        ) -> None:
    """Limits 2 per source, 8 per cluster, 64 per region: any of the three at its limit holds
    every migration of the drain; below all three only the destination can (it is passed)."""
    limits = (2, 8, 64)
    assert held_beyond_destination(2, 3, 3, *limits)
    assert held_beyond_destination(1, 8, 8, *limits)
    assert held_beyond_destination(1, 7, 64, *limits)
    assert held_beyond_destination(3, 9, 65, *limits)
    assert not held_beyond_destination(1, 7, 63, *limits)
    assert not held_beyond_destination(0, 0, 0, *limits)
    assert not held_beyond_destination(0, 0, 0, 1, 1, 1)
    assert held_beyond_destination(1, 0, 0, 1, 1, 1)
