"""Host steps: when the next wave of a cluster starts beside the current one's reinstalls."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Callable

import pytest

from campaigns import Campaign
from hvroll.domain import Fleet
from hvroll.domain.states import CampaignState, HostStepState
from hvroll.executor.engine import Executor
from hvroll.executor.hosts import (
    ADVANCING,
    OUT_OF_SERVICE,
    REINSTALLING,
    early_starts,
    receivers_ready,
    reinstall_room,
)
from hvroll.planner.model import Policy

P, X, D = HostStepState.PENDING, HostStepState.DRAINING, HostStepState.DRAINED
R, V, F = HostStepState.REINSTALLING, HostStepState.VERIFYING, HostStepState.DONE
DIS, FAIL = HostStepState.DISABLING, HostStepState.FAILED


@pytest.mark.parametrize(("current", "later", "k", "starts"), [
    # a host of the current wave has not started: nothing of the next starts
    ([R, P], [(P, True)], 2, []),
    ([P, P], [(P, True)], 2, []),
    # a host of it still to drain: nothing of the next starts (the current wave's drains
    # have the destinations' links and the limits to themselves)
    ([R, R, X, R], [(P, True)], 4, []),
    ([R, DIS], [(P, True), (P, True)], 2, []),
    # every host of it drained: one more host out of service
    ([R, R, D, R], [(P, True)], 4, [0]),
    # every host of it reinstalled: one more host out of service, the next wave's first
    ([R, R, R, R], [(P, True), (P, True), (P, True), (P, True)], 4, [0]),
    ([R, V, D, R], [(P, True), (P, True)], 4, [0]),
    # one of them done: one place more; a host not free to drain waits, the next goes
    ([F, R, R, R], [(P, True), (P, True), (P, True), (P, True)], 4, [0, 1]),
    ([F, R, R, R], [(P, False), (P, True), (P, True), (P, True)], 4, [1, 2]),
    ([F, R, R, R], [(D, True), (P, True), (P, True), (P, True)], 4, [1]),
    # a failed host is out of the count; a whole wave done leaves k + 1 places
    ([FAIL, F], [(P, True), (P, True), (P, True)], 2, [0, 1, 2]),
    ([F, F], [(X, True), (R, True), (P, True)], 2, [2]),
    ([F, F], [(X, True), (R, True), (D, True), (P, True)], 2, []),
])
def test_the_next_wave_starts_once_the_current_has_drained_with_k_plus_one_hosts_out(
        current: list[HostStepState], later: list[tuple[HostStepState, bool]], k: int,
        starts: list[int]) -> None:
    states = [state for state, _ in later]
    asked: list[int] = []

    def free(i: int) -> bool:
        asked.append(i)
        return later[i][1]

    assert early_starts(current, states, free, k) == starts
    assert set(starts) <= set(asked) <= {i for i, s in enumerate(states) if s is P}


@pytest.mark.parametrize(("current", "later", "k", "ahead", "starts"), [
    # two ahead: two hosts of the next wave start beside a wave that has drained
    ([R, R, D, R], [(P, True), (P, True), (P, True)], 4, 2, [0, 1]),
    ([R, R, X, R], [(P, True), (P, True), (P, True)], 4, 2, []),
    ([R, R], [(X, True), (P, True), (P, True)], 2, 2, [1]),
    ([R, R], [(X, True), (D, True), (P, True)], 2, 2, []),
    # one of the current wave done: a third
    ([F, R, R, R], [(X, True), (P, True), (P, True), (P, True)], 4, 2, [1, 2]),
    # as many ahead as the wave: the whole next wave, if free to drain
    ([R, R, R, R], [(P, True), (P, False), (P, True), (P, True)], 4, 4, [0, 2, 3]),
    # still nothing while a host of the current wave has not started
    ([R, P], [(P, True)], 2, 3, []),
])
def test_the_next_wave_starts_with_at_most_k_plus_ahead_hosts_out(
        current: list[HostStepState], later: list[tuple[HostStepState, bool]], k: int,
        ahead: int, starts: list[int]) -> None:
    states = [state for state, _ in later]
    assert early_starts(current, states, lambda i: later[i][1], k, ahead) == starts


@pytest.mark.parametrize(("current", "later", "k", "room"), [
    ([], [], 1, True),
    ([R, V], [D, X, F], 3, True),
    ([R, V], [R, D], 3, False),
    ([R, R], [R, R], 4, False),
    # a host of the current wave still to drain is reinstalled first
    ([R, X], [D], 4, False),
    ([R, DIS], [D], 4, False),
    ([R, F], [D], 4, True),
])
def test_an_early_host_is_reinstalled_after_the_current_wave_while_fewer_than_k_are(
        current: list[HostStepState], later: list[HostStepState], k: int, room: bool) -> None:
    assert reinstall_room(current, later, k) is room


@pytest.mark.parametrize(("receivers", "canary_wave", "ready"), [
    ([], True, True),
    ([R, R, R], True, False),
    # in the canary wave, once one spare is upgraded
    ([F, R, V], True, True),
    ([F, R, V], False, False),
    # or when every receiver has ended, upgraded or not
    ([FAIL, HostStepState.SKIPPED], True, True),
    ([FAIL, F], False, True),
])
def test_the_canary_wave_drains_once_one_of_its_receivers_is_upgraded(
        receivers: list[HostStepState], canary_wave: bool, ready: bool) -> None:
    assert receivers_ready(receivers, canary_wave) is ready


def test_the_canary_drains_while_spares_are_reinstalled_never_into_one_not_ready(
        small: Fleet, campaign: Campaign) -> None:
    """The small preset's campaign: a canary's drain starts before the last spare of its
    cluster is done, and none of its VMs starts towards a spare before that spare is done."""
    store, cloud, _ = campaign(small)
    assert Executor(store, cloud).run().state is CampaignState.COMPLETED
    steps = store.steps()
    done_at = {s.host: s.finished_s for s in steps if s.wave == 0 and s.receives}
    canaries = [s for s in steps if s.wave == 0 and s.canary and not s.receives]
    assert canaries
    early = 0
    for canary in canaries:
        spares = [s for s in steps if s.wave == 0 and s.receives and s.cluster == canary.cluster]
        assert canary.started_s is not None
        early += canary.started_s < max(s.finished_s or 0.0 for s in spares)
        for m in store.migrations():
            if m.step_id == canary.id and m.dest in done_at:
                assert m.started_s is not None and m.started_s >= (done_at[m.dest] or 0.0)
    assert early
    cloud.close()
    store.close()


def test_a_drain_passes_a_migration_waiting_for_its_busy_destination(
        small: Fleet, campaign: Campaign) -> None:
    """The small preset's campaign, one migration at a time per destination: some drain
    after the canary wave starts a migration before an earlier one of its own waiting for a
    busy destination (none does when the first held holds the ones behind it), and still
    never two towards one destination at once, nor more than two out of one source. (The
    canary wave's drains pass a VM whose spare is not upgraded yet anyway.)"""
    policy = Policy(allow_suspend=True, hold_after_canary=False, migrations_per_dest=1)
    store, cloud, _ = campaign(small, policy=policy)
    assert Executor(store, cloud).run().state is CampaignState.COMPLETED
    by_step: dict[int | None, list[tuple[int, float, float]]] = defaultdict(list)
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    out_of: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for m in store.migrations():
        assert m.started_s is not None and m.finished_s is not None
        if m.wave > 0:
            by_step[m.step_id].append((m.position, m.started_s, m.finished_s))
        spans[m.dest].append((m.started_s, m.finished_s))
        out_of[m.source].append((m.started_s, m.finished_s))
    passed = sum(later[1] < earlier[1]
                 for rows in by_step.values()
                 for earlier, later in zip(sorted(rows), sorted(rows)[1:], strict=False))
    assert passed
    for limit, runs in ((1, spans), (2, out_of)):
        for intervals in runs.values():
            for start, _ in intervals:
                assert sum(s <= start < f for s, f in intervals) <= limit
    cloud.close()
    store.close()


def test_a_clusters_later_waves_wait_for_its_own_canary_wave_and_its_regions_canaries(
        small: Fleet, campaign: Campaign) -> None:
    """The small preset's campaign with one canary host: no host of a later wave starts
    before its cluster's canary wave and its region's canary hosts have ended (the other
    clusters' spares it does not wait for)."""
    store, cloud, _ = campaign(small, policy=Policy(
        allow_suspend=True, hold_after_canary=False, canary_hosts=1))
    assert Executor(store, cloud).run().state is CampaignState.COMPLETED
    steps = store.steps()
    wave0 = [s for s in steps if s.wave == 0]
    assert sum(s.canary for s in wave0) == 1
    for step in steps:
        if step.wave == 0 or step.started_s is None:
            continue
        own = [s for s in wave0 if s.cluster == step.cluster
               or (s.region == step.region and s.canary)]
        assert all(s.finished_s is not None and s.finished_s <= step.started_s for s in own)
    cloud.close()
    store.close()


@pytest.mark.parametrize("ahead", [1, 2])
def test_waves_overlap_within_k_plus_ahead_hosts_out_and_k_reinstalls(
        small: Fleet, campaign: Campaign, ahead: int) -> None:
    """The small preset's campaign, replayed from its transitions: a host of a later wave
    starts before the wave before it has ended, and at no moment has a cluster more than
    k + drain_ahead hosts out of service, or more than k reinstalled (k: its most
    reinstalls in a wave); with two ahead, some moment has k + 2."""
    store, cloud, result = campaign(small, policy=Policy(
        allow_suspend=True, hold_after_canary=False, drain_ahead=ahead))
    assert Executor(store, cloud).run().state is CampaignState.COMPLETED
    k: dict[str, int] = defaultdict(int)
    for wave in result.waves:
        per: dict[str, int] = defaultdict(int)
        for step in wave.steps:
            per[step.cluster] += step.reinstall
        for cluster, n in per.items():
            k[cluster] = max(k[cluster], n)
    db = sqlite3.connect(store.target)
    steps = {sid: (cluster, wave) for sid, cluster, wave in db.execute(
        "select id, cluster, wave from host_step")}
    state: dict[int, HostStepState] = {}
    overlapped = 0
    worst_out = worst_reinstalling = 0
    rows = db.execute("select t_s, entity_id, target from transition "
                      "where entity = 'host_step' order by id").fetchall()
    for i, (t, sid, target) in enumerate(rows):
        state[sid] = HostStepState(target)
        cluster, wave = steps[sid]
        if target == DIS.value and any(
                w < wave and c == cluster and state.get(o) not in (F, FAIL, None)
                for o, (c, w) in steps.items()):
            overlapped += 1
        if i + 1 < len(rows) and rows[i + 1][0] == t:
            continue  # count at the end of each instant: a host done frees its place then
        for c in k:
            mine = [s for o, s in state.items() if steps[o][0] == c]
            worst_out = max(worst_out, sum(s in OUT_OF_SERVICE for s in mine) - k[c])
            worst_reinstalling = max(worst_reinstalling,
                                     sum(s in REINSTALLING for s in mine) - k[c])
    db.close()
    assert overlapped > 0
    assert worst_out == ahead
    assert worst_reinstalling <= 0


@pytest.mark.parametrize("state", sorted(set(HostStepState) - ADVANCING))
def test_a_step_outside_the_advancing_states_is_left_as_it_is_by_a_look(
        small: Fleet, campaign: Campaign, state: HostStepState) -> None:
    """What lets the executor look only at steps in ``ADVANCING``: any other step's look
    queues nothing, moves nothing, records nothing and asks for no other look."""
    store, cloud, _ = campaign(small)
    executor = Executor(store, cloud)
    agenda = executor.agenda
    agenda.dirty.clear()
    store.commit()
    events = len(store.events())
    for step in executor.steps[:5]:
        step.state = state
        for receivers_done in (False, True):
            for failing in (False, True):
                effects: list[Callable[[], None]] = []
                executor.hosts.advance(step, receivers_done, failing, effects,
                                       lambda: True)
                assert (effects, step.state, agenda.dirty, dict(agenda.blocked)) == (
                    [], state, set(), {})
    store.commit()
    assert len(store.events()) == events
    assert {P, DIS, X, D, V} == ADVANCING


def test_the_reinstall_room_is_asked_only_by_a_drained_step_about_to_start_its_reinstall(
        small: Fleet, campaign: Campaign) -> None:
    """A look at a draining step, or at a drained one that is not reinstalled, does not ask
    whether its cluster has room for a reinstall; a drained step to reinstall asks once, and
    waits when there is none."""
    store, cloud, _ = campaign(small)
    executor = Executor(store, cloud)
    hosts, layout = executor.hosts, executor.layout
    asked: list[str] = []

    def no_room() -> bool:
        asked.append("asked")
        return False

    draining = next(s for s in executor.steps if s.reinstall and layout.drain.get(s.id))
    draining.state = X
    hosts.advance(draining, True, False, [], no_room)
    assert (draining.state, asked) == (X, [])
    drained = next(s for s in executor.steps if s.reinstall and s is not draining)
    drained.state = D
    effects: list[Callable[[], None]] = []
    hosts.advance(drained, True, False, effects, no_room)
    assert (drained.state, effects, asked) == (D, [], ["asked"])
    kept = next(s for s in executor.steps if not s.reinstall)  # a canary host's drain
    kept.state = D
    hosts.advance(kept, True, False, [], no_room)
    assert (kept.state, asked) == (F, ["asked"])
