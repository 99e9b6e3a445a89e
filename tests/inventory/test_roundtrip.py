"""Save → load → save gives the same bytes, in YAML and JSON, canonical or hand-written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hvroll.domain import Fleet
from hvroll.inventory import Format, dump_fleet, load_fleet, parse_fleet, save_fleet, write_atomic
from hvroll.inventory.files import file_mode


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_save_load_save_is_byte_identical(small: Fleet, tmp_path: Path, suffix: str) -> None:
    first = tmp_path / f"a{suffix}"
    second = tmp_path / f"b{suffix}"
    save_fleet(small, first)
    loaded = load_fleet(first)
    save_fleet(loaded, second)
    assert first.read_bytes() == second.read_bytes()
    assert loaded == small


def test_hand_written_yaml_becomes_canonical_and_then_stays(tiny_text: str) -> None:
    canonical = dump_fleet(parse_fleet(tiny_text, "tiny.yaml"))
    assert canonical != tiny_text
    assert dump_fleet(parse_fleet(canonical, "tiny.yaml")) == canonical


def test_yaml_and_json_describe_the_same_fleet(small: Fleet) -> None:
    from_yaml = parse_fleet(dump_fleet(small, Format.YAML), "f.yaml", Format.YAML)
    from_json = parse_fleet(dump_fleet(small, Format.JSON), "f.json", Format.JSON)
    assert from_yaml == from_json == small


def test_canonical_yaml_is_plain_yaml(small: Fleet) -> None:
    """Any YAML tool reads the canonical file to the same data hvroll reads."""
    import yaml

    from hvroll.inventory import fleet_data

    text = dump_fleet(small)
    assert yaml.safe_load(text) == fleet_data(small)


def test_defaults_are_left_out(tiny: Fleet) -> None:
    text = dump_fleet(tiny)
    assert '"balloon"' not in text.split('"name": "win-1"')[0]
    assert "cpu_allocation_ratio" not in text


def test_a_crash_while_saving_leaves_the_old_file(small: Fleet, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.yaml"
    save_fleet(small, target)
    before = target.read_bytes()

    def boom(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        save_fleet(Fleet(), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["f.yaml"]


def test_an_atomic_write_sets_the_mode_given_else_keeps_the_replaced_files_else_open_s(
        tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_atomic(str(tmp_path / "a.txt"), "a\n")
        write_atomic(str(tmp_path / "b.txt"), "b\n", mode=0o644)
        (tmp_path / "c.txt").write_text("old\n")
        (tmp_path / "c.txt").chmod(0o604)
        write_atomic(str(tmp_path / "c.txt"), "c\n")
    finally:
        os.umask(old)
    assert [(p.name, p.read_text(), p.stat().st_mode & 0o777)
            for p in sorted(tmp_path.iterdir())] == [("a.txt", "a\n", 0o640),
                                                     ("b.txt", "b\n", 0o644),
                                                     ("c.txt", "c\n", 0o604)]


@pytest.mark.parametrize(("replaced", "umask", "expected"), [
    (None, 0o022, 0o644), (None, 0o077, 0o600), (None, 0o000, 0o666),
    (0o100640, 0o022, 0o640), (0o104755, 0o077, 0o4755),
])
def test_the_mode_of_an_atomically_written_file(replaced: int | None, umask: int,
                                                expected: int) -> None:
    assert file_mode(replaced, umask) == expected
