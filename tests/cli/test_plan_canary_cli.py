"""``hvroll plan`` prints what the canary covers and what it does not."""

from __future__ import annotations

import json
from pathlib import Path

from hvroll.inventory import save_fleet
from seed000 import seed000_fleet

from .conftest import Cli


def test_plan_prints_the_canary_coverage(cli: Cli, tmp_path: Path) -> None:
    inventory = tmp_path / "seed000.yaml"
    save_fleet(seed000_fleet(), inventory)
    args = ("plan", str(inventory), "--target", "CPv2-u", "--target-for", "c-bdw-r=CPv2-r")
    text = cli(*args, "-o", str(tmp_path / "a.json"))
    assert text.code == 0, text.stderr
    assert "canary hosts: bdw-r1, hsw-u1, bdw-u3" in text.stdout
    assert "covered      Haswell/ubuntu/windows/migrated-with-balloon" in text.stdout
    assert ("not covered  Haswell/ubuntu/freebsd/unverified:smap_support: its clusters' "
            "canary is another host") in text.stdout
    data = json.loads(cli(*args, "-o", str(tmp_path / "b.json"), "--json").stdout)
    assert data["canary"]["hosts"] == ["bdw-r1", "hsw-u1", "bdw-u3"]
