"""Bad inventories: every problem is one line ``FILE:LINE: what (expected …, got …)``."""

from __future__ import annotations

import pytest

from hvroll.errors import InventoryError
from hvroll.inventory import Format, parse_fleet


def problems(text: str, fmt: Format = Format.YAML, file: str = "inv.yaml") -> list[str]:
    with pytest.raises(InventoryError) as caught:
        parse_fleet(text, file, fmt)
    return [str(p) for p in caught.value.problems]


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_example_is_valid(tiny_text: str) -> None:
    fleet = parse_fleet(tiny_text, "tiny.yaml")
    assert [vm.name for vm in fleet.vms] == ["web-1", "legacy-1", "win-1"]


def test_yaml_syntax_error_names_the_line(tiny_text: str) -> None:
    bad = tiny_text.replace("    vcpus: 8\n", "    vcpus: [8\n", 1)
    assert problems(bad) == [
        f"inv.yaml:{line_of(bad, 'ram_mib: 16384')}: invalid YAML: "
        "did not find expected ',' or ']'"
    ]


def test_json_syntax_error_names_the_line() -> None:
    assert problems('{\n"version": 1,\n"hosts": [\n{"name": }\n]\n}\n', Format.JSON,
                    "inv.json") == [
        "inv.json:4: invalid JSON: Expecting value (at column 10)"
    ]


def test_wrong_type(tiny_text: str) -> None:
    bad = tiny_text.replace("ram_mib: 16384", "ram_mib: lots", 1)
    assert problems(bad) == [
        f"inv.yaml:{line_of(bad, 'lots')}: host 'hv1' ram_mib has the wrong type "
        "(expected an integer, got 'lots')"
    ]


def test_unknown_key(tiny_text: str) -> None:
    bad = tiny_text.replace("    disk_gib: 200\n", "    disk_gib: 200\n    colour: blue\n", 1)
    [message] = problems(bad)
    assert message == (
        f"inv.yaml:{line_of(bad, 'colour')}: host 'hv1' has unknown key 'colour' (expected one "
        "of: name, cluster, generation, profile, vcpus, ram_mib, disk_gib, cpu_allocation_ratio, "
        "ram_allocation_ratio, disk_allocation_ratio, link_mib_s, role, scheduling, libvirt_uri)"
    )


def test_missing_key(tiny_text: str) -> None:
    bad = tiny_text.replace("    ram_mib: 2048\n", "", 1)
    assert problems(bad) == [
        f"inv.yaml:{line_of(bad, 'name: legacy-1')}: vm 'legacy-1' is missing required key "
        "'ram_mib'"
    ]


def test_unknown_enum_value(tiny_text: str) -> None:
    bad = tiny_text.replace("family: windows", "family: plan9", 1)
    assert problems(bad) == [
        f"inv.yaml:{line_of(bad, 'plan9')}: vm 'win-1' guest.family is not a known value "
        "(expected one of: linux, windows, freebsd, other, got 'plan9')"
    ]


def test_out_of_range(tiny_text: str) -> None:
    bad = tiny_text.replace("    vcpus: 4\n", "    vcpus: -4\n", 1)
    assert problems(bad) == [
        f"inv.yaml:{line_of(bad, 'vcpus: -4')}: vm 'win-1' vcpus is out of range "
        "(expected > 0, got -4)"
    ]


def test_bad_version_string(tiny_text: str) -> None:
    bad = tiny_text.replace("qemu_version: 2.11.1", "qemu_version: latest", 1)
    assert problems(bad) == [
        f"inv.yaml:{line_of(bad, 'latest')}: profile 'CPv2' qemu_version is invalid "
        "(expected a version such as 2.11.1 or a distribution's 3.2.0-14.el7_4.9, got 'latest')"
    ]


def test_a_distribution_version_string_is_accepted_and_kept(tiny_text: str) -> None:
    rhel = tiny_text.replace("qemu_version: 2.11.1", "qemu_version: 10:2.9.0-16.el7_4.8.1", 1)
    profile = parse_fleet(rhel, "inv.yaml").profile_by_name["CPv2"]
    assert profile.qemu_version == "10:2.9.0-16.el7_4.8.1"
    assert str(profile.qemu_upstream) == "2.9.0"


def test_unsupported_format_version(tiny_text: str) -> None:
    bad = tiny_text.replace("version: 1", "version: 7", 1)
    assert problems(bad) == ["inv.yaml:2: inventory version is not supported (expected 1, got 7)"]


def test_vm_on_unknown_host(tiny_text: str) -> None:
    bad = tiny_text.replace("    host: hv1\n    vcpus: 4", "    host: hv9\n    vcpus: 4", 1)
    assert problems(bad) == [
        f"inv.yaml:{line_of(bad, 'hv9')}: vm 'win-1' refers to unknown host 'hv9' "
        "(expected one of: hv1, hv2, got 'hv9')"
    ]


def test_host_with_unknown_profile(tiny_text: str) -> None:
    bad = tiny_text.replace("profile: CPv2", "profile: CPv3", 1)
    assert problems(bad) == [
        f"inv.yaml:{line_of(bad, 'CPv3')}: host 'hv2' refers to unknown profile 'CPv3' "
        "(expected one of: CPv1, CPv2, got 'CPv3')"
    ]


def test_duplicate_name(tiny_text: str) -> None:
    bad = tiny_text.replace("name: win-1", "name: web-1", 1)
    first, second = line_of(tiny_text, "name: web-1"), line_of(tiny_text, "name: win-1")
    assert problems(bad) == [
        f"inv.yaml:{second}: duplicate vm name 'web-1' (expected unique, got a second one; "
        f"the first is on line {first})"
    ]


def test_host_over_capacity(tiny_text: str) -> None:
    bad = tiny_text.replace("    ram_mib: 8192\n", "    ram_mib: 12288\n", 1)
    assert problems(bad) == [
        f"inv.yaml:{line_of(bad, 'name: hv1')}: host 'hv1' is over its RAM (expected at most "
        "16384 MiB = 16384 × 1, got 18432 MiB from 3 VMs)"
    ]


def test_custom_cpu_needs_a_model(tiny_text: str) -> None:
    bad = tiny_text.replace("cpu: {mode: host-model, model: Broadwell-noTSX, disabled: [smap]}",
                            "cpu: {mode: custom}", 1)
    assert problems(bad) == [
        f"inv.yaml:{line_of(bad, 'mode: custom')}: vm 'legacy-1' cpu.model is required with "
        "cpu.mode custom (expected a cpu_map model name, got none)"
    ]


def test_not_a_mapping() -> None:
    assert problems("- just\n- a list\n") == [
        "inv.yaml:1: an inventory must be a mapping of sections (expected keys such as "
        "version, hosts, vms, got list)"
    ]


def test_every_problem_is_reported_in_line_order(tiny_text: str) -> None:
    bad = tiny_text.replace("ram_mib: 16384", "ram_mib: lots", 1).replace(
        "family: windows", "family: plan9", 1)
    found = problems(bad)
    assert len(found) == 2
    assert [int(p.split(":")[1]) for p in found] == sorted(int(p.split(":")[1]) for p in found)


def test_errors_in_canonical_files_name_the_record_line(small_text: str) -> None:
    lines = small_text.splitlines(keepends=True)
    n = line_of(small_text, '"name": "vm-000042"')
    lines[n - 1] = lines[n - 1].replace('"vcpus": ', '"vcpus": -', 1)
    [message] = problems("".join(lines))
    assert message.startswith(f"inv.yaml:{n}: vm 'vm-000042' vcpus is out of range (expected > 0")
