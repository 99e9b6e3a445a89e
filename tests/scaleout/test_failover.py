"""A worker's death survived with nothing lost: a Temporal dev server and PostgreSQL on
loopback, a simulated campaign over three regions, two ``hvroll worker`` processes; one is
SIGKILLed while a region it drives is in the middle of its migrations, the other finishes that
region, and the campaign ends exactly as a single-process ``hvroll run`` of the same plan and
seed does."""

from __future__ import annotations

import calendar
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from clirun import invoke
from hvroll.domain.states import TERMINAL_CAMPAIGN, MigrationState
from hvroll.inventory import save_fleet
from hvroll.store import Store
from hvroll.store.lease import read_holder
from hvroll.synthetic.generate import generate
from hvroll.synthetic.presets import SMALL

pytestmark = [pytest.mark.temporal, pytest.mark.postgres, pytest.mark.slow]

THREE_REGIONS = replace(SMALL, name="three", clusters_per_region=(1, 1, 1), cluster_size=12,
                        spares=1)
"""3 regions of one cluster of 12 hosts, ~270 VMs: seconds per region on this machine."""
SEED = 3
HEARTBEAT_TIMEOUT_S = 3
HVROLL = str(Path(sys.executable).parent / "hvroll")
FOLLOW_TIMEOUT_S = 240


def hvroll(*args: str, cwd: Path, timeout: float = FOLLOW_TIMEOUT_S) -> dict[str, Any]:
    """``hvroll ARGS --json`` in a child process; its JSON output."""
    result = subprocess.run([HVROLL, *args, "--json"], cwd=cwd, capture_output=True, text=True,
                            timeout=timeout, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def here(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    """``hvroll ARGS --json`` in this process (no interpreter to start); its JSON output."""
    result = invoke(capsys, (*args, "--json"))
    assert result.code == 0, result.stderr[-3000:]
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def outcome(state: str) -> tuple[dict[str, str], dict[tuple[str, int], tuple[Any, ...]]]:
    """Each host's final step state, and each migration's route, end state, rung and
    number of attempts."""
    store = Store(state, readonly=True)
    try:
        hosts = {s.host: s.state.value for s in store.steps()}
        migrations = {(m.vm, m.wave): (m.source, m.dest, m.state.value, m.rung.value, m.attempts)
                      for m in store.migrations()}
        numbered = Counter((a.migration_id, a.number) for a in store.attempts())
    finally:
        store.close()
    assert max(numbered.values(), default=1) == 1, "an attempt recorded twice"
    return hosts, migrations


def differences(got: tuple[dict[str, str], dict[tuple[str, int], tuple[Any, ...]]],
                want: tuple[dict[str, str], dict[tuple[str, int], tuple[Any, ...]]]
                ) -> list[str]:
    """What differs between two outcomes (:func:`outcome`), a line per host or migration."""
    lines = []
    for (mine, theirs) in zip(got, want, strict=True):
        for key in sorted(mine.keys() | theirs.keys(), key=str):
            if mine.get(key) != theirs.get(key):  # type: ignore[call-overload]
                lines.append(f"{key}: {mine.get(key)} (expected "  # type: ignore[call-overload]
                             f"{theirs.get(key)})")  # type: ignore[call-overload]
    return lines


def holders(state: str, regions: list[str]) -> dict[str, int]:
    """Region → pid of its lease holder (only regions somebody holds)."""
    store = Store(state, readonly=True)
    try:
        held = {r: read_holder(store.session, r) for r in regions}
    finally:
        store.close()
    return {r: h.pid for r, h in held.items() if h is not None and h.holder}


def in_the_middle(state: str) -> dict[str, tuple[int, int]]:
    """Region → (migrations done, migrations in all) for regions with some but not all of
    their migrations done."""
    store = Store(state, readonly=True)
    try:
        total: Counter[str] = Counter()
        done: Counter[str] = Counter()
        for m in store.migrations():
            total[m.region] += 1
            done[m.region] += m.state is MigrationState.COMPLETED
        ended = {r.region for r in store.region_runs() if r.state in TERMINAL_CAMPAIGN}
    finally:
        store.close()
    return {r: (done[r], total[r]) for r in total if 0 < done[r] < total[r] and r not in ended}


def start_worker(name: str, address: str, state: str, workdir: Path,
                 *more: str) -> subprocess.Popen[bytes]:
    with (workdir / f"{name}.log").open("wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [HVROLL, "worker", "--temporal-address", address, "--state", state, "--regions",
             "all", "--seed", str(SEED), "--journal-dir", str(workdir), "--identity", name,
             *more],
            cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def test_a_killed_worker_s_region_is_finished_by_the_other(
        tmp_path: Path, temporal: Any, postgres: Any, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = generate(THREE_REGIONS, 1)
    regions = [r.name for r in fleet.regions]
    assert len(regions) == 3
    save_fleet(fleet, tmp_path / "fleet.yaml")
    monkeypatch.chdir(tmp_path)
    subprocess.run([HVROLL, "plan", "fleet.yaml", "--target", "CPv2", "--target-for",
                    "Broadwell=CPv2n", "--no-hold", "--allow-suspend", "--allow-cold-migration",
                    "-o", "plan.json"], cwd=tmp_path, check=True, capture_output=True,
                   timeout=120)
    t0 = time.monotonic()
    single = here(capsys, "run", "plan.json", "--state", str(tmp_path / "single.db"),
                  "--seed", str(SEED), "--quiet")
    assert single["state"] == "completed"
    single_s = time.monotonic() - t0

    started = time.monotonic()
    state = postgres.create_database()
    first = here(capsys, "run", "plan.json", "--state", state, "--engine", "temporal",
                 "--temporal-address", temporal.address, "--heartbeat-timeout-s",
                 str(HEARTBEAT_TIMEOUT_S))
    assert first["new"] and first["task_queues"] == [f"hvroll-{r}" for r in regions]
    workers = {name: start_worker(name, temporal.address, state, tmp_path)
               for name in ("worker-a", "worker-b")}
    try:
        victim = region = None
        deadline = time.monotonic() + 120
        while victim is None and time.monotonic() < deadline:
            held = holders(state, regions)
            for candidate, progress in in_the_middle(state).items():
                pid = held.get(candidate)
                owner = [n for n, p in workers.items() if p.pid == pid]
                if owner:
                    victim, region, at_kill = owner[0], candidate, progress
                    os.kill(workers[victim].pid, signal.SIGKILL)
                    break
            time.sleep(0.02)
        assert victim is not None and region is not None, "no region seen in mid-campaign"
        workers[victim].wait(timeout=30)
        killed_at = time.monotonic()
        killed_wall = time.time()
        with capsys.disabled():
            print(f"\nkilled {victim} in region {region} at {at_kill[0]}/{at_kill[1]} migrations, "
                  f"{killed_at - started:.1f} s after the start")

        followed = hvroll("run", "plan.json", "--state", state, "--engine", "temporal",
                          "--temporal-address", temporal.address, "--wait", cwd=tmp_path)
        finished = time.monotonic()
    finally:
        for process in workers.values():
            stop(process)

    survivor = next(n for n in workers if n != victim)
    placed = {r["region"]: r for r in followed["temporal"]["regions"]}
    assert not followed["temporal"]["new"]  # the running workflow was found, not started again
    assert placed[region]["state"] == "completed"
    assert placed[region]["worker"] == survivor and placed[region]["attempt"] >= 2
    assert followed["state"] == "completed"
    assert followed["vms_lost"] == 0 and followed["invariant_violations"] == 0
    assert differences(outcome(state), outcome(str(tmp_path / "single.db"))) == []
    shown = here(capsys, "status", "--state", state, "--temporal-address", temporal.address)
    assert {r["region"]: (r["temporal"], r["worker"]) for r in shown["temporal"]} == {
        r: ("done", placed[r]["worker"]) for r in regions}
    retaken = [line for line in (tmp_path / f"{survivor}.log").read_text().splitlines()
               if f"region {region} attempt {placed[region]['attempt']}: started" in line]
    taken_over = calendar.timegm(time.strptime(retaken[0][:19], "%Y-%m-%d %H:%M:%S"))
    with capsys.disabled():
        print(f"region {region} started again on {survivor} about "
              f"{taken_over - killed_wall:.0f} s after the kill (heartbeat "
              f"timeout {HEARTBEAT_TIMEOUT_S} s)")
        print(f"single process {single_s:.1f} s; {survivor} finished {region}: failover and the "
              f"rest of the campaign {finished - killed_at:.1f} s; whole Temporal run "
              f"{finished - started:.1f} s")
