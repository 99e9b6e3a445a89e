"""``hvroll plan``'s policy options end in the plan file's policy, which the executor reads."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Cli

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def test_drain_ahead_goes_into_the_plans_policy(cli: Cli, tmp_path: Path) -> None:
    """``--drain-ahead`` is the policy's ``drain_ahead`` in the plan file (the executor reads
    it there); without it, 1."""
    for extra, ahead in (((), 1), (("--drain-ahead", "3"), 3)):
        out = tmp_path / f"p{ahead}.json"
        assert cli("plan", str(EXAMPLES / "tiny.yaml"), "-t", "CPv2", "-o", str(out),
                   *extra).code == 0
        assert json.loads(out.read_text())["policy"]["drain_ahead"] == ahead
