"""Auto-converge throttles a noisy guest step by step until its migration converges."""

from __future__ import annotations

import pytest

from hvroll.drivers.base import JobPhase, MigrationOptions
from hvroll.drivers.sim import SimCloud
from hvroll.drivers.sim.model import SWITCHOVER_FIXED_MS, throttle_step

from .conftest import LINK, fleet, passes, vm

AUTO = MigrationOptions(auto_converge=True, max_downtime_ms=500)


def test_auto_converge_makes_a_noisy_vm_converge() -> None:
    """2000 MiB/s over 1180 MiB/s never converges plainly (see test_precopy)."""
    cloud = SimCloud(fleet(vm("a", ram_mib=4096, dirty=2000.0)))
    cloud.migrate("m", "a", "hv1", AUTO)
    done = passes(cloud, "m")[-1]
    assert done.phase is JobPhase.COMPLETED
    assert done.iteration == 14
    assert done.downtime_ms is not None
    assert done.downtime_ms <= 500 + SWITCHOVER_FIXED_MS
    assert cloud.placement()["a"] == "hv1"


def test_throttle_starts_at_20_and_rises_10_every_second_too_dirty_pass() -> None:
    cloud = SimCloud(fleet(vm("a", ram_mib=4096, dirty=2000.0)))
    cloud.migrate("m", "a", "hv1", AUTO)
    seen = passes(cloud, "m")[:-1]
    assert [p.throttle_pct for p in seen] == [0, 20, 20, 30, 30, 40, 40, 50, 50, 60, 60, 70, 70,
                                              80]
    assert seen[1].extra["high_passes"] == 0 and seen[2].extra["high_passes"] == 1


def test_a_throttled_guest_dirties_less() -> None:
    cloud = SimCloud(fleet(vm("a", ram_mib=4096, dirty=2000.0)))
    cloud.migrate("m", "a", "hv1", AUTO)
    while cloud.job("m").throttle_pct < 50:
        cloud.wait(3600.0)
    p = cloud.job("m")
    assert p.dirty_rate_mib_s == 1000.0
    # the pass that starts now sends all 4096 MiB while the guest dirties 1000 MiB/s
    cloud.wait(3600.0)
    assert cloud.job("m").remaining_mib == pytest.approx(1000.0 * 4096 / LINK, rel=1e-12)


def test_a_quiet_guest_is_never_throttled() -> None:
    cloud = SimCloud(fleet(vm("a", ram_mib=8192, dirty=100.0)))
    cloud.migrate("m", "a", "hv1", AUTO)
    assert all(p.throttle_pct == 0 for p in passes(cloud, "m"))


@pytest.mark.parametrize(("throttle", "high", "dirtied", "sent", "expected"), [
    (0, 0, 500.0, 1000.0, (0, 0)),  # exactly 50 % is not too dirty
    (0, 0, 501.0, 1000.0, (0, 1)),
    (0, 1, 501.0, 1000.0, (20, 0)),
    (20, 1, 900.0, 1000.0, (30, 0)),
    (90, 1, 900.0, 1000.0, (99, 0)),
    (99, 1, 900.0, 1000.0, (99, 0)),
    (40, 1, 100.0, 1000.0, (40, 1)),  # a quiet pass keeps the count
])
def test_throttle_step(throttle: int, high: int, dirtied: float, sent: float,
                       expected: tuple[int, int]) -> None:
    assert throttle_step(throttle, high, dirtied, sent) == expected
