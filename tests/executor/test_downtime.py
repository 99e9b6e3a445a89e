"""A migration finished by suspending its guest records the real pause as its downtime: from
the suspend on the source to the resume on the destination (seed 003's operators paused such
guests by hand; the stop-and-copy that follows is only the end of it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvroll.domain import Fleet
from hvroll.domain.states import CampaignState, MigrationState, Rung
from hvroll.drivers.sim import SimCloud, SimulatedCrash
from hvroll.executor.engine import Executor
from hvroll.planner.build import plan, with_profiles
from hvroll.planner.model import Policy
from hvroll.store import Store
from hvroll.store.models import loads
from hvroll.telemetry.snapshot import StateSource
from seed000 import CPV2_UBUNTU, UBUNTU16, seed000_fleet, vm


class Watched(SimCloud):
    """The simulated cloud, with the clock time of every suspend and resume it was asked."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.calls: list[tuple[str, str, float]] = []  # replayed calls from a journal too
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def suspend(self, vm: str) -> None:
        super().suspend(vm)
        self.calls.append(("suspend", vm, self.clock.now()))

    def resume(self, vm: str) -> None:
        super().resume(vm)
        self.calls.append(("resume", vm, self.clock.now()))


def hot_fleet() -> Fleet:
    """seed 000's Haswell cluster (CPv1: QEMU 2.0, neither auto-converge nor post-copy) with
    one guest dirtying 3000 MiB/s, faster than any link: only suspending it finishes."""
    fleet = seed000_fleet()
    hot = vm("hot", "hsw-u1", UBUNTU16, dirty_rate_mib_s=3000.0, ram_mib=4096)
    quiet = vm("quiet", "hsw-u1", UBUNTU16, dirty_rate_mib_s=5.0)
    keep = tuple(h for h in fleet.hosts if h.cluster == "c-hsw-u")
    return fleet.model_copy(update={"hosts": keep, "vms": (hot, quiet)})


def run(tmp_path: Path) -> tuple[Store, Watched]:
    fleet = hot_fleet()
    p = plan(fleet, CPV2_UBUNTU, Policy(canary_hosts=0, hold_after_canary=False,
                                        allow_suspend=True))
    store = Store(tmp_path / "c.db", create=True)
    store.create_campaign(p, with_profiles(fleet, p.targets), "sim", 0.0)
    cloud = Watched(store.fleet(), seed=1)
    assert Executor(store, cloud).run().state is CampaignState.COMPLETED
    return store, cloud


def test_suspend_downtime_equals_the_simulated_pause(tmp_path: Path) -> None:
    store, cloud = run(tmp_path)
    (row,) = [m for m in store.migrations() if m.vm == "hot"]
    assert (row.state, row.rung) == (MigrationState.COMPLETED, Rung.SUSPEND)
    (suspended, resumed) = [c for c in cloud.calls if c[1] == "hot"]
    assert (suspended[0], resumed[0]) == ("suspend", "resume")
    pause_ms = (resumed[2] - suspended[2]) * 1000.0
    assert row.downtime_ms == pause_ms
    last = store.attempts([row.id])[-1]
    assert last.downtime_ms == pause_ms
    job = cloud.job(last.job)
    assert job.downtime_ms is not None and job.downtime_ms < pause_ms  # the stop-and-copy
    assert pause_ms >= 1000.0  # seconds, not the 5–355 ms of the final pass alone


def test_the_pause_is_in_every_percentile(tmp_path: Path) -> None:
    store, _ = run(tmp_path)
    (row,) = [m for m in store.migrations() if m.vm == "hot"]
    snap = StateSource(store.target).snapshot()
    assert snap.status()["downtime_ms"]["max"] == round(row.downtime_ms or 0.0, 3)
    from hvroll.telemetry.metrics import render

    text = render(StateSource(store.target)).decode()
    suspend_sum = [line for line in text.splitlines()
                   if line.startswith("hvroll_migration_downtime_seconds_sum")
                   and 'rung="suspend"' in line]
    assert suspend_sum and float(suspend_sum[0].split()[-1]) == (row.downtime_ms or 0) / 1000
    resumed = [e for e in store.events("guest_resumed") if e.vm == "hot"]
    assert [loads(e.data)["paused_ms"] for e in resumed] == [round(row.downtime_ms or 0, 3)]


def test_a_resumed_run_takes_the_pause_from_the_record(tmp_path: Path) -> None:
    """The run that suspended the guest dies; the next one resumes it and still counts the
    pause from the recorded suspend."""
    fleet = hot_fleet()
    p = plan(fleet, CPV2_UBUNTU, Policy(canary_hosts=0, hold_after_canary=False,
                                        allow_suspend=True))
    store = Store(tmp_path / "c.db", create=True)
    store.create_campaign(p, with_profiles(fleet, p.targets), "sim", 0.0)
    cloud = Watched(store.fleet(), seed=1, journal=tmp_path / "c.db.sim.jsonl")

    def die_once_suspended(ex: Executor) -> None:
        if any(c[0] == "suspend" for c in cloud.calls):
            raise SimulatedCrash("killed while the guest is paused")

    with pytest.raises(SimulatedCrash):
        Executor(store, cloud, on_turn=die_once_suspended).run()
    (suspend,) = [c for c in cloud.calls if c[0] == "suspend"]
    store.close()
    cloud.close()
    store = Store(tmp_path / "c.db")
    again = Watched(store.fleet(), seed=1, journal=tmp_path / "c.db.sim.jsonl")
    assert again.vm("hot").power.value == "paused"
    again.calls.clear()  # those replayed from the journal
    assert Executor(store, again).run().state is CampaignState.COMPLETED
    (row,) = [m for m in store.migrations() if m.vm == "hot"]
    (resume,) = [c for c in again.calls if c[:2] == ("resume", "hot")]
    assert row.downtime_ms == (resume[2] - suspend[2]) * 1000.0
