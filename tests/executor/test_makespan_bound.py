"""No simulated campaign beats the planner's lower bounds (hypothesis, random small fleets).

The plan's bounds count each reinstall as the policy's ``reinstall_s``; the simulator draws
each reinstall around 30 minutes (``hvroll.drivers.sim.model.reinstall_duration_s``). So the
plan's bounds a run is held to are made with ``reinstall_s`` the shortest reinstall the run
drew: every reinstall of the run took at least that long, as the bounds' argument needs
(docs/planner.md, "The lower bound"). The run is also held to the bounds of its own
reinstalls, each host's as drawn (``hvroll.planner.bounds``), which are at least those.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hvroll.domain import Cluster, Fleet, GuestOs, GuestOsFamily, Host, HostRole, Region, Vm
from hvroll.domain.states import CampaignState, HostStepState
from hvroll.drivers.sim import SimCloud
from hvroll.drivers.sim.model import reinstall_duration_s
from hvroll.executor.engine import Executor
from hvroll.executor.status import status
from hvroll.planner.bounds import plan_bounds
from hvroll.planner.build import plan, with_profiles
from hvroll.planner.model import Policy
from hvroll.store import Store
from strategies import GENERATIONS, NEW, NEW_NOSMAP, OLD, fleets


@st.composite
def whole_clusters(draw: st.DrawFn) -> Fleet:
    """One or two clusters whose hosts are all on the old profile (each upgraded whole,
    where the bound under the policy counts its ends), one or two spares each, 1–4 running
    guests of 2–8 GiB on each active host, and links slow enough that drains, not only
    reinstalls, bound the campaign (an 8 GiB guest takes 27 min at 5 MiB/s)."""
    link = draw(st.sampled_from((5.0, 20.0, 1180.0)))
    clusters, hosts, vms = [], [], []
    for c in range(draw(st.integers(1, 2))):
        cname = f"c{c}"
        clusters.append(Cluster(name=cname, region="r1"))
        size, spares = draw(st.integers(2, 8)), draw(st.integers(1, 2))
        for h in range(size):
            spare = h >= size - spares
            hosts.append(Host(
                name=f"{cname}-h{h}", cluster=cname, generation="Skylake", profile="CPv1",
                vcpus=16, ram_mib=32768, disk_gib=400, cpu_allocation_ratio=2.0,
                link_mib_s=link, role=HostRole.SPARE if spare else HostRole.ACTIVE))
            for _ in range(0 if spare else draw(st.integers(1, 4))):
                n = len(vms) + 1
                vms.append(Vm(name=f"vm{n}", uuid=str(uuid.UUID(int=n)), host=f"{cname}-h{h}",
                              vcpus=2, ram_mib=draw(st.sampled_from((2048, 4096, 8192))),
                              guest=GuestOs(family=GuestOsFamily.LINUX, smap_support=True),
                              dirty_rate_mib_s=draw(st.sampled_from((None, 1.0)))))
    return Fleet(regions=(Region(name="r1"),), clusters=tuple(clusters),
                 generations=GENERATIONS, profiles=(OLD, NEW, NEW_NOSMAP),
                 hosts=tuple(hosts), vms=tuple(vms))


POLICIES = st.builds(
    Policy, hosts_per_wave=st.sampled_from((None, 1, 2)), drain_ahead=st.integers(1, 3),
    canary_hosts=st.integers(0, 2), allow_cold_migration=st.booleans(),
    allow_suspend=st.just(True), hold_after_canary=st.just(False))


@pytest.mark.slow
@pytest.mark.usefixtures("runs_without_freezing")
@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(fleet=st.one_of(fleets(), whole_clusters()), policy=POLICIES,
       seed=st.integers(1, 1000))
def test_no_simulated_campaign_is_shorter_than_the_bounds(fleet: Fleet, policy: Policy,
                                                          seed: int) -> None:
    result = plan(fleet, NEW_NOSMAP, policy)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "c.db", create=True)
        store.create_campaign(result, with_profiles(fleet, result.targets), "sim", 0.0)
        cloud = SimCloud(store.fleet(), seed=seed)
        assert Executor(store, cloud).run().state is CampaignState.COMPLETED
        steps = store.steps()
        makespan = status(store)["makespan_s"]
        drawn = cloud.reinstall_seconds()
        cloud.close()
        store.close()
    assert all(s.state is HostStepState.DONE for s in steps)
    jobs = [s.reinstall_job for s in steps if s.reinstall_job]
    if not jobs:
        return
    assert all(s.reinstall_attempts == 1 for s in steps if s.reinstall_job)
    shortest = min(reinstall_duration_s(seed, job) for job in jobs)
    held = plan(fleet, NEW_NOSMAP, policy.model_copy(update={"reinstall_s": shortest}))
    assert held.skipped == result.skipped
    # Both are rounded to 0.1 s.
    assert makespan >= held.summary.lower_bound_s - 0.1
    assert makespan >= held.summary.policy_bound_s - 0.1
    assert sorted(drawn.values()) == pytest.approx(sorted(reinstall_duration_s(seed, job)
                                                          for job in jobs))
    lower, under_policy = plan_bounds(fleet, result, policy, drawn.__getitem__)
    assert lower >= held.summary.lower_bound_s - 0.1
    assert under_policy >= held.summary.policy_bound_s - 0.1
    assert makespan >= max(lower, under_policy) - 1e-6
