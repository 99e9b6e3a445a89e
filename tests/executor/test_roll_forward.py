"""The roll-forward invariant over whole campaigns: a VM is never started towards a host whose
own upgrade failed, was skipped, is under way, or has not started — except where the plan's
ordering sends it there (a cluster without spare starts by emptying one host onto hosts not
upgraded yet; the baselines move VMs to such hosts by design) — and every refused start is
counted as an invariant violation.

The oracle below replays the transitions the state file recorded (host steps and
migrations, in commit order) and judges each migration's last start on its own, without the
executor's code."""

from __future__ import annotations

import tempfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns import targets_of
from hvroll.domain import Fleet
from hvroll.domain.states import CampaignState, HostStepState, Rung
from hvroll.drivers.sim import Faults, SimCloud
from hvroll.errors import OperationFailedError
from hvroll.executor.engine import Executor
from hvroll.executor.status import status
from hvroll.planner.build import plan, with_profiles
from hvroll.planner.model import Plan, Policy, Strategy
from hvroll.store import Store
from strategies import NEW_NOSMAP, fleets


class LyingSim(SimCloud):
    """The simulator, except that some reinstalled hosts report their old profile: the
    executor's verification fails for them (a host the hook reinstalled badly)."""

    def __init__(self, fleet: Fleet, *, seed: int, faults: Faults,
                 bad_verify_rate: float) -> None:
        super().__init__(fleet, seed=seed, faults=faults)
        self.seed = seed
        self.bad_verify_rate = bad_verify_rate
        self.original = {h.name: h.profile for h in fleet.hosts}

    def host_profile(self, host: str) -> str:
        profile = super().host_profile(host)
        if zlib.crc32(f"{self.seed}/{host}".encode()) % 100 < self.bad_verify_rate * 100:
            return self.original[host]
        return profile


def bad_starts(store: Store, strategy: Strategy) -> list[str]:
    """Migrations whose last start went towards a host that was not ready for it then."""
    steps = {s.id: s for s in store.steps()}
    steps_of: dict[str, list[int]] = defaultdict(list)
    for s in steps.values():
        steps_of[s.host].append(s.id)
    rows = {m.id: m for m in store.migrations()}
    state = dict.fromkeys(steps, "pending")
    verdict: dict[int, str] = {}
    for t in store.transitions():
        if t.entity == "host_step":
            state[t.entity_id] = t.target
        elif t.entity == "migration" and t.target == "starting":
            row = rows[t.entity_id]
            mine = [state[sid] for sid in steps_of.get(row.dest, [])]
            reinstalled = any(steps[sid].reinstall for sid in steps_of.get(row.dest, []))
            planned = row.dest == row.planned_dest
            may_wait = planned or strategy is not Strategy.ROLL_FORWARD
            if not mine or (all(s == "done" for s in mine) and reinstalled):
                verdict[row.id] = ""  # not in the campaign, or upgraded
            elif all(s in ("pending", "done") for s in mine) and may_wait:
                verdict[row.id] = ""  # not started yet, where the plan sends it
            else:
                verdict[row.id] = f"{row.vm} → {row.dest} ({', '.join(mine)})"
    return sorted(v for mid, v in verdict.items()
                  if v and rows[mid].state == "completed")


FAULTS = st.builds(Faults, migration_failure_rate=st.sampled_from((0.0, 0.1, 0.3)),
                   reinstall_failure_rate=st.sampled_from((0.0, 0.2, 0.5)))


@pytest.mark.slow
@pytest.mark.usefixtures("runs_without_freezing")
@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(fleet=fleets(), faults=FAULTS, seed=st.integers(1, 1000),
       bad_verify=st.sampled_from((0.0, 0.2, 0.4)),
       tolerance=st.sampled_from((0, 1, 100)),
       strategy=st.sampled_from((Strategy.ROLL_FORWARD, Strategy.ROLL_FORWARD,
                                 Strategy.ROLL_FORWARD, Strategy.EVACUATE_RETURN,
                                 Strategy.SCHEDULER)))
def test_no_vm_is_moved_onto_a_failed_or_not_upgraded_host(
        fleet: Fleet, faults: Faults, seed: int, bad_verify: float, tolerance: int,
        strategy: Strategy) -> None:
    policy = Policy(allow_suspend=True, allow_cold_migration=True, hold_after_canary=False,
                    failed_host_tolerance=tolerance)
    result = plan(fleet, NEW_NOSMAP, policy, strategy)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "c.db", create=True)
        store.create_campaign(result, with_profiles(fleet, result.targets), "sim", 0.0)
        cloud = LyingSim(store.fleet(), seed=seed, faults=faults, bad_verify_rate=bad_verify)
        outcome = Executor(store, cloud).run(max_turns=50_000)
        assert outcome.state in (CampaignState.COMPLETED, CampaignState.FAILED)
        assert bad_starts(store, strategy) == []
        refused = [m for m in store.migrations() if "not started towards" in m.error]
        counted = [e for e in store.events("invariant_violation")
                   if "not started towards" in e.message]
        assert len(refused) == len(counted)
        s = status(store)
        assert s["vms_lost"] == 0
        assert s["hosts_upgraded"] + s["hosts_failed"] + s["hosts_skipped"] \
            <= s["hosts_total"]
        cloud.close()
        store.close()


class FailingSim(SimCloud):
    """The simulator, with named hosts failing: ``lying`` report their old profile after
    their reinstall (verification fails), ``refusing`` refuse to have scheduling disabled
    (pre-checks fail)."""

    def __init__(self, fleet: Fleet, *, lying: frozenset[str] = frozenset(),
                 refusing: frozenset[str] = frozenset()) -> None:
        super().__init__(fleet, seed=1)
        self.lying, self.refusing = lying, refusing
        self.original = {h.name: h.profile for h in fleet.hosts}

    def host_profile(self, host: str) -> str:
        profile = super().host_profile(host)
        return self.original[host] if host in self.lying else profile

    def set_scheduling(self, host: str, enabled: bool) -> None:
        if host in self.refusing and not enabled:
            raise OperationFailedError(f"{host}: the scheduler refused (test)")
        super().set_scheduling(host, enabled)


def stored(fleet: Fleet, tmp_path: Path, **policy: object) -> tuple[Store, Plan]:
    result = plan(fleet, targets_of(fleet),
                  Policy(hold_after_canary=False, allow_suspend=True, **policy))
    store = Store(tmp_path / "c.db", create=True)
    store.create_campaign(result, with_profiles(fleet, result.targets), "sim", 0.0)
    return store, result


def test_the_destinations_of_a_host_that_failed_its_upgrade_are_re_placed(
        small: Fleet, tmp_path: Path) -> None:
    store, result = stored(small, tmp_path, failed_host_tolerance=100)
    upgraded_in = {s.host: w.index for w in result.waves for s in w.steps if s.reinstall}
    # A host upgraded after the canary wave (not a spare): when it fails, others are ready.
    later = Counter(m.dest for w in result.waves for s in w.steps for m in s.drain
                    if 0 < upgraded_in.get(m.dest, 0) < w.index)
    bad, planned_to_bad = later.most_common(1)[0]
    assert planned_to_bad >= 2
    cloud = FailingSim(store.fleet(), lying=frozenset({bad}))
    assert Executor(store, cloud).run().state is CampaignState.COMPLETED
    step = next(s for s in store.steps() if s.host == bad and s.reinstall)
    assert (step.state, step.error) == ("failed", "reports profile 'CPv1' after its "
                                                  f"reinstall (expected {step.target!r})")
    rows = [m for m in store.migrations() if m.planned_dest == bad]
    assert len(rows) >= planned_to_bad
    moved_there = [m.vm for m in rows if m.dest == bad and m.state == "completed"
                   and m.wave > step.wave]
    assert moved_there == []
    replanned = [e for e in store.events("migration_replanned") if e.message.startswith(
        f"{bad} failed: reports profile")]
    assert replanned
    assert all(m.state in ("completed", "failed") for m in rows if m.wave > step.wave)
    assert bad_starts(store, Strategy.ROLL_FORWARD) == []
    assert status(store)["invariant_violations"] == 0
    cloud.close()
    store.close()


def test_a_canary_host_failing_counts_once_against_the_tolerance(
        small: Fleet, tmp_path: Path) -> None:
    store, result = stored(small, tmp_path, failed_host_tolerance=1)
    canary = result.canary.hosts[0]
    waves = [w.index for w in result.waves for s in w.steps if s.host == canary]
    assert waves[0] == 0 and len(waves) == 2
    cloud = FailingSim(store.fleet(), refusing=frozenset({canary}))
    assert Executor(store, cloud).run().state is CampaignState.COMPLETED
    assert [(s.wave, s.state, s.error) for s in store.steps() if s.host == canary] == [
        (0, "failed", f"pre-checks failed: {canary}: the scheduler refused (test)"),
        (waves[1], "skipped", "the host failed in wave 0")]
    s = status(store)
    assert (s["hosts_failed"], s["hosts_by_state"].get("failed")) == (1, 1)
    assert s["hosts_upgraded"] + s["hosts_failed"] + s["hosts_skipped"] == s["hosts_total"]
    cloud.close()
    store.close()


def test_a_start_towards_a_failed_host_is_refused_and_counted(
        small: Fleet, tmp_path: Path) -> None:
    """A restart on another rung goes to the destination its first attempt had: if that host
    failed meanwhile, the start is refused, counted, and the migration fails with why."""
    store, _ = stored(small, tmp_path)
    cloud = SimCloud(store.fleet(), seed=1)
    ex = Executor(store, cloud)
    ex.run(max_turns=3)
    row = next(m for m in ex.migrations if m.state == "pending" and m.step_id is not None)
    dest_step = next(s for s in ex.steps if s.host == row.dest)
    dest_step.state = HostStepState.FAILED  # as a failure between two attempts leaves it
    ex.layout.agenda.waves.clear()
    effects: list[Callable[[], None]] = []
    assert ex.runner.start(row, effects, Rung.AUTO_CONVERGE)
    assert effects == []
    assert (row.state, row.attempts) == ("failed", 0)
    assert row.error == (f"{row.vm} not started towards {row.dest}: its own upgrade failed "
                         f"(it stays on its old profile)")
    store.commit()
    assert status(store)["invariant_violations"] == 1
    [event] = store.events("invariant_violation")
    assert (event.vm, event.host, event.message) == (row.vm, row.dest, row.error)
    cloud.close()
    store.close()
