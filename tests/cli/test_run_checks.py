"""``hvroll run`` checks the plan against its inventory before a campaign is created:
refused with exit 2 and nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import Cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def planned(cli: Cli, tmp_path: Path) -> tuple[Path, Path]:
    inventory = tmp_path / "tiny.yaml"
    shutil.copy(ROOT / "docs" / "examples" / "tiny.yaml", inventory)
    out = tmp_path / "plan.json"
    assert cli("plan", str(inventory), "-t", "CPv2", "--no-hold", "-o", str(out)).code == 0
    return inventory, out


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_a_plan_for_another_inventory_writes_nothing(cli: Cli, planned: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    inventory, plan_file = planned
    inventory.write_text(inventory.read_text().replace("ram_mib: 4096", "ram_mib: 4000", 1))
    before = files(tmp_path)
    result = cli("run", str(plan_file), "--state", str(tmp_path / "s.db"), "--quiet")
    assert result.code == 2
    assert result.stderr.startswith(f"error: {plan_file}: the plan was made for another "
                                    f"inventory")
    assert result.stderr.count("\n") == 1
    assert files(tmp_path) == before


def test_a_hand_edited_plan_naming_an_unknown_vm_writes_nothing(
        cli: Cli, planned: tuple[Path, Path], tmp_path: Path) -> None:
    _, plan_file = planned
    data = json.loads(plan_file.read_text())
    data["waves"][0]["steps"][0]["drain"][0]["vm"] = "ghost"
    plan_file.write_text(json.dumps(data))
    before = files(tmp_path)
    result = cli("run", str(plan_file), "--state", str(tmp_path / "s.db"), "--quiet")
    assert (result.code, files(tmp_path)) == (2, before)
    assert result.stderr == (f"error: {plan_file}: wave 0: vm 'ghost' is not in the inventory "
                             f"(expected a VM of the inventory) (inventory "
                             f"{tmp_path / 'tiny.yaml'})\n")
