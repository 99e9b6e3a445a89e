"""``hvroll plan`` reports the hosts it keeps back (legacy pools) and its skips per cause, in
the table and in JSON."""

from __future__ import annotations

import json
from pathlib import Path

from hvroll.domain import Fleet
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
    assert "2 hosts skipped, 2 of them kept back as legacy pools" in text.stdout
    data = json.loads(cli(*args, "-o", str(tmp_path / "b.json"), "--json").stdout)
    assert data["kept_back"] == ["lab01-c02-hv06", "lab02-c02-hv12"]
    assert data["skipped_by_cause"] == {"legacy-pool": 2}
    assert data["kept_back_hosts"] == 2
    assert data["pinned_hosts"] == 0
    assert data["pinned"] == {}


def test_plan_names_the_hosts_a_vm_that_cannot_leave_pins(cli: Cli, tmp_path: Path) -> None:
    """vm-000219, a legacy guest on lab01-c02-hv11, gets a GPU: it cannot move live, and the
    policy allows no cold migration, so its host is kept and named as pinned."""
    data = generate("small", 1).model_dump(mode="json")
    for vm in data["vms"]:
        if vm["name"] == "vm-000219":
            vm["devices"] = {"passthrough": ["gpu"]}
    inventory = tmp_path / "small.yaml"
    save_fleet(Fleet.model_validate(data), inventory)
    args = ("plan", str(inventory), "--target", "CPv2")
    text = cli(*args, "-o", str(tmp_path / "a.json"))
    assert text.code == 0, text.stderr
    assert ("kept back as legacy pools, 1 of those pinned by a VM that cannot leave them until "
            "an operator moves or stops it (see") in " ".join(text.stdout.split())
    out = json.loads(cli(*args, "-o", str(tmp_path / "b.json"), "--json").stdout)
    assert out["pinned"] == {"lab01-c02-hv11": "vm-000219"}
    assert out["pinned_hosts"] == 1
    assert "lab01-c02-hv11" in out["kept_back"]
