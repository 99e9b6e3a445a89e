"""What the executor's units share, and nothing more.

:class:`Context` carries the store, the driver, the clock, the plan and its policies, the
lease and the executor's working model of the cloud (:class:`PlanState`). :class:`Layout`
indexes the campaign's rows (host steps by host, cluster and wave; drain and return
migrations) and answers the questions the units ask each other: is a host ready to receive,
which VMs were unreachable before its drain, which wave of a cluster is current.
:class:`Agenda` is what changed since the last turn: clusters to look at again, clusters
waiting for room in a region.

The units — :mod:`~hvroll.executor.hosts` (host steps), :mod:`~hvroll.executor.migrations`
(migrations and the ladder) and :mod:`~hvroll.executor.reconcile` — each take these
objects; none holds a reference to the executor that sequences them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice

import structlog
from structlog.typing import FilteringBoundLogger

from hvroll.compat.verdict import Checker
from hvroll.domain import Fleet, HostProfile
from hvroll.domain.states import (
    TERMINAL_HOST,
    TERMINAL_MIGRATION,
    CampaignState,
    HostStepState,
    MigrationState,
)
from hvroll.drivers.base import Clock, Driver
from hvroll.errors import DriverError
from hvroll.executor.ladder import LadderPolicy
from hvroll.planner.model import Plan, Policy, Strategy
from hvroll.planner.replace import Readiness, readiness
from hvroll.planner.state import PlanState
from hvroll.store import CampaignRow, MigrationRecord, RegionRunRow, StepRecord, Store
from hvroll.store.lease import Lease
from hvroll.store.models import loads_items

Effect = Callable[[], None]
"""A side effect whose intent is written: run after the commit that records it."""

EVENT_LEVELS = {"invariant_violation": "error", "safety_stop": "error",
                "campaign_failed": "error", "migration_failed": "warning",
                "host_failed": "warning", "driver_error": "warning", "campaign_stuck": "warning",
                "lease_taken_over": "warning"}
"""Log level of the events that need an operator's eye; every other event is info."""
PROGRESS_INFO_EVERY_S = 30.0
"""A running migration's progress is logged at info level at most this often (campaign
time), and at debug level on every poll."""


def silent_logger() -> FilteringBoundLogger:
    """A logger that writes nothing: calls below critical are no-ops, and what is left goes
    to a logger that only returns it (library use, tests, the benchmark)."""
    logger: FilteringBoundLogger = structlog.wrap_logger(
        structlog.ReturnLogger(), processors=[],
        wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    return logger


class Throttle:
    """At most one ``True`` per key every ``every_s`` seconds of the caller's clock.

    >>> t = Throttle(30.0)
    >>> [t.due("vm1", s) for s in (0.0, 5.0, 29.9, 30.0, 45.0, 61.0)]
    [True, False, False, True, False, True]
    """

    def __init__(self, every_s: float = PROGRESS_INFO_EVERY_S) -> None:
        self.every_s = every_s
        self._last: dict[str, float] = {}

    def due(self, key: str, now_s: float) -> bool:
        last = self._last.get(key)
        if last is not None and now_s - last < self.every_s:
            return False
        self._last[key] = now_s
        return True

    def forget(self, key: str) -> None:
        self._last.pop(key, None)


@dataclass(slots=True)
class Context:
    """The store, the driver, the clock, the plan, its policies, the lease and the working
    model, shared by the executor's units."""

    store: Store
    driver: Driver
    clock: Clock
    lease: Lease
    campaign: CampaignRow
    plan: Plan
    policy: Policy
    ladder_policy: LadderPolicy
    fleet: Fleet
    checker: Checker
    state: PlanState
    """Where every VM is and what every host runs, as the executor believes."""
    targets: dict[str, HostProfile]
    violations: int = 0
    acts: int = 0
    """Transitions and events recorded so far: a look that leaves it as it was moved and
    recorded nothing (:class:`Held`)."""
    log: FilteringBoundLogger = field(default_factory=silent_logger)
    """Bound with the campaign; each event is logged with its wave, host and VM."""
    throttle: Throttle = field(default_factory=Throttle)
    wave_of: dict[str, int] = field(default_factory=dict)
    """The wave each VM moves in (to bind its log lines with it)."""
    logs: frozenset[str] = field(init=False)
    """The levels ``log`` writes (its level is fixed when it is made): a line it would drop is
    not built (a rehearsal's silent logger drops every one)."""

    def __post_init__(self) -> None:
        self.logs = frozenset(name for name in ("debug", "info", "warning", "error")
                              if self.log.is_enabled_for(getattr(logging, name.upper())))

    @property
    def logs_progress(self) -> bool:
        """Whether a running migration's progress is logged at all (debug or info)."""
        return "debug" in self.logs or "info" in self.logs

    def event(self, kind: str, message: str = "", *, host: str | None = None,
              vm: str | None = None, **data: object) -> None:
        """Record an event in the store and log it: the one path of both."""
        now = self.clock.now()
        self.acts += 1
        self.store.event(now, kind, message, host=host, vm=vm, **data)
        level = EVENT_LEVELS.get(kind, "info")
        if level not in self.logs:
            return
        if "wave" not in data and vm is not None:
            data["wave"] = self.wave_of.get(vm)
        log = getattr(self.log, level)
        log(kind, message=message or None, host=host, vm=vm, t_s=round(now, 3), **data)

    def progress(self, job: str, *, vm: str, host: str, dest: str, **data: object) -> None:
        """A poll of a running migration: debug each time, info at most every 30 s (the
        caller need not call it when :attr:`logs_progress` is false: it would write
        nothing)."""
        now = self.clock.now()
        if self.throttle.due(job, now):
            self.log.info("migration_progress", job=job, vm=vm, host=host, dest=dest,
                          wave=self.wave_of.get(vm), t_s=round(now, 3), **data)
        else:
            self.log.debug("migration_progress", job=job, vm=vm, host=host, dest=dest,
                           wave=self.wave_of.get(vm), t_s=round(now, 3), **data)

    def violation(self, message: str, *, vm: str | None = None, host: str | None = None) -> None:
        self.violations += 1
        self.event("invariant_violation", message, vm=vm, host=host)

    def transition(self, row: CampaignRow | RegionRunRow | StepRecord | MigrationRecord,
                   new: CampaignState | HostStepState | MigrationState, reason: str) -> None:
        self.acts += 1
        self.store.transition(row, new, self.clock.now(), reason)

    def host_up(self, host: str) -> bool:
        try:
            return self.driver.host(host).up
        except DriverError:
            return False


@dataclass(slots=True)
class Agenda:
    """What needs another look at the next turn."""

    dirty: set[str] = field(default_factory=set)
    """Clusters whose steps or migrations changed."""
    blocked: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    """Clusters with migrations waiting for room under the concurrency limits, by region."""
    waves: dict[str, int | None] = field(default_factory=dict)
    """Each cluster's current wave, cached until the cluster changes."""
    held: dict[str, Held] = field(default_factory=dict)
    """Clusters whose last look did nothing, with what held them (:class:`Held`): dropped
    when the cluster changes."""
    unsure: int = 0
    """Reads by a look that a :class:`Held` does not cover (a start refused for another
    reason than room, a drain not free to start): a look that made one is not held."""

    def touched(self, cluster: str) -> None:
        self.dirty.add(cluster)
        self.waves.pop(cluster, None)
        self.held.pop(cluster, None)

    def drain_ended(self, cluster: str) -> None:
        """A migration of a host's drain in ``cluster`` ended (or was skipped or failed
        before it started): the cluster gets another look, and what held it (:class:`Held`)
        is dropped, as for any change (:meth:`touched`). Its current wave is kept: it is a
        function of the cluster's steps' states and of its return migrations'
        (:meth:`Layout.current_wave`), and a drain's migration is neither.

        >>> agenda = Agenda(waves={"c1": 2}, held={"c1": Held(False, 0, (), ())})
        >>> agenda.drain_ended("c1")
        >>> agenda.dirty, agenda.waves, agenda.held
        ({'c1'}, {'c1': 2}, {})
        >>> agenda.touched("c1")
        >>> agenda.dirty, agenda.waves, agenda.held
        ({'c1'}, {}, {})
        """
        self.dirty.add(cluster)
        self.held.pop(cluster, None)

    def block(self, cluster: str, region: str) -> None:
        self.blocked[region].add(cluster)

    def room_freed(self, region: str) -> None:
        """A migration ended in ``region``: its clusters that waited for room get another
        look (the limits are per host, cluster and region)."""
        waiting = self.blocked.pop(region, None)
        if waiting:
            self.dirty |= waiting

    def quiet(self, in_flight: Mapping[str, int]) -> None:
        """Each region with no migration in flight whose clusters wait gets another look at
        them: with nothing in flight no limit holds them, so what does is a destination down,
        not ready or without room for the VM — which no migration's end in the region would
        announce (a destination's nova-compute missing a heartbeat is one).

        >>> agenda = Agenda()
        >>> agenda.block("c1", "r1"); agenda.block("c2", "r2")
        >>> agenda.quiet({"r1": 2, "r2": 0})
        >>> sorted(agenda.dirty), dict(agenda.blocked)
        (['c2'], {'r1': {'c1'}})
        """
        for region in [r for r in self.blocked if not in_flight.get(r)]:
            self.room_freed(region)


@dataclass(frozen=True, slots=True)
class Held:
    """What held a cluster whose look did nothing: no step or migration moved, nothing was
    queued or recorded, and the only things it read that its cluster's own changes do not
    announce (:meth:`Agenda.touched`) were the concurrency limits (``rows`` and ``stops``),
    the failed-host tolerance (``failing``) and the runner's count of migrations gone back
    to pending (``requeued``).

    The limits as the look's drains met them (:meth:`~hvroll.executor.hosts.HostSteps.
    advance`, the rule of :func:`~hvroll.executor.migrations.held_beyond_destination`): a
    drain passes over a migration held only by its destination and stops at the first one
    held by its source, cluster or region, which holds every migration of the drain (they
    share all three). So ``rows`` are the migrations passed over in the drains the look went
    through to their end, each found without room at its destination, and ``stops`` one
    migration of each drain that stopped (the migrations it passed before stopping are not
    recorded: they are held as long as it is).

    Why a look with the same of these does nothing again (:func:`still_held`): a look at a
    cluster reads its steps' and migrations' states, which move only through transitions
    that touch the cluster (a step's move, a migration's end, a check asked again) or go
    back to pending (``requeued``), or start (only in a look, which then is not held, or
    from the restart list, whose rows no drain looks at and which grows only with
    ``requeued``); the list of restarts; the failed-host tolerance (a pending step is
    skipped); the limits; and the destinations, the driver and the early starts' checks,
    which a held look did not read (a look that asked them is not held:
    :attr:`Agenda.unsure`). The canary gate and a pause are asked before the look, as
    before. With the cluster untouched and ``requeued`` the same, a drain the look went
    through to its end has the same pending migrations, and starts none while each of
    ``rows`` is still without room; a drain that stopped stops again, at its first pending
    migration, while its ``stops`` row is still held beyond its destination
    (:meth:`~hvroll.executor.hosts.HostSteps._still_refused`). So the look is skipped with
    the one thing it would do: the cluster waits for room again. Once a drain that stopped
    has room at its source, cluster and region, the look is made, even if every migration
    behind its stop still waits for its destination (the hold did not record those): the
    hold never skips a look that would act, and a look made for nothing records a new
    one."""

    failing: bool
    requeued: int
    rows: tuple[MigrationRecord, ...]
    stops: tuple[MigrationRecord, ...]


def still_held(held: Held, failing: bool, requeued: int,
               room: Callable[[MigrationRecord], bool],
               beyond: Callable[[MigrationRecord], bool]) -> bool:
    """Whether a look at a cluster held by ``held`` would do nothing again: the same
    failed-host tolerance and requeued count, no room yet for any of its ``rows``
    (``room``: :meth:`~hvroll.executor.migrations.MigrationRunner.room`), and each of its
    ``stops`` still held beyond its destination (``beyond``: :meth:`~hvroll.executor.
    migrations.MigrationRunner.held_beyond_destination`) — a region with room again makes
    the drains stopped there go on past a stop whose own destination is still busy.

    >>> from types import SimpleNamespace as row
    >>> a, b, c = row(id=1), row(id=2), row(id=3)
    >>> held = Held(failing=False, requeued=3, rows=(a, b), stops=(c,))
    >>> [still_held(held, f, q, lambda r: r is b and free, lambda r: full)
    ...  for f, q, free, full in [(False, 3, False, True), (False, 3, True, True),
    ...                           (False, 3, False, False), (True, 3, False, True),
    ...                           (False, 4, False, True)]]
    [True, False, False, False, False]
    """
    return (held.failing is failing and held.requeued == requeued
            and not any(map(room, held.rows)) and all(map(beyond, held.stops)))


_NO_ROWS: list[MigrationRecord] = []
SETTLED = frozenset({Readiness.UNCHANGED, Readiness.UPGRADED, Readiness.FAILED})
"""A host's readiness that stays what it is for the rest of the campaign
(:meth:`Layout.readiness`)."""


class Layout:
    """The campaign's rows, indexed: host steps by host and by (cluster, wave), the waves of
    each cluster in order, drain migrations by step, return migrations by (cluster, wave)."""

    def __init__(self, steps: list[StepRecord], migrations: list[MigrationRecord], plan: Plan,
                 state: PlanState, agenda: Agenda) -> None:
        self.steps = steps
        self.migrations = migrations
        self.plan = plan
        self.state = state
        self.agenda = agenda
        self.by_host: dict[str, list[StepRecord]] = defaultdict(list)
        self.by_cluster_wave: dict[tuple[str, int], list[StepRecord]] = defaultdict(list)
        self.waves_of: dict[str, list[int]] = defaultdict(list)
        for step in steps:
            self.by_host[step.host].append(step)
            self.by_cluster_wave[(step.cluster, step.wave)].append(step)
            if step.wave not in self.waves_of[step.cluster]:
                self.waves_of[step.cluster].append(step.wave)
        for waves in self.waves_of.values():
            waves.sort()
        self.drain: dict[int, list[MigrationRecord]] = defaultdict(list)
        self.returns: dict[tuple[str, int], list[MigrationRecord]] = defaultdict(list)
        for row in migrations:
            if row.step_id is not None:
                self.drain[row.step_id].append(row)
            else:
                self.returns[(row.cluster, row.wave)].append(row)
        self._drain_ended: dict[int, int] = {}
        """How many of each step's drain migrations, from the first, are known to have ended
        (an ended migration never starts again: :meth:`open_drain` moves past it once)."""
        self._waves_ended: dict[str, int] = {}
        """How many of each cluster's waves, from the first, are known to have ended (every
        step and return migration in a terminal state, which none ever leaves):
        :meth:`current_wave` looks from the first that has not."""
        self.reinstalls_at_once: dict[str, int] = {}
        """Each cluster's most reinstalls in one wave (the plan's ``k``): at most that many
        of its hosts are reinstalled at once, and one more may be out of service."""
        for (cluster, _), wave_steps in self.by_cluster_wave.items():
            self.reinstalls_at_once[cluster] = max(
                self.reinstalls_at_once.get(cluster, 0), sum(s.reinstall for s in wave_steps))
        self.target_by_host = {s.host: s.target for s in steps}
        self._settled: dict[str, Readiness] = {}
        """Hosts whose :meth:`readiness` can no longer change, with it."""
        self.targets = {p.name: p for p in plan.targets}

    def current_wave(self, cluster: str) -> int | None:
        """The cluster's first wave with unfinished work (cached until the cluster changes;
        the waves before it are not looked at again)."""
        cache = self.agenda.waves
        if cluster in cache:
            return cache[cluster]
        found = None
        waves = self.waves_of.get(cluster, ())
        first = self._waves_ended.get(cluster, 0)
        for wave in islice(waves, first, None):
            steps = self.by_cluster_wave[(cluster, wave)]
            if any(s.state not in TERMINAL_HOST for s in steps) or any(
                    m.state not in TERMINAL_MIGRATION
                    for m in self.returns.get((cluster, wave), ())):
                found = wave
                break
            first += 1
        self._waves_ended[cluster] = first
        cache[cluster] = found
        return found

    def next_wave(self, cluster: str, wave: int) -> int | None:
        """The cluster's wave after ``wave``, if any."""
        waves = self.waves_of.get(cluster, ())
        at = waves.index(wave) + 1 if wave in waves else len(waves)
        return waves[at] if at < len(waves) else None

    def open_drain(self, step_id: int) -> tuple[list[MigrationRecord], int]:
        """The drain migrations of a step and the index of the first that has not ended
        (``len`` of the list: all ended). A drain is looked at every turn while it lasts:
        the ended migrations at its head are skipped once, not on every look."""
        rows = self.drain.get(step_id, _NO_ROWS)
        first = self._drain_ended.get(step_id, 0)
        while first < len(rows) and rows[first].state in TERMINAL_MIGRATION:
            first += 1
        self._drain_ended[step_id] = first
        return rows, first

    def readiness(self, host: str) -> Readiness:
        """How far ``host`` has got, as a destination sees it (a pending step of it in its
        cluster's current wave makes it busy: it is about to be drained).

        A host found unchanged, upgraded or failed is answered so from then on without
        looking at its steps again (:data:`SETTLED`): it has no step (the campaign's steps
        are fixed), or a step of it has failed, or every step of it is done — and a step
        never leaves a terminal state (the lifecycle's table has no move out of one), so
        :func:`~hvroll.planner.replace.readiness` would give the same answer: a failed step
        is looked at first, and a host whose steps are all done has none pending, so is
        never next up."""
        found = self._settled.get(host)
        if found is not None:
            return found
        steps = self.by_host.get(host, ())
        next_up = any(s.state is HostStepState.PENDING
                      and self.current_wave(s.cluster) == s.wave for s in steps)
        found = readiness([(s.state, s.reinstall) for s in steps], next_up=next_up)
        if found in SETTLED:
            self._settled[host] = found
        return found

    def may_wait(self, row: MigrationRecord) -> bool:
        """Whether the plan's ordering sends ``row``'s VM to a host whose upgrade has not
        started: its planned destination (a cluster without spare starts so), or any host
        under the baselines."""
        return self.plan.strategy is not Strategy.ROLL_FORWARD or row.dest == row.planned_dest

    def was_unreachable(self, host: str, vm: str) -> bool:
        """Whether ``vm`` did not answer before ``host`` was drained (not blamed on the
        campaign)."""
        for step in self.by_host.get(host, ()):  # a loop: asked after every migration
            if vm in loads_items(step.unreachable_before):
                return True
        return False

    def target_rank(self, host: str) -> int:
        """The rank ``host`` will have: its target's when the plan rolls forward."""
        if self.plan.strategy is Strategy.ROLL_FORWARD and host in self.target_by_host:
            return self.targets[self.target_by_host[host]].rank
        return self.state.rank(host)

    def cluster_hosts(self, cluster: str, fleet: Fleet) -> list[str]:
        return [h.name for h in fleet.hosts_by_cluster.get(cluster, ())]

    def finished(self) -> bool:
        return (all(self.current_wave(c) is None for c in self.waves_of)
                and all(m.state in TERMINAL_MIGRATION for m in self.migrations))

    def pending(self) -> list[MigrationRecord]:
        return [m for m in self.migrations if m.state is MigrationState.PENDING]


def jobs_to_read(changed: Sequence[str], *unanswered: Iterable[str]) -> list[str]:
    """The jobs whose progress to read after a wait: those the cloud reports ``changed``,
    then, in order, those whose last read went unanswered (a dropped API connection) and
    that it does not report. A cloud reports a job when it changes; one that changed once —
    its end, say — while its read failed would otherwise never be read again, its migration
    or reinstall followed no more and the campaign never ending.

    >>> jobs_to_read(["m3", "r1"], {"m1": None, "m3": None}, ["r2"])
    ['m3', 'r1', 'm1', 'r2']
    >>> jobs_to_read(["m1"])
    ['m1']
    """
    again = [job for jobs in unanswered for job in jobs]
    if not again:
        return list(changed)
    seen = set(changed)
    return [*changed, *(job for job in again if job not in seen)]
