"""The pre-copy model and the bounds, against exact values."""

from __future__ import annotations

import pytest

from hvroll.planner.estimate import (
    Precopy,
    Transfer,
    cluster_lower_bound,
    drain_time,
    fleet_lower_bound,
    precopy,
)


def test_worked_example_of_the_docstring() -> None:
    result = precopy(8192, 590, 100, 500)
    assert result.converges
    assert result.rounds == 2
    assert result.total_s == pytest.approx(16.63696, abs=1e-5)
    assert result.downtime_ms == pytest.approx(398.872, abs=1e-3)
    assert result.sent_mib == pytest.approx(9815.809, abs=1e-3)


def test_closed_form_is_the_limit_for_a_tiny_downtime() -> None:
    """With a vanishing downtime budget the rounds sum to (M/B)/(1-D/B)."""
    result = precopy(8192, 590, 100, 1e-9, max_rounds=200)
    assert result.total_s == pytest.approx((8192 / 590) / (1 - 100 / 590), rel=1e-6)


def test_idle_guest_is_one_round_and_no_downtime() -> None:
    assert precopy(1024, 512, 0, 500) == Precopy(True, 1, 2.0, 0.0, 1024.0)


def test_guest_smaller_than_the_budget_stops_at_once() -> None:
    assert precopy(100, 1000, 50, 500) == Precopy(True, 0, 0.1, 100.0, 100.0)


@pytest.mark.parametrize("dirty", [590.0, 800.0])
def test_dirtying_faster_than_the_link_never_converges(dirty: float) -> None:
    result = precopy(8192, 590, dirty, 500)
    assert not result.converges
    assert result.total_s == pytest.approx(8192 / 590 * 1.5)


def test_slow_convergence_past_the_round_limit_is_non_convergent() -> None:
    assert not precopy(8192, 590, 580, 1, max_rounds=30).converges


def test_bandwidth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="bandwidth must be > 0"):
        precopy(1024, 0, 0, 500)


def test_drain_time_saturates_the_source_link() -> None:
    """Five migrations out of one host, 6000 MiB in all, over a 1000 MiB/s link: 6 s."""
    transfers = [Transfer("a", d, 3.0, mib) for d, mib in
                 (("x", 2000.0), ("y", 1000.0), ("z", 1000.0), ("x", 1000.0), ("y", 1000.0))]
    assert drain_time(transfers, {"a": 1000.0, "x": 1000.0, "y": 1000.0, "z": 1000.0}) == 6.0


def test_drain_time_is_bounded_by_the_receiving_link() -> None:
    transfers = [Transfer("a", "x", 1.0, 5000.0), Transfer("b", "x", 1.0, 5000.0)]
    assert drain_time(transfers, {"a": 1000.0, "b": 1000.0, "x": 1000.0}) == 10.0


def test_drain_time_is_at_least_the_longest_migration() -> None:
    """A migration capped below the link (or slowed by re-sent pages) sets the pace."""
    assert drain_time([Transfer("a", "x", 42.0, 100.0)], {"a": 1000.0, "x": 1000.0}) == 42.0


def test_no_transfers_take_no_time() -> None:
    assert drain_time([], {}) == 0.0


def test_cluster_lower_bound() -> None:
    # 40 hosts, 4 at a time: 10 rounds of 1800 s; the out-of-service time, 40 × 1800 s plus
    # 4 TiB over 1180 MiB/s (3,554 s), over 5 hosts at a time is less (15,111 s).
    assert cluster_lower_bound(40, 4, 1800.0, 4 * 1024 * 1024, 1180.0) == 18000.0
    # 4 hosts one at a time with 1000 s of drain: (4 × 100 + 1000) / 2 = 700 > 4 × 100.
    assert cluster_lower_bound(4, 1, 100.0, 1180.0 * 1000, 1180.0) == 700.0
    assert cluster_lower_bound(0, 4, 1800.0, 0.0, 1180.0) == 0.0
    assert cluster_lower_bound(5, 4, 100.0, 0.0, 1.0) == 200.0


def test_fleet_lower_bound_is_the_slowest_cluster_or_the_wire() -> None:
    assert fleet_lower_bound([10.0, 30.0, 20.0], 1000.0, 100.0) == 30.0
    assert fleet_lower_bound([10.0], 10000.0, 100.0) == 100.0
    assert fleet_lower_bound([], 0.0, 0.0) == 0.0
