"""A corpus of bad inputs and slips, each run through the command line as an operator would:
the exit code, one line of error (``FILE:LINE:`` where the input has lines), no traceback,
and every file that was there before is byte-identical after."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hvroll.cli import main
from hvroll.inventory import dump_fleet, load_fleet

from .conftest import Cli

ROOT = Path(__file__).resolve().parents[2]
TINY = (ROOT / "docs" / "examples" / "tiny.yaml").read_text()
RULE = (ROOT / "src" / "hvroll" / "compat" / "rules" / "windows-balloon-remigration.yaml"
        ).read_text()
BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with what an operator has: tiny.yaml, its canonical copy, a plan of it,
    a finished campaign's state file, a rule file."""
    d = tmp_path_factory.mktemp("base")
    (d / "inv.yaml").write_text(TINY)
    (d / "canon.yaml").write_text(dump_fleet(load_fleet(d / "inv.yaml")))
    (d / "rule.yaml").write_text(RULE)
    plan = d / "plan.json"
    for argv in (["plan", str(d / "inv.yaml"), "-t", "CPv2", "--no-hold", "-o", str(plan)],
                 ["run", str(plan), "--state", str(d / "state.db"), "--quiet"]):
        try:
            main(argv)
        except SystemExit as exc:
            assert exc.code in (0, None), argv
    return d


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    pattern: str
    """The one error line, a regular expression; ``{d}`` is the case's directory."""
    files: dict[str, Callable[[Path], bytes]] = field(default_factory=dict)
    """Files to write (name: their bytes from the base directory)."""
    code: int = 2


def text(s: str) -> Callable[[Path], bytes]:
    return lambda _d: s.encode()


def raw(b: bytes) -> Callable[[Path], bytes]:
    return lambda _d: b


def edited(name: str, old: str, new: str, count: int = 1) -> Callable[[Path], bytes]:
    def make(d: Path) -> bytes:
        source = (d / name).read_text()
        assert old in source, (name, old)
        return source.replace(old, new, count).encode()
    return make


def plan_edit(change: Callable[[dict[str, object]], None]) -> Callable[[Path], bytes]:
    def make(d: Path) -> bytes:
        data = json.loads((d / "plan.json").read_text())
        change(data)
        return json.dumps(data, indent=1).encode()
    return make


def sqlite_foreign(_d: Path) -> bytes:
    path = _d / "foreign-build.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.close()
    data = path.read_bytes()
    path.unlink()
    return data


def damaged_state(column: str) -> Callable[[Path], bytes]:
    """The base state file with one compressed record overwritten by garbage."""
    def make(d: Path) -> bytes:
        path = d / "damaged-build.db"
        shutil.copy(d / "state.db", path)
        with sqlite3.connect(path) as conn:
            conn.execute(f"UPDATE campaign_input SET {column} = x'00ff00ff'")
        conn.close()
        data = path.read_bytes()
        path.unlink()
        return data
    return make


def first_move(data: dict[str, object]) -> dict[str, object]:
    waves = data["waves"]
    assert isinstance(waves, list)
    move = waves[0]["steps"][0]["drain"][0]
    assert isinstance(move, dict)
    return move


VALIDATE = ("fleet", "validate", "{d}/bad.yaml")
VALIDATE_JSON = ("fleet", "validate", "{d}/bad.json")
LINE = r"{d}/bad\.yaml:\d+: "
JLINE = r"{d}/bad\.json:\d+: "
RUN = ("run", "{d}/bad.json", "--state", "{d}/new.db", "--inventory", "{d}/inv.yaml",
       "--quiet")
PLAN = r"{d}/bad\.json:\d+: "
CANON_VM = '"name": "legacy-1"'

CASES = [
    # -- inventories: data silently dropped ---------------------------------------------
    Case("inventory-section-twice", VALIDATE,
         LINE + r"key 'vms' is given twice in one mapping, on lines \d+ and \d+",
         {"bad.yaml": lambda d: (TINY + TINY[TINY.index("vms:"):]).encode()}),
    Case("canonical-section-twice", VALIDATE, LINE + r"key 'hosts' is given twice",
         {"bad.yaml": lambda d: ((d / "canon.yaml").read_text()
                                 + "hosts:\n- " + (d / "canon.yaml").read_text()
                                 .split("hosts:\n- ")[1].split("\n")[0] + "\n").encode()}),
    Case("record-key-twice", VALIDATE, LINE + r"key 'vcpus' is given twice in one mapping",
         {"bad.yaml": edited("inv.yaml", "    vcpus: 2\n", "    vcpus: 2\n    vcpus: 64\n")}),
    Case("canonical-record-key-twice", VALIDATE, LINE + r"key 'ram_mib' is given twice",
         {"bad.yaml": edited("canon.yaml", CANON_VM, CANON_VM + ', "ram_mib": 1')}),
    Case("json-key-twice", VALIDATE_JSON, JLINE + r"key 'regions' is given twice",
         {"bad.json": text('{\n"version": 1,\n"regions": [],\n"regions": []\n}\n')}),
    Case("profile-key-twice", VALIDATE, LINE + r"key 'rank' is given twice",
         {"bad.yaml": edited("inv.yaml", "    rank: 2\n", "    rank: 2\n    rank: 0\n")}),
    # -- inventories: values that pass and then crash or hang ------------------------------
    Case("inf-bandwidth", VALIDATE, LINE + r"numbers must be finite \(expected a number, got "
         r"\.inf\)", {"bad.yaml": edited("inv.yaml", "    disk_gib: 200\n",
                                          "    disk_gib: 200\n    link_mib_s: .inf\n")}),
    Case("nan-ratio", VALIDATE, LINE + r"numbers must be finite",
         {"bad.yaml": edited("inv.yaml", "    disk_gib: 200\n",
                             "    disk_gib: 200\n    cpu_allocation_ratio: .nan\n")}),
    Case("json-infinity", VALIDATE_JSON, JLINE + r"numbers must be finite \(expected a number, "
         r"got Infinity\)",
         {"bad.json": text('{\n"version": 1,\n"hosts": [{"ram_mib": Infinity}]\n}\n')}),
    Case("json-nan", VALIDATE_JSON, JLINE + r"numbers must be finite",
         {"bad.json": text('{\n"version": 1,\n"vms": [\n{"dirty_rate_mib_s": NaN}\n]\n}\n')}),
    Case("true-as-vcpus", VALIDATE, LINE + r"vm 'web-1' vcpus is invalid \(expected a number, "
         r"got true\)", {"bad.yaml": edited("inv.yaml", "    vcpus: 2\n", "    vcpus: true\n")}),
    Case("huge-ram", VALIDATE, LINE + r"vm 'web-1' ram_mib is out of range \(expected <= ",
         {"bad.yaml": edited("inv.yaml", "ram_mib: 4096", "ram_mib: 99999999999999")}),
    Case("float-ram", VALIDATE, LINE + r"vm 'web-1' ram_mib",
         {"bad.yaml": edited("inv.yaml", "ram_mib: 4096", "ram_mib: 1.0e+30")}),
    Case("tiny-bandwidth", VALIDATE, LINE + r"host 'hv1' link_mib_s is out of range "
         r"\(expected >= 1\.0", {"bad.yaml": edited("inv.yaml", "    disk_gib: 200\n",
                                                     "    disk_gib: 200\n"
                                                     "    link_mib_s: 1.0e-300\n")}),
    Case("huge-dirty-rate", VALIDATE, LINE + r"vm 'web-1' dirty_rate_mib_s is out of range",
         {"bad.yaml": edited("inv.yaml", "    ram_mib: 4096\n",
                             "    ram_mib: 4096\n    dirty_rate_mib_s: 1.0e+12\n")}),
    Case("negative-vcpus", VALIDATE, LINE + r"vm 'web-1' vcpus is out of range",
         {"bad.yaml": edited("inv.yaml", "    vcpus: 2\n", "    vcpus: -2\n")}),
    Case("huge-host-vcpus", VALIDATE, LINE + r"host 'hv1' vcpus is out of range",
         {"bad.yaml": edited("inv.yaml", "    vcpus: 8\n", "    vcpus: 999999\n")}),
    Case("rank-out-of-range", VALIDATE,
         LINE + r"profile 'CPv2' rank is out of range \(expected <= 1000",
         {"bad.yaml": edited("inv.yaml", "rank: 2", "rank: 99999")}),
    Case("zero-ratio", VALIDATE,
         LINE + r"host 'hv1' ram_allocation_ratio is out of range \(expected > 0",
         {"bad.yaml": edited("inv.yaml", "    disk_gib: 200\n",
                             "    disk_gib: 200\n    ram_allocation_ratio: 0\n")}),
    Case("huge-disk", VALIDATE, LINE + r"vm 'web-1' disks\[0\]\.size_gib is out of range",
         {"bad.yaml": edited("inv.yaml", "size_gib: 40", "size_gib: 99999999999")}),
    Case("huge-migration-count", VALIDATE,
         LINE + r"vm 'win-1' history\.live_migrations_since_power_cycle is out of range",
         {"bad.yaml": edited("inv.yaml", "live_migrations_since_power_cycle: 1",
                                          "live_migrations_since_power_cycle: 10000000000")}),
    Case("alias-bomb", VALIDATE, LINE + r"YAML aliases expand this document beyond",
         {"bad.yaml": text(BOMB)}),
    Case("recursive-alias", VALIDATE, LINE + r"a YAML alias refers to a node that contains it",
         {"bad.yaml": text("version: 1\nregions: &r [*r]\n")}),
    Case("deep-yaml", VALIDATE, LINE + r"(nested too deeply|invalid YAML)",
         {"bad.yaml": text("version: 1\nregions: " + "[" * 5000 + "]" * 5000 + "\n")}),
    Case("deep-json", VALIDATE_JSON, JLINE + r"nested too deeply",
         {"bad.json": text('{"version": 1, "regions": ' + "[" * 100000 + "]" * 100000 + "}")}),
    # -- inventories: undecodable, truncated, not an inventory ------------------------------
    Case("binary-inventory", VALIDATE, LINE + r"not UTF-8 text \(byte 0x80 at offset 128",
         {"bad.yaml": raw(bytes(range(256)))}),
    Case("utf16-inventory", VALIDATE, LINE + r"not UTF-8 text \(byte 0xff at offset 0",
         {"bad.yaml": lambda d: TINY.encode("utf-16")}),
    Case("latin1-name", VALIDATE, LINE + r"not UTF-8 text \(byte 0xe9",
         {"bad.yaml": lambda d: TINY.replace("acme", "acm\u00e9").encode("latin-1")}),
    Case("truncated-canonical", VALIDATE, LINE + r"invalid YAML",
         {"bad.yaml": lambda d: (d / "canon.yaml").read_bytes()[:-40]}),
    Case("truncated-hand-written", VALIDATE, LINE,
         {"bad.yaml": lambda d: TINY.encode()[:TINY.index("guest: {family: windows") + 20]}),
    Case("empty-inventory", VALIDATE, LINE + r"an inventory must be a mapping of sections "
         r"\(expected keys such as version, hosts, vms, got an empty document\)",
         {"bad.yaml": text("")}),
    Case("list-inventory", VALIDATE, LINE + r"an inventory must be a mapping",
         {"bad.yaml": text("- 1\n- 2\n")}),
    Case("missing-inventory", ("fleet", "validate", "{d}/nowhere.yaml"),
         r"{d}/nowhere\.yaml: no such file"),
    Case("directory-inventory", ("fleet", "validate", "{d}"), r"{d}: is a directory"),
    Case("unknown-key", VALIDATE, LINE + r"host 'hv1' has unknown key 'colour'",
         {"bad.yaml": edited("inv.yaml", "    disk_gib: 200\n",
                             "    disk_gib: 200\n    colour: blue\n")}),
    Case("wrong-type", VALIDATE, LINE + r"host 'hv1' ram_mib has the wrong type",
         {"bad.yaml": edited("inv.yaml", "ram_mib: 16384", "ram_mib: lots")}),
    Case("unknown-host", VALIDATE, LINE + r"vm 'web-1' refers to unknown host",
         {"bad.yaml": edited("inv.yaml", "    host: hv1\n", "    host: hv9\n")}),
    Case("yaml-syntax", VALIDATE, LINE + r"invalid YAML",
         {"bad.yaml": edited("inv.yaml", "vcpus: 8", "vcpus: [8")}),
    Case("plan-from-broken-inventory", ("plan", "{d}/bad.yaml", "-t", "CPv2", "-o",
                                        "{d}/p.json"),
         LINE + r"key 'vms' is given twice",
         {"bad.yaml": lambda d: (TINY + TINY[TINY.index("vms:"):]).encode()}),
    Case("check-binary-inventory", ("check", "{d}/bad.yaml", "-t", "CPv2"),
         LINE + r"not UTF-8 text", {"bad.yaml": raw(b"\xff\xfe\x00garbage")}),
    # -- plans -----------------------------------------------------------------------------
    Case("binary-plan", RUN, PLAN + r"not UTF-8 text", {"bad.json": raw(bytes(range(256)))}),
    Case("plan-key-twice", RUN, PLAN + r"key 'strategy' is given twice",
         {"bad.json": lambda d: (d / "plan.json").read_bytes().replace(
             b'"strategy":', b'"strategy":"scheduler","strategy":', 1)}),
    Case("plan-nan", RUN, PLAN + r"numbers must be finite",
         {"bad.json": lambda d: (d / "plan.json").read_bytes().replace(
             b'"reinstall_s":1800.0', b'"reinstall_s":NaN', 1)}),
    Case("plan-policy-bound", RUN, PLAN + r"not a valid plan: policy\.hosts_per_wave",
         {"bad.json": plan_edit(lambda p: p["policy"].update(hosts_per_wave=10**9))}),
    Case("plan-truncated", RUN, PLAN + r"invalid JSON",
         {"bad.json": lambda d: (d / "plan.json").read_bytes()[:200]}),
    Case("plan-version", RUN, PLAN + r"plan version is not supported \(expected 1, got 99\)",
         {"bad.json": plan_edit(lambda p: p.update(version=99))}),
    Case("plan-is-a-list", RUN, PLAN + r"not a plan", {"bad.json": text("[1, 2, 3]\n")}),
    Case("plan-is-an-inventory", RUN, PLAN + r"invalid JSON",
         {"bad.json": lambda d: TINY.encode()}),
    Case("plan-deep", RUN, PLAN + r"nested too deeply",
         {"bad.json": text("[" * 100000 + "]" * 100000)}),
    Case("plan-wrong-type", RUN, PLAN + r"not a valid plan: waves",
         {"bad.json": plan_edit(lambda p: p.update(waves="all of them"))}),
    Case("plan-missing", RUN, r"{d}/bad\.json: no such file"),
    Case("plan-unknown-vm", RUN, r"{d}/bad\.json: wave 0: vm 'ghost' is not in the inventory",
         {"bad.json": plan_edit(lambda p: first_move(p).update(vm="ghost"))}),
    Case("plan-unknown-dest", RUN, r"{d}/bad\.json: wave 0: vm '[\w-]+' has unknown "
         r"destination host 'hv9'",
         {"bad.json": plan_edit(lambda p: first_move(p).update(dest="hv9"))}),
    Case("plan-other-inventory", RUN, r"{d}/bad\.json: the plan was made for another "
         r"inventory", {"bad.json": plan_edit(lambda p: p.update(inventory_fingerprint="0" * 32))}),
    Case("plan-lower-rank-step", RUN, r"{d}/bad\.json: wave 1: host 'hv1' would go from "
         r"profile 'CPv1' \(rank 1\) to 'CPv0' \(rank 0\)",
         {"bad.json": plan_edit(lambda p: (
             p["targets"].append({**p["targets"][0], "name": "CPv0", "rank": 0}),
             p["waves"][1]["steps"][0].update(target="CPv0")))}),
    Case("plan-vm-elsewhere", RUN, r"{d}/bad\.json: wave 0: vm '[\w-]+' is on host 'hv1' at "
         r"that point", {"bad.json": plan_edit(lambda p: first_move(p).update(source="hv2"))}),
    # -- state files -----------------------------------------------------------------------
    Case("status-foreign-db", ("status", "--state", "{d}/foreign.db"),
         r"{d}/foreign\.db: not a hvroll state file", {"foreign.db": sqlite_foreign}),
    Case("pause-foreign-db", ("pause", "--state", "{d}/foreign.db"),
         r"{d}/foreign\.db: not a hvroll state file", {"foreign.db": sqlite_foreign}),
    Case("run-foreign-db", ("run", "{d}/plan.json", "--state", "{d}/foreign.db", "--quiet"),
         r"{d}/foreign\.db: not a hvroll state file", {"foreign.db": sqlite_foreign}),
    Case("status-empty-file", ("status", "--state", "{d}/empty.db"),
         r"{d}/empty\.db: not a hvroll state file", {"empty.db": raw(b"")}),
    Case("status-garbage", ("status", "--state", "{d}/g.db"),
         r"{d}/g\.db: not a hvroll state file", {"g.db": raw(b"garbage\x00" * 512)}),
    Case("report-garbage", ("report", "--state", "{d}/g.db", "-o", "{d}/r.html"),
         r"{d}/g\.db: not a hvroll state file", {"g.db": raw(b"garbage\x00" * 512)}),
    Case("report-damaged-plan", ("report", "--state", "{d}/d.db", "-o", "{d}/r.html"),
         r"the state file holds a damaged record", {"d.db": damaged_state("plan")}),
    Case("run-damaged-inventory", ("run", "{d}/plan.json", "--state", "{d}/d.db", "--quiet"),
         r"the state file holds a damaged record", {"d.db": damaged_state("inventory")}),
    Case("status-directory", ("status", "--state", "{d}"), r"{d}: is a directory"),
    Case("status-missing", ("status", "--state", "{d}/none.db"), r"{d}/none\.db: no such state "
         r"file"),
    # -- journals --------------------------------------------------------------------------
    Case("run-garbage-journal", ("run", "{d}/plan.json", "--state", "{d}/j.db", "--quiet"),
         r"{d}/j\.db\.sim\.jsonl:1: not a simulated cloud journal",
         {"j.db.sim.jsonl": raw(b"\x00\xffnot a journal\nhalf a line")}),
    # -- outputs that would clobber --------------------------------------------------------
    Case("plan-over-its-inventory", ("plan", "{d}/inv.yaml", "-t", "CPv2", "-o",
                                     "{d}/inv.yaml"), r"{d}/inv\.yaml: is an input of this "
         r"command"),
    Case("plan-into-directory", ("plan", "{d}/inv.yaml", "-t", "CPv2", "-o", "{d}"),
         r"{d}: is a directory"),
    Case("generate-into-directory", ("fleet", "generate", "-o", "{d}"), r"{d}: is a directory"),
    Case("generate-over-state", ("fleet", "generate", "-o", "{d}/state.db", "--force"),
         r"{d}/state\.db: is a state file"),
    Case("generate-over-inventory", ("fleet", "generate", "-o", "{d}/inv.yaml"),
         r"{d}/inv\.yaml: exists and holds an inventory \(expected a new path, or --force"),
    Case("plan-over-inventory-forced", ("plan", "{d}/inv.yaml", "-t", "CPv2", "-o",
                                        "{d}/canon.yaml", "--force"),
         r"{d}/canon\.yaml: is an inventory \(expected a new path for --output, which writes "
         r"a plan\)"),
    Case("plan-over-plan", ("plan", "{d}/inv.yaml", "-t", "CPv2", "-o", "{d}/plan.json"),
         r"{d}/plan\.json: exists and holds a plan"),
    Case("report-over-state", ("report", "--state", "{d}/state.db", "-o", "{d}/state.db"),
         r"{d}/state\.db: is an input of this command"),
    Case("report-over-inventory", ("report", "--state", "{d}/state.db", "-o", "{d}/inv.yaml",
                                   "--force"), r"{d}/inv\.yaml: is an inventory"),
    Case("demo-in-used-directory", ("demo", "-w", "{d}", "--json"),
         r"{d}: is not empty and was not made by 'hvroll demo'"),
    Case("serve-binary-token", ("serve", "--state", "{d}/state.db", "--token-file", "{d}/t"),
         r"{d}/t:1: not UTF-8 text", {"t": raw(b"\xff\xfe\x00 token")}),
    Case("serve-missing-token", ("serve", "--state", "{d}/state.db", "--token-file",
                                 "{d}/none"), r"{d}/none: no such file"),
    # -- control plane files -------------------------------------------------------------
    Case("catalogue-key-twice", ("controlplane", "plan", "--from", "2025.1", "--to", "2025.2",
                                 "--catalogue", "{d}/bad.yaml"),
         LINE + r"key 'schema' is given twice",
         {"bad.yaml": text("schema: 1\nschema: 2\n")}),
    Case("controlplane-binary-plan", ("controlplane", "runbook", "{d}/bad.json", "-d",
                                      "{d}/inv.yaml"),
         r"{d}/bad\.json:1: not UTF-8 text", {"bad.json": raw(b"\x80\x81 plan")}),
    # -- rule files ------------------------------------------------------------------------
    Case("rule-key-twice", ("check", "{d}/inv.yaml", "-t", "CPv2", "--rules", "{d}/bad.yaml"),
         LINE + r"key 'family' is given twice",
         {"bad.yaml": edited("rule.yaml", "family: [windows]",
                             "family: [windows]\n    family: [linux]")}),
    Case("rule-binary", ("check", "{d}/inv.yaml", "-t", "CPv2", "--rules", "{d}/bad.yaml"),
         LINE + r"not UTF-8 text", {"bad.yaml": raw(b"id: x\n\xc3\x28\n")}),
    Case("rule-bomb", ("check", "{d}/inv.yaml", "-t", "CPv2", "--rules", "{d}/bad.yaml"),
         LINE + r"YAML aliases expand", {"bad.yaml": text(BOMB)}),
    Case("rule-infinite", ("check", "{d}/inv.yaml", "-t", "CPv2", "--rules", "{d}/bad.yaml"),
         LINE + r"numbers must be finite", {"bad.yaml": text(RULE + "extra: .inf\n")}),
    Case("rule-missing", ("check", "{d}/inv.yaml", "-t", "CPv2", "--rules", "{d}/none.yaml"),
         r"{d}/none\.yaml: no such rule file"),
]


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_input_is_one_line_and_changes_no_file(cli: Cli, base: Path, tmp_path: Path,
                                                     case: Case) -> None:
    d = tmp_path / "op"
    shutil.copytree(base, d)
    for name, make in case.files.items():
        (d / name).write_bytes(make(d))
    before = snapshot(d)
    result = cli(*(a.format(d=d) for a in case.argv))
    assert "Traceback" not in result.stderr
    assert result.code == case.code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr


    pattern = "^error: " + case.pattern.format(d=re.escape(str(d)))
    assert re.match(pattern, lines[0]), (pattern, lines[0])
    after = snapshot(d)
    assert {name: after.get(name) for name in before} == before
