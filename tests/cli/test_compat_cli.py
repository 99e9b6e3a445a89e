"""``hvroll check``, ``hvroll matrix``, ``hvroll explain`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hvroll.cli import main
from hvroll.inventory import save_fleet
from hvroll.synthetic.generate import generate

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "docs" / "examples" / "tiny.yaml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert (code, err) == (0, "")
    return json.loads(out)


def test_check_json(capsys: pytest.CaptureFixture[str]) -> None:
    """Without nosmap (flags= empties them) the legacy guest of tiny.yaml is blocked."""
    data = run_json(capsys, "check", TINY, "--target", "CPv2,flags=,name=CPv2x")
    assert {k: data[k] for k in ("vms", "ok", "warn", "workaround", "blocked", "by_reason")} == {
        "vms": 3, "ok": 1, "warn": 1, "workaround": 1, "blocked": 1,
        "by_reason": {"iface-stats-rxtx-swap": 3, "smap-legacy-guest": 1,
                      "windows-balloon-remigration": 1, "config-drive-iso9660": 1}}
    assert [(b["vm"], b["reasons"][0]["fix"]) for b in data["blocked_vms"]] == [
        ("legacy-1", "host_kernel_flag:nosmap")]


def test_check_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", TINY, "--target", "CPv2,flags=,name=CPv2x")
    assert code == 0
    assert "  legacy-1 on hv1 (Broadwell, centos 5.11): smap-legacy-guest (fix: " \
           "host_kernel_flag:nosmap)\n" in out
    assert "  - boot the 2 Broadwell hosts of cluster c1 on CPv2x with kernel flag nosmap" in out


def test_check_with_nosmap_target_blocks_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_json(capsys, "check", TINY, "--target", "CPv2")["blocked"] == 0


def test_matrix_json(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "matrix", TINY, "--target", "CPv2,flags=,name=CPv2x")
    cells = data["rows"][0]["cells"]
    assert (data["rows"][0]["generation"], {c: v["status"] for c, v in cells.items()}) == (
        "Broadwell", {"spawn_old": "ok", "spawn_new": "fail", "lm_old_new": "fail",
                      "lm_new_new": "ok"})
    assert cells["lm_new_new"]["carried"] == {"smap-legacy-guest": 1}
    assert cells["spawn_new"]["fixes"] == {"host_kernel_flag:nosmap": 1}


def test_matrix_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "matrix", TINY, "--target", "CPv2,flags=,name=CPv2x")
    assert code == 0
    assert all(w in out for w in ("verification matrix", "Broadwell", "✓", "✗", "nosmap"))


def test_explain_json(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "explain", TINY, "win-1")
    assert (data["accepted"], data["by_reason"], data["workarounds"]) == (
        ["hv2"], {}, ["copy_config_drive", "remove_balloon"])


def test_explain_text_names_a_risk_the_vm_already_carries(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from compat.fleets import make_fleet

    path = tmp_path / "seed.yaml"
    save_fleet(make_fleet(), path)
    code, out, _ = run(capsys, "explain", str(path), "legacy-sky")
    assert code == 0
    assert "accepted by 1: sky2\n  1 of them with a risk it already carries, " \
           "smap-legacy-guest: centos 5.11 does not support SMAP and the CPU it gets at its " \
           "next boot on Skylake/CPv2 exposes smap: it would not boot there (as already on " \
           "Skylake/CPv2, where it is now: a risk the VM carries, the move adds none) (fix: " \
           "require_guest_update)\n" in out


def test_explain_text_no_valid_host(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", TINY, "legacy-1", "--target",
                       "CPv2,flags=,name=CPv2x,rank=3")
    assert code == 0
    assert "no valid host" in out and "smap-legacy-guest" in out


@pytest.mark.parametrize(("argv", "error"), [
    (("check", TINY, "--target", "CPv9"),
     "error: --target profile 'CPv9' is not in the inventory (expected one of: CPv1, CPv2, or "
     "an inline profile such as 'name=CPv3,qemu=7.2,libvirt=9.0,os=debian:12,flags=nosmap')\n"),
    (("check", TINY, "--target", "CPv2", "--target-for", "Skylake=CPv2"),
     "error: --target-for 'Skylake=CPv2' is not GENERATION=PROFILE or CLUSTER=PROFILE with a "
     "generation or cluster of the inventory (expected e.g. Broadwell=CPv2n; generations: "
     "Broadwell; clusters: c1)\n"),
    (("explain", TINY, "nope"),
     "error: no VM named 'nope' in the inventory (expected a name such as 'web-1')\n"),
    (("matrix", "/nonexistent.yaml", "--target", "CPv2"),
     "error: /nonexistent.yaml: no such file (expected an inventory in YAML or JSON; make one "
     "with 'hvroll fleet generate')\n"),
])
def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str],
                                          argv: tuple[str, ...], error: str) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out, err) == (2, "", error)


def test_bad_rule_file_names_file_and_line(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    rule = tmp_path / "mine.yaml"
    rule.write_text("id: mine\ntitle: x\nsources: [{name: me}]\naffects: [spawn]\nwhen: {}\n"
                    "verdict: maybe\nmessage: x\n")
    code, _, err = run(capsys, "check", TINY, "--target", "CPv2", "--rules", str(tmp_path))
    assert (code, err) == (2, f"error: {rule}:6: rule 'mine' verdict is not a known value "
                              f"(expected one of: ok, warn, workaround, block, got 'maybe')\n")


def test_extra_rule_is_applied(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "no-windows.yaml").write_text(
        "id: no-windows\ntitle: No Windows on CPv2\nsources: [{name: house policy}]\n"
        "affects: [spawn]\nwhen: {guest: {family: [windows]}, destination: {profiles: [CPv2]}}\n"
        "verdict: block\nmessage: 'no {guest} here'\n")
    data = run_json(capsys, "check", TINY, "--target", "CPv2", "--rules", str(tmp_path))
    assert data["by_reason"]["no-windows"] == 1


@pytest.mark.slow
def test_check_enterprise_preset_judges_every_vm(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    """The whole command on the enterprise preset (its time is measured by
    bench/check.py, not asserted: machines are noisy)."""
    path = tmp_path / "ent.yaml"
    save_fleet(generate("enterprise", 1), path)
    data = run_json(capsys, "check", str(path), "--target", "CPv2")
    assert data["vms"] == data["ok"] + data["workaround"] + data["blocked"] > 35000
