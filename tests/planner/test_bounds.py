"""A campaign's lower bounds from each cluster's work: the plan's, and those of its
reinstalls as long as each took."""

from __future__ import annotations

import pytest

from handmade import one_cluster
from hvroll.domain import Fleet
from hvroll.planner.bounds import (
    ClusterWork,
    aggregate_link_mib_s,
    bounds,
    cluster_work,
    plan_bounds,
)
from hvroll.planner.build import Targets, plan
from hvroll.planner.model import Policy, Strategy


def _three_hosts() -> Fleet:
    """h0 and h1 hold two 4 GiB guests each, h2 is an empty spare; 5 MiB/s links."""
    fleet = one_cluster(["old"] * 3, 1, 2)
    return fleet.model_copy(update={"hosts": tuple(
        h.model_copy(update={"link_mib_s": 5.0}) for h in fleet.hosts)})


def test_a_clusters_work() -> None:
    """Under a live-only policy the four guests' memory must cross a link (16,384 MiB); with
    cold moves allowed none must (no local disks). One spare: one reinstall at a time."""
    fleet = _three_hosts()
    live = cluster_work(fleet, {"h0", "h1", "h2"}, Policy(), Strategy.ROLL_FORWARD)
    assert live == [ClusterWork(hosts=("h0", "h1", "h2"), hosts_per_wave=1,
                                moved_mib=16384.0, link_mib_s=5.0, whole=True,
                                holds_vms=True)]
    cold = cluster_work(fleet, {"h0", "h2"}, Policy(allow_cold_migration=True, hosts_per_wave=2),
                        Strategy.ROLL_FORWARD)
    assert cold == [ClusterWork(hosts=("h0", "h2"), hosts_per_wave=2, moved_mib=0.0,
                                link_mib_s=5.0, whole=False, holds_vms=True)]
    assert cluster_work(fleet, {"h0", "h1", "h2"}, Policy(),
                        Strategy.EVACUATE_RETURN)[0].whole is False
    assert cluster_work(fleet, set(), Policy(), Strategy.ROLL_FORWARD) == []


def test_the_bounds_of_reinstalls_as_long_as_each_took() -> None:
    """Reinstalls of 1,700, 1,900 and 1,800 s one at a time: 5,400 s, more than the
    out-of-service term ((5,400 + 3,276.8) / 2); under the policy each end idles at least
    the shortest: (5,400 + 3,276.8 + 2 × 1,700) / 2 = 6,038.4 s. The wire (16,384 MiB over
    half of three 5 MiB/s links: 2,184.5 s) binds neither."""
    fleet = _three_hosts()
    work = cluster_work(fleet, {"h0", "h1", "h2"}, Policy(), Strategy.ROLL_FORWARD)
    took = {"h0": 1700.0, "h1": 1900.0, "h2": 1800.0}
    lower, under_policy = bounds(work, took.__getitem__, 1, aggregate_link_mib_s(fleet))
    assert (lower, round(under_policy, 1)) == (5400.0, 6038.4)
    assert aggregate_link_mib_s(fleet) == 7.5


@pytest.mark.parametrize("policy", [Policy(drain_ahead=1), Policy(allow_cold_migration=True),
                                    Policy(hosts_per_wave=2, drain_ahead=3)])
def test_the_plans_bounds_are_those_of_its_steps_work_at_reinstall_s(policy: Policy,
                                                                       small: Fleet) -> None:
    """What the plan's summary states is the bounds of the hosts its steps reinstall, each
    reinstall the policy's ``reinstall_s``: the work a campaign's bounds start from."""
    small_targets = Targets(default=small.profile_by_name["CPv2"],
                            by_name={"Broadwell": small.profile_by_name["CPv2n"]})
    three = _three_hosts()
    for fleet, targets in ((three, Targets(default=three.profile_by_name["new"])),
                           (small, small_targets)):
        result = plan(fleet, targets, policy)
        lower, under_policy = plan_bounds(fleet, result, policy, lambda _: policy.reinstall_s)
        assert (round(lower, 1), round(under_policy, 1)) == (
            result.summary.lower_bound_s, result.summary.policy_bound_s)
