"""``hvroll fleet`` as an operator uses it: a real process, its output and exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def hvroll(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hvroll", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_generate_then_show_json(tmp_path: Path) -> None:
    out = tmp_path / "f.yaml"
    gen = hvroll("fleet", "generate", "--preset", "small", "--seed", "3", "-o", str(out))
    assert gen.returncode == 0, gen.stderr
    shown = hvroll("fleet", "show", str(out), "--json")
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert {"regions", "clusters", "hosts", "vms", "spares"} <= set(summary)
    assert (summary["regions"], summary["hosts"], summary["spares"]) == (2, 80, 8)


def test_validate_broken_file_prints_one_line_per_error_and_exits_2(tmp_path: Path,
                                                                    tiny_text: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(tiny_text.replace("ram_mib: 16384", "ram_mib: lots", 1)
                   .replace("host: hv1\n    vcpus: 4", "host: nowhere\n    vcpus: 4", 1))
    result = hvroll("fleet", "validate", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [f"error: {bad}:37: host 'hv1' ram_mib has the wrong type (expected an "
                     "integer, got 'lots')"]
    assert "Traceback" not in result.stderr


def test_validate_reports_reference_errors_after_types_are_fixed(tmp_path: Path,
                                                                 tiny_text: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(tiny_text.replace("host: hv1\n    vcpus: 4", "host: nowhere\n    vcpus: 4", 1))
    result = hvroll("fleet", "validate", str(bad))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {bad}:66: vm 'win-1' refers to unknown host 'nowhere' (expected one of: hv1, "
        "hv2, got 'nowhere')"]


def test_validate_good_file(tmp_path: Path, tiny_text: str) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(tiny_text)
    result = hvroll("fleet", "validate", str(good), "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"file": str(good), "valid": True, "hosts": 2, "vms": 3}


def test_schema_is_json_schema() -> None:
    result = hvroll("fleet", "schema")
    schema = json.loads(result.stdout)
    assert schema["title"] == "hvroll inventory"
    assert {"hosts", "vms", "profiles"} <= set(schema["properties"])


@pytest.mark.parametrize("args", [["fleet", "show"], ["fleet", "generate", "--bogus"]])
def test_usage_errors_exit_2_without_traceback(args: list[str]) -> None:
    result = hvroll(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_unwritable_output_is_one_line(tmp_path: Path) -> None:
    result = hvroll("fleet", "generate", "-o", str(tmp_path / "missing-dir" / "f.yaml"))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {tmp_path / 'missing-dir' / 'f.yaml'}: cannot write (No such file or directory)"]


def test_discover_from_libvirt_needs_a_libvirt_uri_per_host(tmp_path: Path,
                                                            tiny_text: str) -> None:
    source = tmp_path / "f.yaml"
    source.write_text(tiny_text)
    result = hvroll("fleet", "discover", "--libvirt", str(source), "-o", str(tmp_path / "n.yaml"))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "without libvirt_uri" in line and "expected one per host" in line
    assert not (tmp_path / "n.yaml").exists()


def test_discover_reads_libvirt_or_nova_not_both(tmp_path: Path, tiny_text: str) -> None:
    source = tmp_path / "f.yaml"
    source.write_text(tiny_text)
    result = hvroll("fleet", "discover", "--libvirt", str(source), "--cloud", "lab", "-o",
                    str(tmp_path / "n.yaml"))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: --cloud is for Nova; --libvirt reads libvirt daemons: give one or the other"]
