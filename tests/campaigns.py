"""Helpers shared by campaign tests: the operator's targets, the campaign factory's type."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hvroll.domain import Fleet
from hvroll.drivers.sim import Faults, SimCloud
from hvroll.planner.build import Targets, plan, with_profiles
from hvroll.planner.model import Plan, Policy
from hvroll.store import Store

Campaign = Callable[..., tuple[Store, SimCloud, Plan]]
"""``campaign(fleet, policy=…, faults=…)`` → a stored plan and a journaled simulated cloud."""


def targets_of(fleet: Fleet) -> Targets:
    """Upgrade to CPv2, Broadwell hosts to CPv2 booted with nosmap (as the operator did)."""
    return Targets(default=fleet.profile_by_name["CPv2"],
                   by_name={"Broadwell": fleet.profile_by_name["CPv2n"]})


def campaign_factory(tmp_path: Path, state: Callable[[str], str] | None = None) -> Campaign:
    """``campaign(fleet, policy=…, faults=…)``: a stored plan and a journaled simulated cloud
    in ``tmp_path``; ``state(name)`` gives the state target (default: ``tmp_path/NAME.db``)."""

    def make(fleet: Fleet, *, policy: Policy | None = None, faults: Faults | None = None,
             targets: Targets | None = None, seed: int = 1,
             name: str = "c") -> tuple[Store, SimCloud, Plan]:
        policy = policy or Policy(allow_suspend=True, hold_after_canary=False)
        result = plan(fleet, targets or targets_of(fleet), policy)
        store = Store(state(name) if state else tmp_path / f"{name}.db", create=True)
        store.create_campaign(result, with_profiles(fleet, result.targets), "sim", 0.0)
        cloud = SimCloud(store.fleet(), seed=seed, faults=faults or Faults(),
                         journal=tmp_path / f"{name}.db.sim.jsonl")
        return store, cloud, result

    return make


def three_regions(seed: int = 3) -> Fleet:
    """The ``small`` preset cut down to three regions of one cluster of 8 hosts (~170 VMs):
    what tests of one executor per region drive."""
    import dataclasses

    from hvroll.synthetic.generate import generate
    from hvroll.synthetic.presets import PRESETS

    spec = dataclasses.replace(PRESETS["small"], clusters_per_region=(1, 1, 1), cluster_size=8,
                               spares=1)
    return generate(spec, seed)
