"""Fixtures: campaigns on the simulated cloud."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns import Campaign, targets_of
from hvroll.domain import Fleet
from hvroll.drivers.sim import Faults, SimCloud
from hvroll.planner.build import Targets, plan, with_profiles
from hvroll.planner.model import Plan, Policy
from hvroll.store import Store


@pytest.fixture
def campaign(tmp_path: Path) -> Campaign:
    """``campaign(fleet, policy=…, faults=…)``: a stored plan and a journaled simulated cloud."""

    def make(fleet: Fleet, *, policy: Policy | None = None, faults: Faults | None = None,
             targets: Targets | None = None, seed: int = 1,
             name: str = "c") -> tuple[Store, SimCloud, Plan]:
        policy = policy or Policy(allow_suspend=True, hold_after_canary=False)
        result = plan(fleet, targets or targets_of(fleet), policy)
        store = Store(tmp_path / f"{name}.db", create=True)
        store.create_campaign(result, with_profiles(fleet, result.targets), "sim", 0.0)
        cloud = SimCloud(store.fleet(), seed=seed, faults=faults or Faults(),
                         journal=tmp_path / f"{name}.db.sim.jsonl")
        return store, cloud, result

    return make
