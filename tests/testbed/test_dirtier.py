"""The guest's dirtier, compiled as at image build and run on this machine for a few seconds."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hvroll.testbed.health import parse_console
from hvroll.testbed.system import compile_c

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")

LINE = re.compile(r"^DIRTIER t=\d+\.\d hb=(\d+) dirtied_mib=\d+ rate_mib_s=([\d.]+) pass=\d+ "
                  r"verify=OK$")


def _run(binary: Path, *args: str, seconds: float) -> str:
    proc = subprocess.run(["timeout", str(seconds), str(binary), *args], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 124, proc.stderr  # still running when stopped
    return proc.stdout


@pytest.fixture(scope="module")
def dirtier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_c("guest/dirtier.c", tmp_path_factory.mktemp("bin"), static=True)


def test_paced_dirtier_reports_each_second_at_its_rate_with_intact_pages(dirtier: Path) -> None:
    out = _run(dirtier, "dirty_mb=8", "dirty_rate=8", seconds=3.5)
    lines = out.splitlines()
    assert lines[0] == "DIRTIER-START dirty_mb=8 dirty_rate=8 pages=2048"
    matches = [LINE.match(line) for line in lines[1:]]
    assert all(matches), lines
    assert [int(m.group(1)) for m in matches if m] == [1, 2, 3]
    assert all(6.0 < float(m.group(2)) < 10.0 for m in matches if m)
    assert parse_console(out).ok


def test_zero_megabytes_means_a_one_hertz_heartbeat(dirtier: Path) -> None:
    out = _run(dirtier, "0", seconds=2.5)
    assert [line.split(" t=")[0] for line in out.splitlines()] == \
        ["HEARTBEAT hb=1", "HEARTBEAT hb=2"]


@pytest.mark.skipif(os.geteuid() != 0, reason="writing another process's memory needs root")
def test_a_page_changed_behind_the_dirtiers_back_is_reported(dirtier: Path) -> None:
    """Overwrite the last page of a slow dirtier's buffer (which it rewrites only ~8 s later)."""
    with subprocess.Popen([str(dirtier), "dirty_mb=8", "dirty_rate=1"],
                          stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline(), proc.stdout.readline()]  # START, then hb=1
            assert "verify=OK" in lines[1], lines
            start = _mapping_of_size(proc.pid, 8 * 1024 * 1024)
            with Path(f"/proc/{proc.pid}/mem").open("r+b") as mem:
                mem.seek(start + 2047 * 4096)
                mem.write(b"\xff" * 8)
            lines.append(proc.stdout.readline())
        finally:
            proc.kill()
    assert lines[2].endswith("verify=FAIL(1 bad pages, first 2047)\n"), lines
    assert parse_console("".join(lines)).flags == ("verify_fail",)


def _mapping_of_size(pid: int, size: int) -> int:
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split()
        low, high = (int(x, 16) for x in fields[0].split("-"))
        if high - low == size and fields[1].startswith("rw") and len(fields) == 5:
            return low
    raise AssertionError(f"no {size}-byte anonymous mapping in process {pid}")
