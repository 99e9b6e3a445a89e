"""``hvroll plan``'s policy options end in the plan file's policy, which the executor reads."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Cli

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def test_drain_ahead_goes_into_the_plans_policy(cli: Cli, tmp_path: Path) -> None:
    """``--drain-ahead`` is the policy's ``drain_ahead`` in the plan file (the executor reads
    it there); without it, 2."""
    for extra, ahead in (((), 2), (("--drain-ahead", "3"), 3)):
        out = tmp_path / f"p{ahead}.json"
        assert cli("plan", str(EXAMPLES / "tiny.yaml"), "-t", "CPv2", "-o", str(out),
                   *extra).code == 0
        assert json.loads(out.read_text())["policy"]["drain_ahead"] == ahead


def test_plan_prints_both_lower_bounds(cli: Cli, tmp_path: Path) -> None:
    """The bound for every plan and the bound under the policy, in the text and in JSON;
    tiny's hv2 is already on CPv2, so its cluster is not upgraded whole and the two are the
    same: one reinstall."""
    done = cli("plan", str(EXAMPLES / "tiny.yaml"), "-t", "CPv2", "-o",
               str(tmp_path / "p.json"))
    assert done.code == 0
    assert "(lower bound 0h30m; under the policy 0h30m)" in " ".join(done.stdout.split())
    done = cli("plan", str(EXAMPLES / "tiny.yaml"), "-t", "CPv2", "-o",
               str(tmp_path / "q.json"), "--json")
    data = json.loads(done.stdout)
    assert (data["lower_bound_s"], data["policy_bound_s"]) == (1800.0, 1800.0)
