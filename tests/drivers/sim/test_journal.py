"""The journal: a simulated world reopened from it is the world that wrote it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from itertools import islice
from pathlib import Path

import pytest

from hvroll.drivers.base import JobPhase, MigrationOptions
from hvroll.drivers.sim import Faults, SimCloud, SimulatedCrash
from hvroll.errors import InputError

from .conftest import fleet, vm
from .scenario import FAULTS, Trace, campaign, end_state, small_fleet

ROOT = Path(__file__).resolve().parents[3]


def _uninterrupted() -> tuple[list[Trace], tuple[object, ...]]:
    f = small_fleet()
    cloud = SimCloud(f, seed=4, faults=FAULTS)
    return list(campaign(lambda: cloud, f)), end_state(cloud)


def test_a_run_resumed_from_the_journal_ends_as_an_uninterrupted_one(tmp_path: Path) -> None:
    f = small_fleet()
    path = tmp_path / "sim.jsonl"
    box = [SimCloud(f, seed=4, faults=FAULTS, journal=path)]
    steps = campaign(lambda: box[0], f)
    first = list(islice(steps, 120))
    at = box[0].clock.now()
    in_flight = [p.job for p in box[0].jobs() if not p.final]
    box[0].close()
    box[0] = SimCloud(f, seed=4, faults=FAULTS, journal=path)
    assert box[0].clock.now() == at
    assert [p.job for p in box[0].jobs() if not p.final] == in_flight
    trace = first + list(steps)
    expected_trace, expected_end = _uninterrupted()
    assert trace == expected_trace
    assert end_state(box[0]) == expected_end


def test_a_simulated_crash_resumes_from_the_last_completed_call(tmp_path: Path) -> None:
    f = fleet(vm("a", dirty=2000.0), vm("b", dirty=10.0))
    path = tmp_path / "sim.jsonl"
    cloud = SimCloud(f, journal=path, faults=Faults(crash_after_events=4))
    cloud.migrate("ma", "a", "hv1", MigrationOptions())
    cloud.migrate("mb", "b", "hv2", MigrationOptions())
    times = []
    with pytest.raises(SimulatedCrash):
        while True:
            cloud.wait(3600.0)
            times.append(cloud.clock.now())
    resumed = SimCloud(f, journal=path)
    assert resumed.clock.now() == times[-1]
    assert resumed.job("ma").phase is JobPhase.RUNNING
    resumed.abort("ma")
    assert resumed.placement()["a"] == "hv0"


def test_the_journal_is_refused_for_another_seed_fleet_or_faults(tmp_path: Path) -> None:
    path = tmp_path / "sim.jsonl"
    SimCloud(fleet(vm("a")), seed=1, journal=path).close()
    with pytest.raises(InputError, match="journal was written for seed 1, this one is for "
                                         "seed 2; use the same inventory, seed and faults"):
        SimCloud(fleet(vm("a")), seed=2, journal=path)
    with pytest.raises(InputError, match="journal was written for fleet"):
        SimCloud(fleet(vm("b")), seed=1, journal=path)
    with pytest.raises(InputError, match="journal was written for faults"):
        SimCloud(fleet(vm("a")), seed=1, journal=path, faults=Faults(known_issues=True))
    SimCloud(fleet(vm("a")), seed=1, journal=path, faults=Faults(crash_after_events=5)).close()


def test_dropping_a_cloud_releases_its_journal(tmp_path: Path) -> None:
    path = tmp_path / "sim.jsonl"
    cloud = SimCloud(fleet(vm("a")), journal=path)
    cloud.migrate("m", "a", "hv1", MigrationOptions())
    del cloud
    assert SimCloud(fleet(vm("a")), journal=path).job("m").phase is JobPhase.RUNNING


def test_a_file_that_is_not_a_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sim.jsonl"
    path.write_text("hello\n")
    with pytest.raises(InputError, match="not a simulated cloud journal"):
        SimCloud(fleet(), journal=path)


@pytest.mark.parametrize("content", [
    b"hello\nworld",                                # garbage with a torn last line
    b"\x00\xff\xfe binary \x80",                      # not text at all
    b'{"format": "hvroll-sim-journal"}\n[1, 2]\n{"op"',  # a list where a record goes
    b"[" * 100_000,                                  # nested beyond the parser
])
def test_a_garbage_journal_is_refused_and_left_byte_identical(tmp_path: Path,
                                                              content: bytes) -> None:
    path = tmp_path / "sim.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError, match=r"sim\.jsonl:\d+: "):
        SimCloud(fleet(), journal=path)
    assert path.read_bytes() == content


def test_a_journal_that_does_not_replay_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "sim.jsonl"
    SimCloud(fleet(vm("a")), journal=path).close()
    with path.open("a") as out:
        out.write('{"op":"abort","job":"never-started"}\n')
    with pytest.raises(InputError, match="journal line 2 does not replay"):
        SimCloud(fleet(vm("a")), journal=path)


def test_a_journal_in_use_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sim.jsonl"
    first = SimCloud(fleet(), journal=path)
    with pytest.raises(InputError, match="in use by another process"):
        SimCloud(fleet(), journal=path)
    first.close()
    SimCloud(fleet(), journal=path).close()


def test_a_torn_last_line_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "sim.jsonl"
    cloud = SimCloud(fleet(vm("a")), journal=path)
    cloud.migrate("m", "a", "hv1", MigrationOptions())
    cloud.close()
    with path.open("a") as out:
        out.write('{"op":"abort","jo')
    resumed = SimCloud(fleet(vm("a")), journal=path)
    assert resumed.job("m").phase is JobPhase.RUNNING
    resumed.clock.sleep(1.0)
    resumed.close()
    lines = path.read_text().splitlines()
    assert [json.loads(line) for line in lines[1:]][-1] == {"s": 1.0}


def test_every_change_and_advance_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "sim.jsonl"
    cloud = SimCloud(fleet(vm("a")), journal=path)
    cloud.set_scheduling("hv0", False)
    cloud.set_scheduling("hv0", False)  # no change, no line
    cloud.migrate("m", "a", "hv1", MigrationOptions(max_downtime_ms=300))
    cloud.wait(60.0)
    cloud.close()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[0]["format"] == "hvroll-sim-journal"
    assert [r.get("op", next(iter(r))) for r in records[1:]] == ["scheduling", "migrate", "w"]
    assert records[2]["options"]["max_downtime_ms"] == 300


def test_the_world_survives_a_sigkill_of_its_process(tmp_path: Path) -> None:
    path = tmp_path / "sim.jsonl"
    child = textwrap.dedent(f"""
        import os, signal, sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from conftest import fleet, vm
        from hvroll.drivers.base import MigrationOptions
        from hvroll.drivers.sim import SimCloud
        cloud = SimCloud(fleet(vm("a", dirty=2000.0)), journal=Path({str(path)!r}))
        cloud.migrate("m", "a", "hv1", MigrationOptions())
        for _ in range(3):
            cloud.wait(3600.0)
        print(repr(cloud.clock.now()), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                          cwd=ROOT, check=False, env={**os.environ, "PYTHONWARNINGS": "error"})
    assert done.returncode == -signal.SIGKILL, done.stderr
    resumed = SimCloud(fleet(vm("a", dirty=2000.0)), journal=path)
    assert resumed.clock.now() == float(done.stdout.strip())
    assert resumed.job("m").iteration == 3
