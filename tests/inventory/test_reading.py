"""Operator files read without trust: duplicates, non-finite numbers, bounds, aliases, nesting,
bytes that are not text — each one line with its line number, never a traceback or a hang."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvroll.errors import InputError, InventoryError
from hvroll.inventory import Format, dump_fleet, load_fleet, parse_fleet
from hvroll.inventory.reading import MAX_DEPTH, decode, load_json, load_yaml

BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True))


def problems(text: str, fmt: Format = Format.YAML, file: str = "inv.yaml") -> list[str]:
    with pytest.raises(InventoryError) as caught:
        parse_fleet(text, file, fmt)
    return [str(p) for p in caught.value.problems]


def line_of(text: str, needle: str, start: int = 0) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line and i > start)


def test_a_repeated_section_is_refused_with_both_lines(small_text: str) -> None:
    first = line_of(small_text, "vms:")
    vms = small_text[small_text.index("vms:"):]
    text = small_text + vms.replace("vm-", "wm-")
    second = line_of(text, "vms:", first)
    assert problems(text) == [f"inv.yaml:{second}: key 'vms' is given twice in one mapping, on "
                              f"lines {first} and {second} (expected each key once; merge the "
                              f"two)"]


def test_a_repeated_key_in_a_canonical_record_is_refused(small_text: str) -> None:
    n = line_of(small_text, '"name": "vm-000042"')
    lines = small_text.splitlines(keepends=True)
    lines[n - 1] = lines[n - 1].replace('"vcpus": ', '"ram_mib": 1, "vcpus": ', 1)
    [message] = problems("".join(lines))
    assert message.startswith(f"inv.yaml:{n}: key 'ram_mib' is given twice in one mapping, "
                              f"on line {n}")


def test_a_repeated_key_in_a_hand_written_record_names_both_lines(tiny_text: str) -> None:
    bad = tiny_text.replace("    vcpus: 8\n", "    vcpus: 8\n    vcpus: 4\n", 1)
    first = line_of(bad, "vcpus: 8")
    assert problems(bad) == [f"inv.yaml:{first + 1}: key 'vcpus' is given twice in one "
                             f"mapping, on lines {first} and {first + 1} (expected each key "
                             f"once; merge the two)"]


def test_a_repeated_key_in_json_is_refused(small: object) -> None:
    text = '{\n"version": 1,\n"regions": [],\n"regions": []\n}\n'
    assert problems(text, Format.JSON, "inv.json") == [
        "inv.json:4: key 'regions' is given twice in one mapping, on lines 3 and 4 (expected "
        "each key once; merge the two)"]


@pytest.mark.parametrize(("old", "new", "fmt"), [
    ("link_mib_s: 1180", "link_mib_s: .inf", Format.YAML),
    ("link_mib_s: 1180", "link_mib_s: .NaN", Format.YAML),
])
def test_non_finite_numbers_are_refused_where_written(tiny_text: str, old: str, new: str,
                                                      fmt: Format) -> None:
    if old not in tiny_text:
        tiny_text = tiny_text.replace("    disk_gib: 200\n", f"    disk_gib: 200\n    {old}\n", 1)
    bad = tiny_text.replace(old, new, 1)
    value = new.split(": ")[1]
    assert problems(bad, fmt) == [f"inv.yaml:{line_of(bad, new)}: numbers must be finite "
                                  f"(expected a number, got {value})"]


@pytest.mark.parametrize("constant", ["Infinity", "-Infinity", "NaN"])
def test_json_non_finite_constants_are_refused(small_text: str, constant: str) -> None:
    text = dump_fleet(parse_fleet(small_text, "s.yaml"), Format.JSON)
    n = line_of(text, '"vcpus": ', line_of(text, '"hosts": ['))
    lines = text.splitlines(keepends=True)
    lines[n - 1] = lines[n - 1].replace('"vcpus": ', f'"link_mib_s": {constant}, "vcpus": ', 1)
    assert problems("".join(lines), Format.JSON, "inv.json") == [
        f"inv.json:{n}: numbers must be finite (expected a number, got {constant})"]


@pytest.mark.parametrize(("old", "new", "message"), [
    ("vcpus: 2", "vcpus: true", "vcpus is invalid (expected a number, got true)"),
    ("vcpus: 2", "vcpus: 100000", "vcpus is out of range (expected <= 4096, got 100000)"),
    ("ram_mib: 4096", "ram_mib: 1.0e+30", "ram_mib"),
    ("ram_mib: 4096", "ram_mib: 999999999999", "ram_mib is out of range (expected <= 33554432"),
    ("size_gib: 40", "size_gib: 99999999", "size_gib is out of range (expected <= 1048576"),
])
def test_vm_numbers_outside_their_documented_bounds(tiny_text: str, old: str, new: str,
                                                    message: str) -> None:
    start = line_of(tiny_text, "vms:")
    n = line_of(tiny_text, old, start)
    lines = tiny_text.splitlines(keepends=True)
    lines[n - 1] = lines[n - 1].replace(old, new, 1)
    found = problems("".join(lines))
    assert len(found) == 1
    assert found[0].startswith(f"inv.yaml:{n}: vm "), found
    assert message in found[0]


def test_host_link_bandwidth_has_a_floor(tiny_text: str) -> None:
    bad = tiny_text.replace("    disk_gib: 200\n", "    disk_gib: 200\n    link_mib_s: 1e-300\n",
                            1)
    [message] = problems(bad)
    assert message == (f"inv.yaml:{line_of(bad, '1e-300')}: host 'hv1' link_mib_s is out of "
                       f"range (expected >= 1.0, got '1e-300')")


def test_an_alias_bomb_is_refused_at_once() -> None:
    with pytest.raises(InventoryError, match=r"^b\.yaml:\d+: YAML aliases expand this document "
                                             r"beyond 5,000,000 nodes"):
        load_yaml(BOMB, "b.yaml")


def test_a_few_aliases_are_fine() -> None:
    assert load_yaml("a: &x {b: 1}\nc: *x\n", "f.yaml") == {"a": {"b": 1}, "c": {"b": 1}}


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(InventoryError, match=r"^f\.yaml:1: a YAML alias refers to a node that "
                                             r"contains it"):
        load_yaml("a: &a [*a]\n", "f.yaml")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
def test_deep_yaml_nesting_is_one_line(depth: int) -> None:
    with pytest.raises(InventoryError) as caught:
        load_yaml("[" * depth + "]" * depth, "f.yaml")
    [problem] = caught.value.problems
    assert (problem.file, problem.line) == ("f.yaml", 1)


def test_json_nesting_deeper_than_the_parser_is_one_line() -> None:
    with pytest.raises(InventoryError) as caught:
        load_json("[" * 100_000 + "]" * 100_000, "f.json")
    assert [str(p) for p in caught.value.problems] == [
        f"f.json:1: nested too deeply (expected at most {MAX_DEPTH} levels of mappings and "
        f"lists)"]


def test_nesting_up_to_the_limit_is_read() -> None:
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert load_yaml(text, "f.yaml") == load_json(text, "f.json")


def test_bytes_that_are_not_utf8_name_their_line() -> None:
    with pytest.raises(InventoryError, match=r"^f:2: not UTF-8 text \(byte 0xff at offset 5; "
                                             r"expected an inventory\)$"):
        decode(b"a: 1\n\xff\xfe\n", "f", "an inventory")


def test_a_binary_inventory_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(InputError) as caught:
        load_fleet(path)
    assert str(caught.value).startswith(f"{path}:2: not UTF-8 text (byte 0x80 at offset 128")
    assert "\n" not in str(caught.value)


def test_a_directory_is_not_an_inventory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        load_fleet(tmp_path)
