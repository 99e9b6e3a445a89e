"""The read-only view of a control-plane run's state file that the dashboard and the report
show: hops with their timings, steps, events."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvroll.errors import InputError
from hvroll.telemetry.upgrade import UpgradeSource, is_upgrade_state, render_upgrade
from upgraderuns import rolled_back_run


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rolled_back_run(tmp_path_factory.mktemp("upgrade"))


def test_a_control_plane_state_file_is_told_from_a_campaigns(state: Path,
                                                             tmp_path: Path) -> None:
    assert is_upgrade_state(state)
    assert not is_upgrade_state(tmp_path / "missing.db")
    (tmp_path / "other.db").write_bytes(b"not a database at all, just text" * 10)
    assert not is_upgrade_state(tmp_path / "other.db")
    with pytest.raises(InputError, match="not a control-plane run's state file"):
        UpgradeSource(tmp_path / "other.db")


def test_the_view_holds_each_hop_its_steps_and_the_rollback_events(state: Path) -> None:
    source = UpgradeSource(state)
    try:
        data = source.data()
    finally:
        source.close()
    assert (data["state"], data["failed_hop"], data["path"]) == (
        "rolled_back", 2, "2024.2 → 2025.1 → 2025.2")
    assert data["error"] == "h2.hook: exit 3: hook failed on purpose"
    hop1, hop2 = data["hops"]
    assert (hop1["kind"], hop1["steps"]["failed"], hop1["migration_s"] > 0) == (
        "rolling", 0, True)
    assert (hop2["steps"]["failed"], hop2["steps"]["done"] > 0) == (1, True)
    assert [s["state"] for s in data["steps"] if s["id"] == "h2.hook"] == ["failed"]
    kinds = [e["kind"] for e in data["events"]]
    assert kinds[0] == "run_created"
    assert kinds[-2:] == ["step_done", "run_rolled_back"]
    assert "run_rolling_back" in kinds
    alerts = {e["kind"] for e in data["events"] if e["alert"]}
    assert alerts == {"step_failed", "run_rolling_back", "run_rolled_back"}
    assert all(e["t_s"] >= 0 for e in data["events"])


def test_the_report_page_is_self_contained(state: Path) -> None:
    source = UpgradeSource(state)
    try:
        html = render_upgrade(source.data(), inline_css=True, generated="2026-01-01 00:00 UTC")
    finally:
        source.close()
    assert "<script" not in html and "/static/" not in html and "<style>" in html
    assert 'data-step="h2.rollback.restore-db"' in html
    assert 'data-event="run_rolled_back" class="bad"' in html
