"""Campaigns on the testbed: the real executor drives real libvirtd daemons and QEMU guests.

Draining a host, the ladder finishing a migration plain pre-copy cannot, a ``hvroll run``
killed in the middle of its migrations and started again, two runs at once (a whole campaign
from CLI commands only is ``test_testbed_cli.py``). Every guest's health is judged on its
console after the campaign (its memory check, its heartbeat counter, no oops), and the
executor itself probes each guest after each migration (a guest that stops answering is an
invariant violation).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.libvirt.bed import Bed, cannot_run
from hvroll import testbed as tb
from hvroll.domain.states import CampaignState
from hvroll.executor.engine import Executor
from hvroll.executor.status import status
from hvroll.planner.build import plan, with_profiles
from hvroll.planner.model import Policy
from hvroll.store import MigrationRow, Store
from hvroll.testbed.driver import for_testbed
from hvroll.virt.binding import connection

pytestmark = pytest.mark.libvirt
pytest.importorskip("libvirt")

HVROLL = [sys.executable, "-m", "hvroll"]


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    reason = cannot_run()
    if reason:
        pytest.skip(f"testbed {reason}")
    b = Bed(workdir=tmp_path_factory.mktemp("e2e"), prefix=f"e{secrets.token_hex(3)}")
    try:
        b.up()
        yield b
    finally:
        b.down_and_check()


def new_campaign(bed: Bed, db: Path) -> Store:
    fleet = bed.fleet()
    result = plan(fleet, fleet.profile_by_name["CPv2"], Policy(hold_after_canary=False))
    store = Store(db, create=True)
    store.create_campaign(result, with_profiles(fleet, result.targets), "libvirt", 0.0)
    return store


@pytest.fixture(scope="module")
def canaries(bed: Bed) -> list[tb.Guest]:
    """Four canaries booted once for the module: three on h1 (one dirtying 16 MiB at 4 MiB/s),
    one on h2. The campaigns move them around; each test checks the ones it moved."""
    bed.clear()
    guests = [bed.guest("h1", stem="c"), bed.guest("h1", stem="c"),
              bed.guest("h1", stem="c", dirty_mb=16, dirty_rate_mib_s=4),
              bed.guest("h2", stem="c")]
    bed.boot(*guests)
    return guests


def assert_recorded(rows: list[MigrationRow]) -> None:
    """Each completed migration carries libvirt's statistics."""
    for m in rows:
        assert m.state == "completed", (m.vm, m.state, m.error)
        assert m.elapsed_s is not None and m.elapsed_s > 0, m.vm
        assert m.sent_mib is not None and m.sent_mib > 1, m.vm
        assert m.iterations is not None and m.iterations >= 1, m.vm
        assert m.downtime_ms is not None and m.downtime_ms > 0, m.vm


def offsets(guests: list[tb.Guest]) -> dict[str, int]:
    return {g.name: g.console_log.stat().st_size for g in guests}


def assert_healthy(bed: Bed, guests: list[tb.Guest], since: dict[str, int]) -> None:
    """Every guest runs on exactly one host, came through intact since ``since``, and still
    beats."""
    now = offsets(guests)
    for g in guests:
        bed.runs_once_on(g.name)
        health = tb.guest_health(g.console_log, since[g.name])
        assert health.ok and health.bad_pages == 0, (g.name, health)
        beating = tb.wait_for_heartbeats(g.console_log, now[g.name], 1, timeout_s=20)
        assert beating.ok, (g.name, beating)


def where(bed: Bed, guests: list[tb.Guest]) -> dict[str, list[str]]:
    """Guest names by short host name."""
    out: dict[str, list[str]] = {h: [] for h in ("h1", "h2", "h3")}
    for g in guests:
        out[bed.runs_once_on(g.name).removeprefix(f"{bed.prefix}-")].append(g.name)
    return out


def only_upgrade(bed: Bed, host: str) -> None:
    for h in ("h1", "h2", "h3"):
        bed.profile(h, "CPv1" if h == host else "CPv2")


def test_executor_drains_a_host_of_three_guests(bed: Bed, canaries: list[tb.Guest],
                                                tmp_path: Path) -> None:
    only_upgrade(bed, "h1")
    moved = canaries[:3]
    since = offsets(canaries)
    store = new_campaign(bed, tmp_path / "drain.db")
    assert sorted((m.vm, m.source) for m in store.migrations()) == sorted(
        (g.name, bed.hostname("h1")) for g in moved)
    cloud = for_testbed(store.fleet(), journal=tmp_path / "drain.db.libvirt.jsonl")
    result = Executor(store, cloud, poll_s=0.5).run()
    assert result.state is CampaignState.COMPLETED
    summary = status(store)
    assert (summary["vms_lost"], summary["invariant_violations"]) == (0, 0)
    assert summary["hosts_upgraded"] == 1
    assert_recorded(store.migrations())
    assert cloud.host(bed.hostname("h1")).vms == ()
    assert tb.read_profile(bed.workdir, "h1").profile == "CPv2"
    assert_healthy(bed, canaries, since)
    cloud.close()
    store.close()


def test_ladder_finishes_what_capped_precopy_cannot(bed: Bed, tmp_path: Path) -> None:
    """A guest rewriting 64 MiB flat out, migrated at 64 MiB/s: every pre-copy pass leaves
    about 64 MiB dirty, more than 500 ms of downtime can carry, so pre-copy stalls; the ladder
    raises the downtime, then moves on to auto-converge and, if that stalls too, to post-copy."""
    only_upgrade(bed, "h1")
    guest = bed.guest("h1", stem="ladder", dirty_mb=64, dirty_rate_mib_s=0)
    try:
        bed.boot(guest, heartbeats=4)
        since = offsets([guest])
        store = new_campaign(bed, tmp_path / "ladder.db")
        cloud = for_testbed(store.fleet(), bandwidth_mib_s=64)
        result = Executor(store, cloud, poll_s=0.5).run()
        assert result.state is CampaignState.COMPLETED
        (row,) = store.migrations()
        rungs = json.loads(row.rungs)
        assert row.state == "completed" and rungs[0] == "precopy" and len(rungs) >= 2, rungs
        assert row.rung in ("auto_converge", "post_copy") and row.rung == rungs[-1]
        attempts = store.attempts([row.id])
        assert attempts[0].rung == "precopy" and attempts[0].phase == "cancelled"
        assert attempts[0].iterations is not None and attempts[0].iterations >= 3
        climbs = [json.loads(e.data)["reason"] for e in store.events("ladder_climbed")]
        # decided from observed progress: passes that stop shrinking, or too much resent
        assert climbs and all("not less than" in r or "MiB >" in r for r in climbs), climbs
        assert_recorded([row])
        assert status(store)["invariant_violations"] == 0
        assert_healthy(bed, [guest], since)
        cloud.close()
        store.close()
    finally:
        bed.remove(guest.name)  # it keeps a CPU busy


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*HVROLL, *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def migrating(bed: Bed, host: str) -> list[str]:
    """Guests with a migration job on ``host`` that is copying memory."""
    with connection(bed.uri(host)) as conn:
        return [d.name() for d in conn.listAllDomains()
                if d.isActive() and d.jobInfo()[0] != 0 and d.jobStats().get(
                    "memory_processed", 0) > 0]


def test_a_killed_run_is_reconciled_and_finishes(bed: Bed, canaries: list[tb.Guest],
                                                 tmp_path: Path) -> None:
    """SIGKILL ``hvroll run --driver libvirt`` while its migrations run; libvirt's peer-to-peer
    migrations go on; the same command started again adopts them from libvirt and the
    journal, and the campaign finishes with every guest running once."""
    placed = where(bed, canaries)
    drained = max(("h2", "h3"), key=lambda h: len(placed[h]))
    assert len(placed[drained]) >= 2, placed
    only_upgrade(bed, drained)
    since = offsets(canaries)
    prep = subprocess.run(
        [*HVROLL, "testbed", "up", "--hosts", "3", "--workdir", str(bed.workdir), "-o",
         "tb.yaml"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert prep.returncode == 0, prep.stderr
    planned = subprocess.run([*HVROLL, "plan", "tb.yaml", "--target", "CPv2", "-o", "p.json"],
                             cwd=tmp_path, capture_output=True, text=True, check=False)
    assert planned.returncode == 0, planned.stderr
    env = dict(os.environ, HVROLL_MIGRATION_BANDWIDTH_MIB_S="12")
    command = ("run", "p.json", "--driver", "libvirt", "--state", "c.db", "--approve", "--json")
    first = cli(*command, env=env, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not migrating(bed, drained):
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    assert migrating(bed, drained)  # the source daemon drives peer-to-peer migrations
    again = subprocess.run([*HVROLL, *command], cwd=tmp_path, env=env, capture_output=True,
                           text=True, check=False)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["state"] == "completed"
    assert (summary["vms_lost"], summary["invariant_violations"]) == (0, 0)
    assert summary["migrations_completed"] == summary["migrations"] == len(placed[drained])
    store = Store(tmp_path / "c.db")
    reconciled = store.events("reconciled")
    assert reconciled and json.loads(reconciled[0].data)["running"] >= 1
    [taken] = store.events("lease_taken_over")  # at once: its pid was gone
    assert json.loads(taken.data)["verdict"] == "dead"
    assert_recorded(store.migrations())
    store.close()
    assert_healthy(bed, canaries, since)
    assert where(bed, canaries)[drained] == []
    assert tb.read_profile(bed.workdir, drained).profile == "CPv2"


def test_two_runs_at_once_one_drives_the_other_exits_1(bed: Bed, canaries: list[tb.Guest],
                                                       tmp_path: Path) -> None:
    """Two ``hvroll run --driver libvirt`` on one state file at once: exactly one drives the
    campaign, the other exits 1 with one line naming it; every attempt is recorded once."""
    placed = where(bed, canaries)
    drained = max(("h1", "h2", "h3"), key=lambda h: len(placed[h]))
    only_upgrade(bed, drained)
    since = offsets(canaries)
    prep = subprocess.run(
        [*HVROLL, "testbed", "up", "--hosts", "3", "--workdir", str(bed.workdir), "-o",
         "tb.yaml"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert prep.returncode == 0, prep.stderr
    planned = subprocess.run([*HVROLL, "plan", "tb.yaml", "--target", "CPv2", "-o", "p.json"],
                             cwd=tmp_path, capture_output=True, text=True, check=False)
    assert planned.returncode == 0, planned.stderr
    command = ("run", "p.json", "--driver", "libvirt", "--state", "c.db", "--approve", "--json")
    procs = [cli(*command, cwd=tmp_path) for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 1], outs
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    [line] = outs[loser][1].strip().splitlines()
    assert f"another hvroll run (host {os.uname().nodename}, pid {procs[winner].pid}) since" \
        in line
    summary = json.loads(outs[winner][0])
    assert summary["state"] == "completed"
    assert summary["migrations_completed"] == summary["migrations"] == len(placed[drained])
    store = Store(tmp_path / "c.db")
    jobs = [a.job for a in store.attempts()]
    assert len(jobs) == len(set(jobs)) >= len(placed[drained])
    assert [e.kind for e in store.events("campaign_started")] == ["campaign_started"]
    assert store.events("lease_taken_over") == []
    store.close()
    assert_healthy(bed, canaries, since)
    assert where(bed, canaries)[drained] == []


def test_down_leaves_nothing_behind(bed: Bed) -> None:
    report = bed.down_and_check()
    assert len(report.removed_netns) == 4  # three hosts and the switch
    assert report.destroyed_domains  # the campaign's guests were still running
