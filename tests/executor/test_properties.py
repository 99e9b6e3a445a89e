"""Invariants of whole campaigns on random small fleets with random faults (hypothesis):
no VM lost or duplicated, no non-empty host reinstalled (the simulator refuses with a
SafetyError, which would fail the run), capacity and anti-affinity kept at every move, and a
crash at a random event followed by a resume reaches a consistent end; and every state change
recorded along the way is a move its lifecycle's transition table allows."""

from __future__ import annotations

import tempfile
from enum import StrEnum
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hvroll.domain import Fleet
from hvroll.domain.states import CampaignState, HostStepState, MigrationState, allowed
from hvroll.drivers.sim import Faults, SimCloud, SimulatedCrash
from hvroll.executor.engine import Executor
from hvroll.executor.status import status
from hvroll.planner.build import plan, with_profiles
from hvroll.planner.model import Policy
from hvroll.planner.state import PlanState
from hvroll.store import Store
from strategies import NEW_NOSMAP, fleets

_STATES: dict[str, type[StrEnum]] = {"campaign": CampaignState, "host_step": HostStepState,
                                      "migration": MigrationState}

FAULTS = st.builds(Faults, migration_failure_rate=st.sampled_from((0.0, 0.1, 0.3)),
                   reinstall_failure_rate=st.sampled_from((0.0, 0.2)),
                   crash_after_events=st.one_of(st.none(), st.integers(1, 400)))


@pytest.mark.slow
@pytest.mark.usefixtures("runs_without_freezing")
@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(fleet=fleets(), faults=FAULTS, seed=st.integers(1, 1000))
def test_campaigns_keep_the_invariants_under_faults_and_crashes(fleet: Fleet, faults: Faults,
                                                                seed: int) -> None:
    policy = Policy(allow_suspend=True, allow_cold_migration=True, hold_after_canary=False,
                    failed_host_tolerance=100)
    result = plan(fleet, NEW_NOSMAP, policy)
    with tempfile.TemporaryDirectory() as tmp:
        db, journal = Path(tmp) / "c.db", Path(tmp) / "c.db.sim.jsonl"
        store = Store(db, create=True)
        store.create_campaign(result, with_profiles(fleet, result.targets), "sim", 0.0)
        cloud = SimCloud(store.fleet(), seed=seed, faults=faults, journal=journal)
        try:
            outcome = Executor(store, cloud).run()
        except SimulatedCrash:
            store.close()
            store = Store(db)
            calm = Faults(migration_failure_rate=faults.migration_failure_rate,
                          reinstall_failure_rate=faults.reinstall_failure_rate)
            cloud = SimCloud(store.fleet(), seed=seed, faults=calm, journal=journal)
            outcome = Executor(store, cloud).run()
        assert outcome.state is CampaignState.COMPLETED
        moves = store.transitions()
        assert moves
        illegal = [(m.entity, m.name, m.source, m.target, m.reason) for m in moves
                   if not allowed(_STATES[m.entity](m.source), _STATES[m.entity](m.target))]
        assert illegal == []
        s = status(store)
        assert (s["vms_lost"], s["vms_duplicated"], s["invariant_violations"]) == (0, 0, 0)
        placement = cloud.placement()
        assert sorted(placement) == sorted(vm.name for vm in fleet.vms)
        # Capacity and anti-affinity hold in the cloud's final placement.
        final = PlanState(with_profiles(fleet, result.targets))
        for name, host in placement.items():
            final.place(fleet.vm_by_name[name], host)
        assert final.overloaded() == []
        for members in fleet.members_by_group.values():
            hosts = [placement[vm.name] for vm in members]
            assert len(set(hosts)) == len(hosts)
        cloud.close()
        store.close()
