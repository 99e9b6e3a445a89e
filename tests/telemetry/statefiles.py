"""State files of simulated campaigns for the telemetry, web and report tests.

Each is made once per test session (cached here) under a session temporary directory: a
finished campaign with injected migration failures, and one holding after its canary wave
that a test can resume with ``hvroll run``. Tests that write (controls) work on a copy.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from hvroll.drivers.sim import Faults, SimCloud
from hvroll.executor.engine import Executor
from hvroll.planner.build import Targets, plan, with_profiles
from hvroll.planner.model import Policy, save_plan
from hvroll.store import Store
from hvroll.synthetic.generate import generate

MAX_TURNS = 200_000
"""A bound on the executor's loop, so that a campaign that never ends fails a test instead
of hanging it."""

FAILING = Faults(migration_failure_rate=0.1, known_issues=True)
"""Faults of the finished campaign: with seed 2 on the small fleet, one migration fails for
good (its host's drain fails) and one needs the block rung."""
FAILING_SEED = 2


@dataclass(frozen=True)
class Campaign:
    state: Path
    plan: Path


_made: dict[str, Campaign] = {}


def campaign(factory: pytest.TempPathFactory, name: str) -> Campaign:
    """``finished`` or ``holding``, made on first use in this session."""
    if name not in _made:
        directory = factory.mktemp(name)
        if name == "finished":
            _made[name] = _run(directory, hold=False, faults=FAILING, seed=FAILING_SEED)
        elif name == "holding":
            _made[name] = _run(directory, hold=True, faults=Faults(), seed=1)
        elif name == "accounts":
            _made[name] = _accounts(directory)
        else:
            raise ValueError(f"unknown campaign {name!r}")
    return _made[name]


def copy(made: Campaign, directory: Path) -> Campaign:
    """A copy of a campaign's files (state, simulator journal, plan) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    state = directory / made.state.name
    shutil.copyfile(made.state, state)
    journal = Path(f"{made.state}.sim.jsonl")
    if journal.exists():
        shutil.copyfile(journal, f"{state}.sim.jsonl")
    plan_file = directory / made.plan.name
    shutil.copyfile(made.plan, plan_file)
    return Campaign(state, plan_file)


def _run(directory: Path, *, hold: bool, faults: Faults, seed: int) -> Campaign:
    """Plan the small fleet's upgrade (CPv2; Broadwell to CPv2n) and run it on the simulator
    as ``hvroll run`` would (same journal path), until it ends or holds."""
    fleet = generate("small", 1)
    targets = Targets(default=fleet.profile_by_name["CPv2"],
                      by_name={"Broadwell": fleet.profile_by_name["CPv2n"]})
    result = plan(fleet, targets, Policy(allow_suspend=True, hold_after_canary=hold))
    plan_file = directory / "plan.json"
    save_plan(result, plan_file)
    state = directory / "campaign.db"
    store = Store(state, create=True)
    store.create_campaign(result, with_profiles(fleet, result.targets), "sim", 0.0,
                          plan_file=str(plan_file))
    cloud = SimCloud(store.fleet(), seed=seed, faults=faults,
                     journal=Path(f"{store.target}.sim.jsonl"))
    outcome = Executor(store, cloud).run(max_turns=MAX_TURNS)
    cloud.close()
    store.close()
    assert outcome.turns < MAX_TURNS, f"the {directory.name} campaign did not end"
    return Campaign(state, plan_file)


SKY_CRASHES = Faults(known_issues=True, host_crashes=tuple(
    (f"sky-u{i}", 10.0) for i in range(1, 5)))
"""Every Skylake host crashes 10 s in: the VM there is restarted by HA until no host is
left, and ends crashed."""


def _accounts(directory: Path) -> Campaign:
    """seed 000's fleet (``tests/seed000.py``) to CPv2 (its RHEL cluster to CPv2-r): the plan
    skips 4 hosts (a VM that cannot move on each), and the Skylake cluster's hosts all crash,
    leaving app-sky crashed on sky-u4. The campaign completes, 4 hosts skipped, 1 VM crashed."""
    from seed000 import CPV2_RHEL, CPV2_UBUNTU, seed000_fleet

    fleet = seed000_fleet()
    result = plan(fleet, Targets(default=CPV2_UBUNTU, by_name={"c-bdw-r": CPV2_RHEL}),
                  Policy(canary_hosts=0, hold_after_canary=False, allow_suspend=True))
    plan_file = directory / "plan.json"
    save_plan(result, plan_file)
    state = directory / "campaign.db"
    store = Store(state, create=True)
    store.create_campaign(result, with_profiles(fleet, result.targets), "sim", 0.0,
                          plan_file=str(plan_file))
    cloud = SimCloud(store.fleet(), seed=1, faults=SKY_CRASHES,
                     journal=Path(f"{store.target}.sim.jsonl"))
    outcome = Executor(store, cloud).run(max_turns=MAX_TURNS)
    cloud.close()
    store.close()
    assert outcome.turns < MAX_TURNS, "the accounts campaign did not end"
    return Campaign(state, plan_file)
