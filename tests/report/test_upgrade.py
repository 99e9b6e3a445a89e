"""``hvroll report`` on a control-plane run's state file: one self-contained HTML file with
each hop's timings, every step and every event."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from upgraderuns import rolled_back_run


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rolled_back_run(tmp_path_factory.mktemp("report-run"))


def test_report_of_a_control_plane_run(state: Path, tmp_path: Path) -> None:
    out = tmp_path / "upgrade.html"
    done = subprocess.run([sys.executable, "-m", "hvroll", "report", "--state", str(state),
                           "-o", str(out), "--json"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["state"], [h["hop"] for h in summary["hops"]]) == ("rolled_back", [1, 2])
    assert summary["hops"][0]["api_downtime_s"] is not None
    html = out.read_text()
    assert "<script" not in html and "/static/" not in html
    assert "Control-plane upgrade: " in html
    assert 'data-step="h1.migrate:toy" class="st-done"' in html
    assert 'data-event="run_rolled_back" class="bad"' in html
    assert summary["events"] == html.count("<tr data-event=")
