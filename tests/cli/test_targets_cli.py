"""Every command that takes a target accepts the same options: ``--target``,
``--target-for GENERATION=…|CLUSTER=…`` and ``--targets FILE``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hvroll.inventory import save_fleet
from seed000 import CPV2_RHEL, seed000_fleet

from .conftest import Cli

COMMANDS = ("check", "matrix", "explain", "plan")


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    fleet = seed000_fleet()
    # the RHEL CPv2 profile is the inventory's: --target-for may name it
    path = tmp_path / "seed000.yaml"
    save_fleet(fleet, path)
    assert CPV2_RHEL.name in fleet.profile_by_name
    return path


def args_of(command: str, inventory: Path, tmp_path: Path, name: str = "plan") -> list[str]:
    extra = {"explain": ["legacy-br-off"], "plan": []}.get(command, [])
    out = ["-o", str(tmp_path / f"{name}.json")] if command == "plan" else []
    return [command, str(inventory), *extra, *out]


@pytest.mark.parametrize("command", COMMANDS)
def test_the_same_target_options_in_every_help(cli: Cli, command: str) -> None:
    result = cli(command, "--help")
    assert result.code == 0
    for option in ("--target", "--target-for", "--targets"):
        assert option in result.stdout
    assert "CLUSTER=PROFILE" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_options_and_file_give_the_same_result(cli: Cli, command: str, inventory: Path,
                                               tmp_path: Path) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text("target: CPv2-u\nfor:\n  c-bdw-r: CPv2-r\n", encoding="utf-8")
    by_options = cli(*args_of(command, inventory, tmp_path), "--target", "CPv2-u",
                     "--target-for", "c-bdw-r=CPv2-r", "--json")
    by_file = cli(*args_of(command, inventory, tmp_path, "plan2"), "--targets", str(targets),
                  "--json")
    assert (by_options.code, by_file.code) == (0, 0), by_options.stderr + by_file.stderr
    first, second = json.loads(by_options.stdout), json.loads(by_file.stdout)
    for data in (first, second):
        for key in ("elapsed_s", "planning_time_s", "plan"):
            data.pop(key, None)
    assert first == second


def test_check_json_names_cluster_targets_and_unverified_vms(cli: Cli, inventory: Path) -> None:
    result = cli("check", str(inventory), "--target", "CPv2-u", "--target-for",
                 "c-bdw-r=CPv2-r", "--json")
    data = json.loads(result.stdout)
    assert data["targets"] == {"c-bdw-r": "CPv2-r"}
    assert [u["vm"] for u in data["unverified_vms"]] == ["win-bu", "c6-bu", "win-br", "c6-br"]
    assert {u["fact"] for u in data["unverified_vms"]} == {"smap_support"}
    nosmap = [(r["clusters"], r["vms"]) for r in data["recommendations"]
              if r["action"] == "host_kernel_flag:nosmap"]
    assert nosmap == [(["c-bdw-u"], 1)]


@pytest.mark.parametrize(("text", "error"), [
    ("for:\n  c-nope: CPv2-u\n",
     "targets.yaml:2: 'c-nope' is neither a generation nor a cluster of the inventory"),
    ("target: CPv9\n", "targets.yaml:1: --target profile 'CPv9' is not in the inventory"),
    ("target: [CPv2-u]\n", "targets.yaml:1: target must be a profile"),
    ("goal: CPv2-u\n", "targets.yaml:1: a targets file has keys target and for"),
])
def test_a_bad_targets_file_is_one_line_and_exit_2(cli: Cli, inventory: Path, tmp_path: Path,
                                                   text: str, error: str) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(text, encoding="utf-8")
    result = cli("check", str(inventory), "--targets", str(targets))
    assert result.code == 2
    assert result.stderr.count("\n") == 1 and error in result.stderr, result.stderr


@pytest.mark.parametrize(("content", "error"), [
    (b"\xff\xfe target", "targets.yaml:1: not UTF-8 text"),
    (b"target: CPv2-u\ntarget: CPv2-r\n", "targets.yaml:2:"),
    (b"target: [unclosed\n", "targets.yaml:2: invalid YAML"),
])
def test_an_unreadable_targets_file_is_one_line_and_exit_2(cli: Cli, inventory: Path,
                                                           tmp_path: Path, content: bytes,
                                                           error: str) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_bytes(content)
    result = cli("matrix", str(inventory), "--targets", str(targets))
    assert result.code == 2
    assert result.stderr.count("\n") == 1 and error in result.stderr, result.stderr
