"""Rule files: the shipped ones load, a malformed one is refused with FILE:LINE messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvroll.compat.kinds import Affects, Capability, VerdictKind
from hvroll.compat.ruleset import (
    CapabilityRule,
    IssueRule,
    load_rules,
    parse_rule,
    shipped_rules,
)
from hvroll.errors import InputError, InventoryError

RULES = Path(__file__).resolve().parents[2] / "src" / "hvroll" / "compat" / "rules"
BALLOON = (RULES / "windows-balloon-remigration.yaml").read_text()
FILE = "rules/windows-balloon-remigration.yaml"
WHO = "rule 'windows-balloon-remigration'"


def problems(text: str, file: str = FILE) -> list[str]:
    with pytest.raises(InventoryError) as caught:
        parse_rule(text, file)
    return [str(p) for p in caught.value.problems]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_shipped_rules() -> None:
    rules = shipped_rules()
    assert [r.id for r in rules.issues] == [
        "cpu", "config-drive-iso9660", "iface-stats-rxtx-swap", "local-disk-with-volume",
        "pci-passthrough", "smap-legacy-guest", "windows-balloon-remigration"]
    assert [(r.id, r.capability) for r in rules.capability_rules] == [
        ("auto-converge", Capability.AUTO_CONVERGE), ("migrate-uri3", Capability.MIGRATE_URI3),
        ("post-copy", Capability.POST_COPY)]


def test_every_shipped_rule_cites_a_source() -> None:
    assert all(r.sources and all(s.name for s in r.sources) for r in shipped_rules().all)


def test_issue_rule_fields() -> None:
    rule = parse_rule(BALLOON, FILE)
    assert isinstance(rule, IssueRule)
    assert (rule.affects, rule.verdict, rule.actions) == (
        (Affects.LIVE_MIGRATION,), VerdictKind.WORKAROUND, ("remove_balloon",))


@pytest.mark.parametrize(("capability", "qemu", "libvirt"), [
    # seed 003 (2.5 / 1.3.3) is stricter than Nova's commit (1.6 / 1.2.3).
    ("auto-converge", "2.5", "1.3.3"),
    # seed 003 says QEMU 2.6, the Nova docs 2.5.0: the strictest applies.
    ("post-copy", "2.6", "1.3.3"),
    # Nova's 1.2.17 for block migration with volumes is weaker than seed 003's 1.3.3.
    ("migrate-uri3", "2.5", "1.3.3"),
])
def test_capability_takes_strictest_source(capability: str, qemu: str, libvirt: str) -> None:
    rule = shipped_rules().by_id[capability]
    assert isinstance(rule, CapabilityRule)
    assert (str(rule.min_qemu), str(rule.min_libvirt)) == (qemu, libvirt)


@pytest.mark.parametrize(("change", "needle", "message"), [
    (("verdict: workaround", "verdict: workaround\ncolour: blue"), "colour",
     f"{WHO} has unknown key 'colour' (expected one of: id, title, sources, affects, when, "
     f"verdict, message, actions, requires, fallback)"),
    (("family: [windows]", "family: [plan9]"), "plan9",
     f"{WHO} when.guest.family[0] is not a known value (expected one of: linux, windows, "
     f"freebsd, other, got 'plan9')"),
    (('qemu: "<2.11"', 'qemu: "before 2.11"'), "before 2.11",
     f"{WHO} when.source.qemu is invalid (expected a version range such as '>=2.5,<2.12', "
     f"got 'before 2.11')"),
    (("actions: [remove_balloon]", "actions: [remove_ballon]"), "remove_ballon",
     f"{WHO} actions[0] is invalid (expected one of: cold_migrate, copy_config_drive, "
     f"host_kernel_flag, normalize_iface_stats, pin_cpu_model, reboot_guest, remove_balloon, "
     f"require_guest_update, use_migrate_uri3 (host_kernel_flag as host_kernel_flag:FLAG), "
     f"got 'remove_ballon')"),
    (("{guest} was", "{vm} was"), "{vm}",
     f"{WHO} message uses unknown placeholder {{vm}} (expected one of: guest, cpu, source, "
     f"destination, source_qemu, source_libvirt, destination_qemu, destination_libvirt, "
     f"migrations)"),
    (("min: 1", "min: -1"), "min: -1",
     f"{WHO} when.history.live_migrations_since_power_cycle.min is out of range "
     f"(expected >= 0, got -1)"),
    (("actions: [remove_balloon]\n", ""), "verdict:",
     f"{WHO} verdict workaround names no action (expected actions: [ACTION], got none)"),
    (("actions: [remove_balloon]", "actions: [remove_balloon]\nrequires: [teleport]"),
     "teleport",
     f"{WHO} requires[0] is not a known value (expected one of: auto_converge, post_copy, "
     f"migrate_uri3, got 'teleport')"),
    (("verdict: workaround\n", ""), "id:", f"{WHO} is missing required key 'verdict'"),
])
def test_malformed_rule(change: tuple[str, str], needle: str, message: str) -> None:
    """Each problem is one line: FILE:LINE: what (expected …, got …)."""
    bad = BALLOON.replace(*change, 1)
    assert bad != BALLOON
    assert problems(bad) == [f"{FILE}:{line_of(bad, needle)}: {message}"]


def test_yaml_syntax_error_names_the_line() -> None:
    bad = BALLOON.replace("family: [windows]", "family: [windows", 1)
    assert problems(bad) == [f"{FILE}:{line_of(bad, 'devices:')}: invalid YAML: did not find "
                             f"expected ',' or ']'"]


def test_a_key_given_twice_in_a_rule_names_both_lines() -> None:
    bad = BALLOON.replace("family: [windows]", "family: [windows]\n    family: [linux]", 1)
    first = line_of(bad, "family: [windows]")
    assert problems(bad) == [f"{FILE}:{first + 1}: key 'family' is given twice in one mapping, "
                             f"on lines {first} and {first + 1} (expected each key once; merge "
                             f"the two)"]


def test_rule_must_be_a_mapping() -> None:
    assert problems("- a\n- b\n") == [f"{FILE}:1: a rule must be a mapping (expected keys "
                                      f"such as id, title, sources, when, got list)"]


def test_id_must_match_file_name() -> None:
    assert problems(BALLOON, "rules/other.yaml") == [
        f"rules/other.yaml:1: {WHO} id does not match its file name (expected 'other', "
        f"got 'windows-balloon-remigration')"]


def test_capability_source_needs_a_version() -> None:
    text = (RULES / "post-copy.yaml").read_text()
    bad = text.replace('    qemu: "2.6"\n', "", 1)
    line = line_of(bad, '- name: "seed 003')
    assert problems(bad, "rules/post-copy.yaml") == [
        f"rules/post-copy.yaml:{line}: rule 'post-copy' source "
        f"'seed 003: OVH, live migration at 250k instances, future improvements' states no "
        f"version (expected qemu or libvirt, got neither)"]


def test_load_rules_reports_every_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(BALLOON.replace("windows-balloon-remigration", "a", 1))
    (tmp_path / "b.yaml").write_text("id: b\n")
    with pytest.raises(InventoryError) as caught:
        load_rules([tmp_path])
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path}/b.yaml:1: rule 'b' is missing required key 'title'",
        f"{tmp_path}/b.yaml:1: rule 'b' is missing required key 'sources'",
        f"{tmp_path}/b.yaml:1: rule 'b' is missing required key 'affects'",
        f"{tmp_path}/b.yaml:1: rule 'b' is missing required key 'when'",
        f"{tmp_path}/b.yaml:1: rule 'b' is missing required key 'verdict'",
        f"{tmp_path}/b.yaml:1: rule 'b' is missing required key 'message'",
    ]


def test_missing_rule_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such rule file or directory"):
        load_rules([tmp_path / "nope"])


def test_extra_rules_replace_shipped_ones_by_id(tmp_path: Path) -> None:
    (tmp_path / "windows-balloon-remigration.yaml").write_text(
        BALLOON.replace("verdict: workaround", "verdict: warn", 1))
    merged = shipped_rules().merged(load_rules([tmp_path]))
    rule = merged.by_id["windows-balloon-remigration"]
    assert isinstance(rule, IssueRule)
    assert (rule.verdict, len(merged.issues)) == (VerdictKind.WARN, 7)
