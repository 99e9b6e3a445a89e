"""A campaign's two lower bounds (docs/planner.md, "The lower bound"), from what every plan
must do in each cluster: for a plan, with each reinstall the policy's ``reinstall_s``; for a
campaign that ran, with each host's reinstall as long as it took.

The second is the bound of the campaign itself: no schedule of those same reinstalls and
moves ends sooner. The plan's bound is not, strictly, since a campaign whose reinstalls come
out shorter than ``reinstall_s`` may end before it; nor is it reachable when they come out
longer: in a cluster of k places and ⌈n/k⌉ rounds, the slowest place runs the sum of its own
reinstalls, above the rounds' ⌈n/k⌉ × ``reinstall_s`` by the spread of that sum."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from hvroll.domain import Fleet, PowerState
from hvroll.planner import estimate as est
from hvroll.planner.model import Plan, Policy, Strategy


@dataclass(frozen=True, slots=True)
class ClusterWork:
    """What every plan must do in one cluster: the inputs of its bounds."""

    hosts: tuple[str, ...]
    """The hosts the plan upgrades: each is reinstalled once."""
    hosts_per_wave: int
    """At most this many of them reinstall at once."""
    moved_mib: float
    """What must leave them over a link: the running VMs' local disks, and their memory when
    the policy forbids cold migration (else any VM may move cold and send none)."""
    link_mib_s: float
    """The fastest link of those hosts."""
    whole: bool
    """Every host of the cluster is upgraded, by a ``roll-forward`` plan."""
    holds_vms: bool


def hosts_per_wave(fleet: Fleet, cluster: str, policy: Policy) -> int:
    """How many hosts of ``cluster`` reinstall at once: the policy's ``hosts_per_wave``, else
    as many as the cluster has spares (at least one)."""
    return policy.hosts_per_wave or max(1, fleet.spares(cluster))


def cluster_work(fleet: Fleet, upgraded: Collection[str], policy: Policy,
                 strategy: Strategy) -> list[ClusterWork]:
    """Each cluster's work, for the clusters with a host in ``upgraded``, in the fleet's
    order."""
    out = []
    for cluster in fleet.clusters:
        every = fleet.hosts_by_cluster[cluster.name]
        hosts = [h for h in every if h.name in upgraded]
        if not hosts:
            continue
        vms = [vm for h in hosts for vm in fleet.vms_by_host[h.name]]
        running = [vm for vm in vms if vm.power is not PowerState.SHUTOFF]
        moved = float(sum(vm.local_disk_gib * 1024 for vm in running))
        if not policy.allow_cold_migration:
            moved += float(sum(vm.ram_mib for vm in running))
        out.append(ClusterWork(
            hosts=tuple(h.name for h in hosts),
            hosts_per_wave=hosts_per_wave(fleet, cluster.name, policy),
            moved_mib=moved, link_mib_s=max(h.link_mib_s for h in hosts),
            whole=len(hosts) == len(every) and strategy is Strategy.ROLL_FORWARD,
            holds_vms=bool(vms)))
    return out


def bounds(work: Sequence[ClusterWork], reinstall_s: Callable[[str], float],
           drain_ahead: int, aggregate_link_mib_s: float) -> tuple[float, float]:
    """The bound for every plan and the bound under the policy's rules
    (:func:`~hvroll.planner.estimate.cluster_lower_bound`,
    :func:`~hvroll.planner.estimate.cluster_policy_bound`, over the fleet:
    :func:`~hvroll.planner.estimate.fleet_lower_bound`), each host's reinstall taking
    ``reinstall_s(host)``; ``aggregate_link_mib_s``: the fleet's migration bandwidth (half
    the sum of its links)."""
    lower, under_policy = [], []
    for c in work:
        reinstalls = [reinstall_s(h) for h in c.hosts]
        lower.append(est.cluster_lower_bound(reinstalls, c.hosts_per_wave, c.moved_mib,
                                             c.link_mib_s, drain_ahead))
        under_policy.append(est.cluster_policy_bound(
            reinstalls, c.hosts_per_wave, c.moved_mib, c.link_mib_s, drain_ahead,
            whole=c.whole, holds_vms=c.holds_vms))
    moved = sum(c.moved_mib for c in work)
    return (est.fleet_lower_bound(lower, moved, aggregate_link_mib_s),
            est.fleet_lower_bound(under_policy, moved, aggregate_link_mib_s))


def plan_bounds(fleet: Fleet, plan: Plan, policy: Policy,
                reinstall_s: Callable[[str], float]) -> tuple[float, float]:
    """:func:`bounds` of the hosts ``plan`` reinstalls (its steps that reinstall), each
    reinstall taking ``reinstall_s(host)``: with each host's reinstall as it took, the bounds
    of the campaign that ran."""
    work = cluster_work(fleet, {s.host for s in plan.host_steps() if s.reinstall}, policy,
                        plan.strategy)
    return bounds(work, reinstall_s, policy.drain_ahead, aggregate_link_mib_s(fleet))


def aggregate_link_mib_s(fleet: Fleet) -> float:
    """The fleet's migration bandwidth: half the sum of its links (each migration uses two)."""
    return sum(h.link_mib_s for h in fleet.hosts) / 2
