"""Starting migrations: the ladder's record written with each attempt."""

from __future__ import annotations

from hvroll.executor.migrations import _with_rung


def test_a_rung_is_added_at_the_end_of_the_recorded_ladder() -> None:
    assert _with_rung("[]", "precopy") == '["precopy"]'
    assert _with_rung('["precopy"]', "auto_converge") == '["precopy","auto_converge"]'
    assert _with_rung('["precopy","auto_converge"]', "precopy") == (
        '["precopy","auto_converge","precopy"]')
    assert _with_rung("", "cold") == '["cold"]'
