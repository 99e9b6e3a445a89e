"""``-o`` never replaces an operator's file by surprise; ``demo`` only works in its own
directory."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hvroll.cli.outputs import Kind, kind_of

from .conftest import Cli

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "docs" / "examples" / "tiny.yaml"


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    shutil.copy(TINY, path)
    return path


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_plan_refuses_to_write_over_its_own_inventory(cli: Cli, tiny: Path) -> None:
    before = snapshot(tiny.parent)
    result = cli("plan", str(tiny), "-t", "CPv2", "-o", str(tiny))
    assert result.code == 2
    assert result.stderr == (f"error: {tiny}: is an input of this command (expected another "
                             f"path for --output; the plan would replace it)\n")
    assert snapshot(tiny.parent) == before


@pytest.mark.parametrize("args", [
    ("fleet", "generate", "-o", "{dir}"),
    ("plan", "{tiny}", "-t", "CPv2", "-o", "{dir}"),
])
def test_a_directory_is_not_an_output(cli: Cli, tiny: Path, args: tuple[str, ...]) -> None:
    before = snapshot(tiny.parent)
    result = cli(*(a.format(dir=tiny.parent, tiny=tiny) for a in args))
    assert result.code == 2
    assert result.stderr.startswith(f"error: {tiny.parent}: is a directory (expected a file "
                                    f"path for --output")
    assert result.stderr.count("\n") == 1
    assert snapshot(tiny.parent) == before


def test_an_inventory_is_not_replaced_by_a_plan_even_with_force(cli: Cli, tiny: Path) -> None:
    other = tiny.parent / "other.yaml"
    shutil.copy(tiny, other)
    before = snapshot(tiny.parent)
    result = cli("plan", str(tiny), "-t", "CPv2", "-o", str(other), "--force")
    assert (result.code, result.stderr) == (2, f"error: {other}: is an inventory (expected a "
                                               f"new path for --output, which writes a plan)\n")
    assert snapshot(tiny.parent) == before


def test_a_plan_of_the_same_kind_needs_force(cli: Cli, tiny: Path) -> None:
    out = tiny.parent / "plan.json"
    assert cli("plan", str(tiny), "-t", "CPv2", "-o", str(out)).code == 0
    first = out.read_bytes()
    again = cli("plan", str(tiny), "-t", "CPv2", "-o", str(out))
    assert (again.code, again.stderr) == (2, f"error: {out}: exists and holds a plan "
                                             f"(expected a new path, or --force to replace "
                                             f"it)\n")
    assert out.read_bytes() == first
    assert cli("plan", str(tiny), "-t", "CPv2", "-o", str(out), "--force").code == 0


def test_a_state_file_is_never_an_output(cli: Cli, tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    state.write_bytes(b"SQLite format 3\x00" + bytes(100))
    before = state.read_bytes()
    for args in (("report", "--state", str(state), "-o", str(state), "--force"),
                 ("fleet", "generate", "-o", str(state), "--force")):
        result = cli(*args)
        assert result.code == 2
        assert result.stderr.startswith(f"error: {state}: is ")
        assert state.read_bytes() == before


def test_an_unknown_file_needs_force(cli: Cli, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    result = cli("fleet", "generate", "-o", str(notes))
    assert (result.code, result.stderr) == (2, f"error: {notes}: exists and holds a file hvroll "
                                               f"did not write (expected a new path, or --force "
                                               f"to replace it)\n")
    assert notes.read_text() == "my notes\n"


@pytest.mark.parametrize(("head", "kind"), [
    (b"", None),
    (b"SQLite format 3\x00...", Kind.STATE),
    (b'{"version":1,"strategy":"roll-forward","target":"CPv2"}', Kind.PLAN),
    (b"# hvroll inventory; format: docs/inventory.md\nversion: 1\n", Kind.INVENTORY),
    (b"version: 1\nregions:\n  - name: r1\n", Kind.INVENTORY),
    (b'{\n"version": 1,\n"regions": [\n', Kind.INVENTORY),
    (b"<!doctype html>\n<title>hvroll report</title>", Kind.REPORT),
    (b'{\n  "kind": "hvroll-controlplane-plan",\n  "version": 1,', Kind.CONTROLPLANE_PLAN),
    (b"\x00\x01binary", Kind.OTHER),
])
def test_kind_of_a_file(tmp_path: Path, head: bytes, kind: Kind | None) -> None:
    path = tmp_path / "f"
    path.write_bytes(head)
    assert kind_of(path) is kind


def test_demo_refuses_a_directory_it_did_not_make(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "campaign.db.bak").write_bytes(b"a backup")
    (tmp_path / "fleet.yaml").write_text("mine\n")
    before = snapshot(tmp_path)
    result = cli("demo", "-w", str(tmp_path), "--json")
    assert result.code == 2
    assert result.stderr.startswith(f"error: {tmp_path}: is not empty and was not made by "
                                    f"'hvroll demo'")
    assert snapshot(tmp_path) == before


def test_demo_refuses_a_file_as_its_directory(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    result = cli("demo", "-w", str(path), "--json")
    assert (result.code, path.read_text()) == (2, "x")
    assert result.stderr.startswith(f"error: {path}: is not a directory")


def test_demo_in_its_own_directory_replaces_only_its_files(tmp_path: Path) -> None:
    from hvroll.cli.demo import MARKER, _prepare

    work = tmp_path / "new" / "demo"
    _prepare(work)
    assert sorted(p.name for p in work.iterdir()) == [MARKER]
    for name in ("campaign.db", "campaign.db-wal", "campaign.db.sim.jsonl", "plan.json"):
        (work / name).write_text("old")
    (work / "campaign.db.bak").write_text("a backup")
    _prepare(work)
    assert sorted(p.name for p in work.iterdir()) == [MARKER, "campaign.db.bak"]


def test_demo_takes_an_empty_directory(tmp_path: Path) -> None:
    from hvroll.cli.demo import MARKER, _prepare

    _prepare(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [MARKER]


def test_controlplane_plan_refuses_to_replace_an_inventory(cli: Cli, tiny: Path) -> None:
    before = snapshot(tiny.parent)
    result = cli("controlplane", "plan", "--from", "2023.1", "--to",
                 "2024.1", "-o", str(tiny))
    assert result.code == 2
    assert result.stderr == (f"error: {tiny}: is an inventory (expected a new path for "
                             f"--output, which writes a control-plane plan)\n")
    assert snapshot(tiny.parent) == before


def test_controlplane_plan_replaces_its_own_kind_only_with_force(cli: Cli,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "cp.json"
    args = ("controlplane", "plan", "--from", "2023.1", "--to", "2024.1",
            "-o", str(out))
    assert cli(*args).code == 0
    first = out.read_bytes()
    refused = cli(*args)
    assert (refused.code, refused.stderr) == (
        2, f"error: {out}: exists and holds a control-plane plan (expected a new path, or "
           f"--force to replace it)\n")
    assert out.read_bytes() == first
    assert cli(*args, "--force").code == 0


@pytest.mark.parametrize(("args", "expected"), [
    (("plan", "f.yaml", "-t", "CPv2", "-o", "p.json", "--hosts-per-wave", "abc"),
     "error: Invalid value for '--hosts-per-wave' / '-k': Input should be a valid "
     "integer, unable to parse string as an integer (see 'hvroll plan --help')\n"),
    (("plan", "f.yaml", "-t", "CPv2", "-o", "p.json", "--drain-ahead", "0"),
     "error: Invalid value for '--drain-ahead': Input should be greater than or equal to 1 "
     "(see 'hvroll plan --help')\n"),
    (("lab", "nova", "up", "--computes", "abc"),
     "error: Invalid value for '--computes' / '-n': Input should be a valid integer, "
     "unable to parse string as an integer (see 'hvroll lab nova up --help')\n"),
    (("status", "--state"), "error: Option '--state' requires an argument.\n"),
    (("run", "--bogus", "x"), "error: No such option: --bogus (see 'hvroll run --help')\n"),
])
def test_bad_option_values_are_one_line_and_exit_2(cli: Cli, args: tuple[str, ...],
                                                   expected: str) -> None:
    result = cli(*args)
    assert (result.code, result.stdout, result.stderr) == (2, "", expected)
