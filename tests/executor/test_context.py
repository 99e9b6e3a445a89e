"""What the executor's units share: a destination's readiness and a drain's unreachable VMs,
as the layout answers them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from campaigns import Campaign
from hvroll.domain import Fleet
from hvroll.domain.states import HostStepState
from hvroll.executor.context import Held, still_held
from hvroll.executor.engine import Executor
from hvroll.planner.model import Policy
from hvroll.planner.replace import Readiness, readiness
from hvroll.store import MigrationRecord

S = HostStepState
THROUGH = [S.DISABLING, S.DRAINING, S.DRAINED, S.REINSTALLING, S.VERIFYING]


def fresh(executor: Executor, host: str) -> Readiness:
    """The readiness worked out from the host's steps as they are now."""
    layout = executor.layout
    steps = layout.by_host.get(host, [])
    return readiness([(s.state, s.reinstall) for s in steps], next_up=any(
        s.state is S.PENDING and layout.current_wave(s.cluster) == s.wave for s in steps))


@pytest.mark.parametrize(("failing", "requeued", "free", "full", "held"), [
    (False, 7, set(), {"c"}, True),    # nothing it read changed: the look would do nothing
    (False, 7, {"b"}, {"c"}, False),   # a migration passed over has room at its destination
    (False, 7, {"a", "b"}, {"c"}, False),
    (False, 7, set(), set(), False),   # the stopped drain's region has room again: it goes
    (False, 7, {"c"}, {"c"}, True),    # past its stop (the stop's own room is not asked)
    (True, 7, set(), {"c"}, False),    # the failed-host tolerance is passed: skip a pending
    (False, 8, set(), {"c"}, False),   # a migration went back to pending: a drain goes on
])
def test_a_held_cluster_is_held_while_nothing_it_read_has_changed(
        failing: bool, requeued: int, free: set[str], full: set[str], held: bool) -> None:
    a, b, c = (MigrationRecord.loaded([None] * len(MigrationRecord.COLUMNS), []) for _ in "abc")
    rows = {"a": a, "b": b, "c": c}

    def named(names: set[str]) -> Callable[[MigrationRecord], bool]:
        return lambda row: any(row is rows[name] for name in names)

    record = Held(failing=False, requeued=7, rows=(a, b), stops=(c,))
    assert still_held(record, failing, requeued, named(free), named(full)) is held
    assert still_held(Held(False, 7, (), ()), failing, requeued, lambda row: True,
                      lambda row: False) is (not failing and requeued == 7)


def test_a_hosts_readiness_follows_its_steps_and_stays_once_settled(
        small: Fleet, campaign: Campaign) -> None:
    store, cloud, _ = campaign(small)
    executor = Executor(store, cloud)
    layout, ctx = executor.layout, executor.ctx
    outside = next(h.name for h in small.hosts if h.name not in layout.by_host)
    assert layout.readiness(outside) is Readiness.UNCHANGED
    upgraded, failed = [s for s in layout.steps
                        if s.reinstall and len(layout.by_host[s.host]) == 1][:2]
    seen = []
    for state in [*THROUGH, S.DONE]:
        ctx.transition(upgraded, state, "")
        executor.agenda.touched(upgraded.cluster)
        assert layout.readiness(upgraded.host) is fresh(executor, upgraded.host)
        seen.append(layout.readiness(upgraded.host))
    assert seen == [Readiness.BUSY] * 5 + [Readiness.UPGRADED]
    for state in [S.DISABLING, S.DRAINING, S.FAILED]:
        ctx.transition(failed, state, "")
        executor.agenda.touched(failed.cluster)
        assert layout.readiness(failed.host) is fresh(executor, failed.host)
    assert [layout.readiness(h) for h in (outside, upgraded.host, failed.host)] == [
        Readiness.UNCHANGED, Readiness.UPGRADED, Readiness.FAILED]


def test_a_vm_unreachable_before_its_hosts_drain_is_known_by_name(
        small: Fleet, campaign: Campaign) -> None:
    store, cloud, _ = campaign(small)
    layout = Executor(store, cloud).layout
    step = layout.steps[0]
    step.unreachable_before = '["vm-a","vm-b"]'
    assert [layout.was_unreachable(step.host, vm) for vm in ("vm-a", "vm-b", "vm-c")] == [
        True, True, False]
    outside = next(h.name for h in small.hosts if h.name not in layout.by_host)
    assert layout.was_unreachable(outside, "vm-a") is False


def test_a_drains_end_keeps_its_clusters_wave_and_a_steps_move_drops_it(
        small: Fleet, campaign: Campaign) -> None:
    """The end of a drain's migration makes its cluster dirty and drops what held it, but
    keeps its current wave, which is what working it out again gives; a step's move drops
    the wave."""
    store, cloud, _ = campaign(small)
    executor = Executor(store, cloud)
    layout, agenda, runner = executor.layout, executor.agenda, executor.runner
    step = next(s for s in layout.steps if s.wave > 0 and layout.drain.get(s.id))
    cluster = step.cluster
    wave = layout.current_wave(cluster)
    assert agenda.waves[cluster] == wave
    agenda.dirty.clear()
    agenda.held[cluster] = Held(False, 0, (), ())
    for row in layout.drain[step.id]:
        runner.complete(row, "")
        assert (agenda.dirty, cluster in agenda.held, agenda.waves.get(cluster)) == (
            {cluster}, False, wave)
        agenda.waves.pop(cluster)
        assert layout.current_wave(cluster) == wave  # worked out again: the same
    executor.ctx.transition(step, S.DISABLING, "")
    executor.hosts.move(step, S.DRAINING)
    assert cluster not in agenda.waves


def test_the_limits_are_the_policys(small: Fleet, campaign: Campaign) -> None:
    """The runner reads the policy's four limits once; room is asked of counters that may
    not have the row's keys yet."""
    store, cloud, _ = campaign(small, policy=Policy(
        allow_suspend=True, hold_after_canary=False, migrations_per_source=1,
        migrations_per_dest=3, migrations_per_cluster=5, migrations_per_region=7))
    runner = Executor(store, cloud).runner
    assert runner.limits == (1, 3, 5, 7)
    row = runner.layout.migrations[0]
    assert runner.room(row) and not runner.held_beyond_destination(row)
    runner._count(row, +1)
    assert not runner.room(row) and runner.held_beyond_destination(row)
    runner._count(row, -1)
    assert runner.room(row)
