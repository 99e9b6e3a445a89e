"""``hvroll plan`` reports the hosts it keeps back (legacy pools) and its skips per cause, in
the table and in JSON."""

from __future__ import annotations

import json
from pathlib import Path

from hvroll.inventory import save_fleet
from hvroll.synthetic.generate import generate

from .conftest import Cli


def test_plan_reports_kept_back_hosts_and_skips_per_cause(cli: Cli, tmp_path: Path) -> None:
    inventory = tmp_path / "small.yaml"
    save_fleet(generate("small", 1), inventory)
    args = ("plan", str(inventory), "--target", "CPv2", "--allow-cold-migration")
    text = cli(*args, "-o", str(tmp_path / "a.json"))
    assert text.code == 0, text.stderr
    assert "hosts skipped (kept on their profile)" in text.stdout
    assert "legacy-pool" in text.stdout
    assert "3 hosts skipped, 3 of them kept back as legacy pools" in text.stdout
    data = json.loads(cli(*args, "-o", str(tmp_path / "b.json"), "--json").stdout)
    assert data["kept_back"] == ["lab01-c02-hv06", "lab02-c02-hv12", "lab02-c02-hv15"]
    assert data["skipped_by_cause"] == {"legacy-pool": 3}
    assert data["kept_back_hosts"] == 3
