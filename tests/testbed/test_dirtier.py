"""The guest's dirtier, compiled as at image build and run on this machine for a few seconds."""

from __future__ import annotations

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
