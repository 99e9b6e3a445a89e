"""The pre-copy model and the bounds, against exact values."""

from __future__ import annotations

import pytest

from hvroll.planner.estimate import (
    Limits,
    Pending,
    Precopy,
    Transfer,
    cluster_lower_bound,
    cluster_policy_bound,
    drain_ends,
    drain_time,
    expected_max_normal,
    fleet_lower_bound,
    overlapped_time,
    precopy,
    reinstall_rounds,
    slowest_end,
    wave_time,
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
    assert cluster_lower_bound([1800.0] * 40, 4, 4 * 1024 * 1024, 1180.0) == 18000.0
    # 4 hosts one at a time with 1000 s of drain: (4 × 100 + 1000) / 2 = 700 > 4 × 100.
    assert cluster_lower_bound([100.0] * 4, 1, 1180.0 * 1000, 1180.0) == 700.0
    # two drained ahead: (4 × 100 + 1000) / (1 + 2) ≈ 466.7, still more than 4 × 100; with
    # four, 280 < 400 and the reinstalls bound it
    assert round(cluster_lower_bound([100.0] * 4, 1, 1180.0 * 1000, 1180.0, drain_ahead=2),
                 1) == 466.7
    assert cluster_lower_bound([100.0] * 4, 1, 1180.0 * 1000, 1180.0, drain_ahead=4) == 400.0
    assert cluster_lower_bound([], 4, 0.0, 1180.0) == 0.0
    assert cluster_lower_bound([100.0] * 5, 4, 0.0, 1.0) == 200.0


def test_cluster_policy_bound_counts_a_place_idle_at_each_end() -> None:
    # Two hosts, k = a = 1, 50 s of drain: (2 × 100 + 50 + 2 × 1 × 100) / 2; a schedule
    # takes 250 s (reinstall the empty one, drain the other into it, reinstall it).
    assert cluster_policy_bound([100.0] * 2, 1, 1180.0 * 50, 1180.0, whole=True,
                                holds_vms=True) == 225.0
    # enterprise-like: 40 hosts, k = 4, a = 1, 18,000 s of drain: (72,000 + 18,000 +
    # 2 × 1800) / 5 = 18,720, where the old terms give 18,000 both.
    moved = 1180.0 * 18000
    assert cluster_lower_bound([1800.0] * 40, 4, moved, 1180.0) == 18000.0
    assert cluster_policy_bound([1800.0] * 40, 4, moved, 1180.0, whole=True,
                                holds_vms=True) == 18720.0
    # four ahead: (90,000 + 2 × 4 × 1800) / 8 = 13,050, under the 10 rounds of reinstalls
    assert cluster_policy_bound([1800.0] * 40, 4, moved, 1180.0, 4, whole=True,
                                holds_vms=True) == 18000.0
    # fewer hosts than places: 3 hosts, k = 4: p = q = 3, nothing idles for sure at the
    # ends, but the 3 reinstalls and 60 s of drain need (300 + 60) / 3 = 120 > 100
    assert cluster_policy_bound([100.0] * 3, 4, 1180.0 * 60, 1180.0, whole=True,
                                holds_vms=True) == 120.0
    assert cluster_lower_bound([100.0] * 3, 4, 1180.0 * 60, 1180.0) == 100.0
    # one at a time and 30 s of drain: the three rounds of reinstalls (300) bound it, not
    # (300 + 30 + 200) / 2 = 265
    assert cluster_policy_bound([100.0] * 3, 1, 1180.0 * 30, 1180.0, whole=True,
                                holds_vms=True) == 300.0


@pytest.mark.parametrize(("whole", "holds_vms"), [(False, True), (True, False),
                                                  (False, False)])
def test_cluster_policy_bound_is_the_old_one_where_its_ends_are_not_proven(
        whole: bool, holds_vms: bool) -> None:
    """A cluster with a host the plan does not upgrade (a VM may go there at any time), or
    whose hosts hold no VM (nothing waits for a first reinstall)"""
    assert cluster_policy_bound([100.0] * 2, 1, 1180.0 * 50, 1180.0, whole=whole,
                                holds_vms=holds_vms) == 200.0
    assert cluster_policy_bound([], 1, 0.0, 1180.0, whole=whole,
                                holds_vms=holds_vms) == 0.0


def test_reinstall_rounds_of_unequal_reinstalls() -> None:
    # equal: ⌈n/k⌉ rounds
    assert reinstall_rounds([100.0] * 5, 2) == 300.0
    # their sum over k places: (100 × 3 + 300 × 3) / 2 = 600 > the 3 shortest (300)
    assert reinstall_rounds([100.0, 100.0, 100.0, 300.0, 300.0, 300.0], 2) == 600.0
    # one place runs at least 2 of 3: the 2 shortest, 100 + 100 = 200 > 320 / 2 = 160
    assert reinstall_rounds([100.0, 120.0, 100.0], 2) == 200.0
    # none is split: the longest, 500 > 600 / 2
    assert reinstall_rounds([50.0, 50.0, 500.0], 2) == 500.0
    assert reinstall_rounds([], 4) == 0.0


def test_cluster_bounds_of_unequal_reinstalls() -> None:
    # the out-of-service term counts the reinstalls' sum: (100 + 300 + 1000) / 2 = 700
    assert cluster_lower_bound([100.0, 300.0], 1, 1180.0 * 1000, 1180.0) == 700.0
    # each end idles at least the shortest reinstall: (100 + 300 + 50 + 2 × 100) / 2 = 325,
    # a schedule takes 100 + 50 + 300 = 450 (the rounds' 400 bound it)
    assert cluster_policy_bound([100.0, 300.0], 1, 1180.0 * 50, 1180.0, whole=True,
                                holds_vms=True) == 400.0
    assert cluster_policy_bound([300.0, 100.0, 100.0, 100.0], 2, 1180.0 * 600, 1180.0,
                                whole=True, holds_vms=True) == (600 + 600 + 2 * 1 * 100) / 3


def test_fleet_lower_bound_is_the_slowest_cluster_or_the_wire() -> None:
    assert fleet_lower_bound([10.0, 30.0, 20.0], 1000.0, 100.0) == 30.0
    assert fleet_lower_bound([10.0], 10000.0, 100.0) == 100.0
    assert fleet_lower_bound([], 0.0, 0.0) == 0.0


def _t(source: str, dest: str, seconds: float) -> Transfer:
    return Transfer(source, dest, seconds, 0.0)


def test_drain_ends_follow_the_executors_turns_and_limits() -> None:
    """The docstring's example: ``b`` takes the cluster's third lane at once; ``a``'s third
    migration waits for a lane of its own source, then ends between turns."""
    a = [_t("a", "x", 10.0), _t("a", "y", 20.0), _t("a", "x", 4.0)]
    b = [_t("b", "x", 5.0), _t("b", "z", 5.0)]
    assert drain_ends([a, b, []], Limits(2, 2, 3)) == [20.0, 10.0, 0.0]


def test_a_migration_waiting_for_its_destination_is_passed_by_the_ones_behind_it() -> None:
    """``b``'s first migration waits for x (one at a time per destination); its second, to a
    free y, starts at once beside ``a``'s, and the first once x is free: 30 s, not 10 + 30."""
    a = [_t("a", "x", 10.0)]
    b = [_t("b", "x", 10.0), _t("b", "y", 30.0)]
    assert drain_ends([a, b], Limits(2, 1, 8)) == [10.0, 30.0]


def test_the_migrations_passing_one_waiting_for_its_destination_keep_their_order() -> None:
    """The docstring's second example: ``b``'s two to z pass its first, to a busy x, one
    after the other (z takes one at a time); the first starts at 10 once x is free."""
    a = [_t("a", "x", 10.0), _t("a", "y", 10.0)]
    b = [_t("b", "x", 10.0), _t("b", "z", 10.0), _t("b", "z", 10.0)]
    assert drain_ends([a, b], Limits(2, 1, 4)) == [10.0, 20.0]


def test_a_full_source_holds_every_migration_of_its_drain() -> None:
    """Its own source's two lanes busy, ``a``'s third waits, to whichever destination: its
    fourth, to a free z, does not pass it (the source's lanes hold every one of them)."""
    a = [_t("a", "x", 10.0), _t("a", "y", 20.0), _t("a", "w", 5.0), _t("a", "z", 5.0)]
    assert drain_ends([a], Limits(2, 2, 8)) == [20.0]


def test_an_end_is_seen_at_the_next_turn() -> None:
    """7 s is seen at the turn of 10 s; even an instant migration ends a turn later."""
    assert drain_ends([[_t("a", "x", 7.0)], [_t("b", "y", 0.0)]], Limits(2, 2, 8)) == [10.0, 5.0]
    assert drain_ends([[_t("a", "x", 7.0)]], Limits(2, 2, 8), turn_s=1.0) == [7.0]


def test_the_cluster_limit_queues_hosts_in_order() -> None:
    hosts = [[_t("a", "x", 10.0)], [_t("b", "y", 10.0)], [_t("c", "z", 10.0)]]
    assert drain_ends(hosts, Limits(2, 2, 2)) == [10.0, 10.0, 20.0]


def test_expected_max_of_normal_draws() -> None:
    """Tabulated values: 1/√π for two, 1.0294 for four, 1.5388 for ten."""
    assert [round(expected_max_normal(n), 4) for n in (1, 2, 3, 4, 5, 10)] == \
        [0.0, 0.5642, 0.8463, 1.0294, 1.163, 1.5388]


def test_slowest_of_jobs_started_apart() -> None:
    assert [round(slowest_end(e, 100.0), 2) for e in ([0.0, 0.0], [100.0, 0.0], [500.0, 0.0])] \
        == [56.42, 100.0, 500.0]
    assert slowest_end([3.0, 9.0, 1.0], 0.0) == 9.0
    assert slowest_end([], 100.0) == 0.0


def test_wave_time_of_a_canary_wave() -> None:
    """Four spares, the first seen at 1,620 s, the slowest at 1,995 s; the canary is disabled
    at 1,625, drains from 1,630 for 300 s, but its quarter for the slowest spare starts at
    2,000 and takes 75 s; it is not reinstalled: the next wave starts at 2,080. With one
    spare, first and last are the same: disabled at 1,810, done at 2,115."""
    assert wave_time([300.0], [False], 1800.0, receivers=4) == 2080.0
    assert wave_time([300.0], [False], 1800.0, receivers=1) == 2120.0


def test_wave_time_waits_for_the_slowest_reinstall() -> None:
    """Two hosts drained together at 305 s: with the same reinstall (no spread) the next wave
    starts at 305 + 1800, seen at 2,105, plus a turn; with ±10 % the slowest of two takes
    101.6 s more on average (seen at 2,210)."""
    assert wave_time([300.0, 300.0], [True, True], 1800.0, spread=0.0) == 2110.0
    assert wave_time([300.0, 300.0], [True, True], 1800.0) == 2215.0
    assert wave_time([100.0, 300.0], [True, True], 1800.0, spread=0.0) == 2110.0


def test_wave_time_of_hosts_not_reinstalled_is_their_drains() -> None:
    assert wave_time([40.0, 0.0], [False, False], 1800.0) == 50.0


def test_overlapped_waves_start_the_next_beside_the_reinstalls() -> None:
    """The docstring's example: two waves of two hosts, k = 2: the second wave's first host
    drains beside the first wave and waits for one of its reinstalls to end."""
    w1 = [Pending(1, 100.0), Pending(1, 100.0)]
    assert overlapped_time([*w1, Pending(2, 100.0), Pending(2, 100.0)], 2, 1000.0) == 2215.0


def test_hosts_drained_ahead_wait_together_for_the_reinstall_slots() -> None:
    """Two ahead: the second wave's two hosts drain beside the first wave's reinstalls and
    are reinstalled together at 1,110 (done 2,110), not one after the other (2,215); one
    of them draining into a host not done still waits for its wave."""
    w1 = [Pending(1, 100.0), Pending(1, 100.0)]
    w2 = [Pending(2, 100.0), Pending(2, 100.0)]
    assert overlapped_time([*w1, *w2], 2, 1000.0, ahead=2) == 2110.0
    assert overlapped_time([*w1, *w2], 2, 1000.0, ahead=1) == 2215.0
    assert overlapped_time([*w1, w2[0], Pending(2, 100.0, into=(0,))], 2, 1000.0,
                           ahead=2) == 2215.0


def test_a_host_draining_into_hosts_not_done_waits_for_its_wave() -> None:
    """Alone it starts with the first wave and is reinstalled at 1,110 (done 2,110);
    draining into the first wave's host 0 it starts only when its wave does, at 1,110 (done
    2,215)."""
    w1 = [Pending(1, 100.0), Pending(1, 100.0)]
    assert overlapped_time([*w1, Pending(2, 100.0)], 2, 1000.0) == 2110.0
    assert overlapped_time([*w1, Pending(2, 100.0, into=(0,))], 2, 1000.0) == 2215.0


def test_one_host_at_a_time_still_drains_the_next_beside_the_reinstall() -> None:
    """k = 1: each drain after the first is hidden behind the reinstall before it: 5 + 100
    + 3 × 1,000 s and two turns, not three times a drain and a reinstall."""
    hosts = [Pending(1, 100.0), Pending(2, 100.0), Pending(3, 100.0)]
    assert overlapped_time(hosts, 1, 1000.0) == 3115.0


def test_overlapped_time_of_no_hosts_and_of_hosts_not_reinstalled() -> None:
    assert overlapped_time([], 2, 1000.0) == 0.0
    assert overlapped_time([Pending(1, 40.0, reinstall=False)], 2, 1000.0) == 45.0
    assert overlapped_time([Pending(1, 7.0)], 1, 1000.0) == 1015.0
