"""Control-plane run state files for the dashboard and report tests: the toy control plane of
``tests/controlplane`` upgraded 2024.2 → 2025.2 by the real runner (two hops), the second
hop's hook failing on purpose so that the run rolls it back."""

from __future__ import annotations

import json
from pathlib import Path

from controlplane.test_runner import SERVERS, journal_for, runner
from hvroll.domain.states import UpgradeRunState


def rolled_back_run(tmp: Path) -> Path:
    """The state file of a run whose hop 1 completed and hop 2 rolled back."""
    d = tmp / "cp"
    d.mkdir(parents=True)
    (d / "db.json").write_text(json.dumps({"release": "2024.2", "servers": SERVERS}))
    (d / "api.up").touch()
    (d / "patterns.txt").write_text("^INFO toy \n")
    (d / "fail").write_text("h2.hook\n")
    journal = journal_for(d, "2024.2", "2025.2")
    try:
        assert runner(journal, d).run() is UpgradeRunState.ROLLED_BACK
    finally:
        journal.close()
    return d.parent / "run.db"
