"""Pre-copy live migration: passes, convergence, downtime, progress figures."""

from __future__ import annotations

import pytest

from hvroll.drivers.base import JobKind, JobPhase, MigrationOptions
from hvroll.drivers.sim import SimCloud
from hvroll.drivers.sim.model import SWITCHOVER_FIXED_MS

from .conftest import LINK, fleet, passes, run_until_final, vm

PLAIN = MigrationOptions()


def test_idle_vm_converges_after_its_first_pass_with_only_the_fixed_downtime() -> None:
    cloud = SimCloud(fleet(vm("a", ram_mib=4096, dirty=0.0)))
    cloud.migrate("m", "a", "hv1", PLAIN)
    (done,) = run_until_final(cloud, "m")
    assert done.phase is JobPhase.COMPLETED
    assert done.iteration == 1
    assert done.downtime_ms == SWITCHOVER_FIXED_MS
    assert done.elapsed_s == pytest.approx(4096 / LINK + SWITCHOVER_FIXED_MS / 1000, rel=1e-12)
    assert done.processed_mib == 4096.0
    assert cloud.placement()["a"] == "hv1"


def test_busy_vm_follows_the_precopy_formula_pass_by_pass() -> None:
    """The planner's worked example: 8 GiB dirtying 100 MiB/s at 590 MiB/s (a shared link)."""
    cloud = SimCloud(fleet(vm("a", ram_mib=8192, dirty=100.0), vm("b", ram_mib=8192, dirty=100.0)))
    cloud.migrate("m", "a", "hv1", PLAIN)
    cloud.migrate("other", "b", "hv2", PLAIN)
    rate = LINK / 2
    t0 = 8192 / rate
    d1 = 100.0 * t0
    t1 = d1 / rate
    d2 = 100.0 * t1
    assert d1 > rate * 0.5 >= d2  # pass 1 still too big for 500 ms, pass 2 fits
    seen = passes(cloud, "m")
    assert [p.iteration for p in seen] == [1, 2, 2]
    assert seen[0].elapsed_s == pytest.approx(t0, rel=1e-12)
    assert seen[0].remaining_mib == pytest.approx(d1, rel=1e-12)
    assert seen[1].elapsed_s == pytest.approx(t0 + t1, rel=1e-12)
    done = seen[-1]
    downtime_ms = d2 / rate * 1000 + SWITCHOVER_FIXED_MS
    assert done.downtime_ms == pytest.approx(downtime_ms, rel=1e-12)
    assert done.elapsed_s == pytest.approx(t0 + t1 + downtime_ms / 1000, rel=1e-12)
    assert done.processed_mib == pytest.approx(8192 + d1 + d2, rel=1e-12)
    assert done.downtime_ms is not None
    assert round(done.downtime_ms, 1) == 403.9 and round(done.elapsed_s, 3) == 16.642


def test_progress_mid_pass_reports_what_is_left_and_the_expected_downtime() -> None:
    cloud = SimCloud(fleet(vm("a", ram_mib=4096, dirty=50.0)))
    cloud.migrate("m", "a", "hv1", PLAIN)
    cloud.clock.sleep(1.0)
    p = cloud.job("m")
    left = 4096 - LINK + 50.0
    assert (p.phase, p.iteration, p.elapsed_s) == (JobPhase.RUNNING, 0, 1.0)
    assert p.processed_mib == pytest.approx(LINK, rel=1e-12)
    assert p.remaining_mib == pytest.approx(left, rel=1e-12)
    assert p.expected_downtime_ms == pytest.approx(left / LINK * 1000, rel=1e-12)
    assert p.dirty_rate_mib_s == 50.0
    assert p.extra["rate_mib_s"] == LINK


def test_every_figure_of_a_throttled_pass_is_in_its_own_field() -> None:
    """The record of a running live migration, field by field (the simulator builds it by
    position): mid-way through pass 2, throttled by auto-converge after two dirty passes."""
    cloud = SimCloud(fleet(vm("a", ram_mib=4096, dirty=1000.0)))
    cloud.migrate("m", "a", "hv1", MigrationOptions(auto_converge=True, max_downtime_ms=300))
    while cloud.job("m").iteration < 2:
        cloud.wait(3600.0)
    cloud.clock.sleep(1.0)
    p = cloud.job("m")
    t0 = 4096 / LINK
    d0 = 1000.0 * t0
    t1 = d0 / LINK
    d1 = 1000.0 * t1  # dirtied in pass 1, sent in pass 2
    left = d1 - LINK + 800.0  # the guest throttled by 20 %
    assert (p.job, p.kind, p.phase, p.vm, p.source, p.dest) == (
        "m", JobKind.LIVE_MIGRATION, JobPhase.RUNNING, "a", "hv0", "hv1")
    assert (p.started_s, p.total_mib, p.iteration, p.throttle_pct) == (0.0, 4096.0, 2, 20)
    assert (p.dirty_rate_mib_s, p.downtime_ms, p.error) == (800.0, None, None)
    assert p.elapsed_s == pytest.approx(t0 + t1 + 1.0, rel=1e-12)
    assert p.processed_mib == pytest.approx(4096 + d0 + LINK, rel=1e-12)
    assert p.remaining_mib == pytest.approx(left, rel=1e-12)
    assert p.expected_downtime_ms == pytest.approx(left / LINK * 1000, rel=1e-12)
    assert p.extra == {"step": "ram", "rate_mib_s": LINK, "step_total_mib": d1,
                       "step_sent_mib": LINK, "dirtied_mib": 800.0, "disk_total_mib": 0.0,
                       "disk_remaining_mib": 0.0, "max_downtime_ms": 300, "high_passes": 0}


def test_noisy_vm_never_converges_with_plain_precopy() -> None:
    """Dirtying 2000 MiB/s over a 1180 MiB/s link: every pass resends all 4 GiB."""
    cloud = SimCloud(fleet(vm("a", ram_mib=4096, dirty=2000.0)))
    cloud.migrate("m", "a", "hv1", PLAIN)
    while cloud.job("m").iteration < 30:
        cloud.wait(3600.0)
    p = cloud.job("m")
    assert p.phase is JobPhase.RUNNING
    assert p.remaining_mib == 4096.0
    assert p.elapsed_s == pytest.approx(30 * 4096 / LINK, rel=1e-9)
    assert p.processed_mib == pytest.approx(30 * 4096, rel=1e-9)
    assert cloud.placement()["a"] == "hv0"


def test_raising_max_downtime_converges_at_the_next_pass_boundary() -> None:
    cloud = SimCloud(fleet(vm("a", ram_mib=4096, dirty=1500.0)))
    cloud.migrate("m", "a", "hv1", PLAIN)
    while cloud.job("m").iteration < 5:
        cloud.wait(3600.0)
    cloud.clock.sleep(1.0)  # in the middle of pass 5
    cloud.set_max_downtime("m", 5000)
    seen = passes(cloud, "m")
    assert [p.iteration for p in seen] == [6, 6]
    assert seen[0].extra["step"] == "stop"
    pass_s = 4096 / LINK
    downtime_ms = pass_s * 1000 + SWITCHOVER_FIXED_MS
    assert seen[-1].downtime_ms == pytest.approx(downtime_ms, rel=1e-12)
    assert seen[-1].elapsed_s == pytest.approx(6 * pass_s + downtime_ms / 1000, rel=1e-12)


def test_bandwidth_cap_limits_the_rate() -> None:
    cloud = SimCloud(fleet(vm("a", ram_mib=4096, dirty=0.0)))
    cloud.migrate("m", "a", "hv1", MigrationOptions(bandwidth_mib_s=100.0))
    (done,) = run_until_final(cloud, "m")
    assert done.elapsed_s == pytest.approx(40.96 + SWITCHOVER_FIXED_MS / 1000, rel=1e-12)


def test_paused_vm_dirties_nothing() -> None:
    cloud = SimCloud(fleet(vm("a", ram_mib=4096, dirty=2000.0)))
    cloud.suspend("a")
    cloud.migrate("m", "a", "hv1", PLAIN)
    (done,) = run_until_final(cloud, "m")
    assert (done.iteration, done.downtime_ms) == (1, SWITCHOVER_FIXED_MS)
    assert cloud.vms()[0].power.value == "paused"


def test_suspending_mid_pass_stops_the_dirtying_from_then_on() -> None:
    """The operators' trick for a migration that never ends (virsh suspend)."""
    cloud = SimCloud(fleet(vm("a", ram_mib=4096, dirty=2000.0)))
    cloud.migrate("m", "a", "hv1", PLAIN)
    cloud.clock.sleep(0.1)
    cloud.suspend("a")
    seen = passes(cloud, "m")
    dirtied = 2000.0 * 0.1
    assert seen[0].remaining_mib == pytest.approx(dirtied, rel=1e-9)
    assert seen[-1].downtime_ms == pytest.approx(dirtied / LINK * 1000 + SWITCHOVER_FIXED_MS,
                                                 rel=1e-9)
