"""Starting and following migrations: workarounds, the ladder, post-checks, re-planning.

:class:`MigrationRunner` works on the shared :class:`~hvroll.executor.context.Context` and
asks the :class:`~hvroll.executor.context.Layout` whether a destination is ready; it never
reaches into the executor. It only sequences: decisions come from
:mod:`hvroll.executor.ladder` and :mod:`hvroll.planner.placement`, effects go to the driver.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

from hvroll.compat import capabilities
from hvroll.domain import CpuMode, Vm
from hvroll.domain.states import IN_PLACE_RUNGS, MigrationState, Rung
from hvroll.drivers.base import (
    Capability,
    JobKind,
    JobPhase,
    JobProgress,
    MigrationOptions,
    has,
    require,
    require_workaround,
)
from hvroll.errors import DriverError
from hvroll.executor import ladder as lad
from hvroll.executor.checks import destination_problem, missing_workarounds, runs_once_on
from hvroll.executor.context import Agenda, Context, Effect, Layout
from hvroll.executor.history import (
    HopChoice,
    after_hop,
    after_workaround,
    hop_workarounds,
    planned_keys,
    state_key,
)
from hvroll.executor.runtime import Live
from hvroll.planner.model import MoveKind, Strategy
from hvroll.planner.replace import Readiness, replace
from hvroll.store import Attempt, AttemptRow, MigrationRecord
from hvroll.store.models import dumps, loads, loads_items

PRE_MIGRATION_ACTIONS = frozenset({"remove_balloon", "copy_config_drive"})
UNREAD_POLLS = 10
"""Polls in a row a job's progress may fail to be read with a retryable error (the backend's
API dropped a connection; the job itself goes on) before the attempt counts as failed."""
"""Workarounds applied to the VM before it moves; the others are options or telemetry."""


def held_beyond_destination(source: int, cluster: int, region: int, per_source: int,
                            per_cluster: int, per_region: int) -> bool:
    """Whether a migration out of a host is held by more than its destination: its source,
    cluster or region already runs as many migrations as the policy allows (``source``,
    ``cluster``, ``region``: how many run there). Every migration of the same drain is then
    held too (they share the source, cluster and region), so a drain stops at the first such
    one; one held only by its destination (``migrations_per_dest``) is passed over, and the
    migrations behind it, to other destinations, may start
    (:meth:`~hvroll.executor.hosts.HostSteps.advance`).

    >>> held_beyond_destination(2, 3, 3, 2, 8, 64), held_beyond_destination(1, 8, 8, 2, 8, 64)
    (True, True)
    >>> held_beyond_destination(1, 7, 64, 2, 8, 64), held_beyond_destination(1, 7, 63, 2, 8, 64)
    (True, False)
    """
    return source >= per_source or cluster >= per_cluster or region >= per_region


class MigrationRunner:
    """Starts migrations within the limits, follows them, climbs the ladder."""

    def __init__(self, ctx: Context, layout: Layout, agenda: Agenda) -> None:
        self.ctx = ctx
        self.layout = layout
        self.agenda = agenda
        self.live: dict[str, Live] = {}
        """Running jobs by job id."""
        self.unanswered: dict[str, None] = {}
        """Running jobs whose last progress read went unanswered (a dropped API connection),
        in the order they went so: read again at each turn, changed or not
        (:func:`~hvroll.executor.context.jobs_to_read`)."""
        self.by_source: Counter[str] = Counter()
        self.by_dest: Counter[str] = Counter()
        self.by_cluster: Counter[str] = Counter()
        self.by_region: Counter[str] = Counter()
        p = ctx.policy
        self.limits = (p.migrations_per_source, p.migrations_per_dest,
                       p.migrations_per_cluster, p.migrations_per_region)
        """The policy's limits on migrations at once per source, destination, cluster and
        region, read once: :meth:`room` is asked about 170,000 times in an enterprise run, and
        the policy is frozen for the run."""
        self.restart: list[tuple[MigrationRecord, Rung]] = []
        """Migrations whose job ended to restart on another rung, at the next tick."""
        self.requeued = 0
        """How many times a migration went back to pending, or the restart list was dropped
        (:meth:`drop_restarts`): a drain refused for room is looked at again in full only
        after one of these (:meth:`~hvroll.executor.hosts.HostSteps.advance`)."""
        self.unplaced: dict[int, str] = {}
        """Why a waiting migration has no destination now, by migration id."""
        self.to_host: dict[str, list[MigrationRecord]] = defaultdict(list)
        """Migrations by destination (stale entries are skipped: a row's ``dest`` decides)."""
        for row in layout.migrations:
            if row.state is MigrationState.PENDING:
                self.to_host[row.dest].append(row)
        self._caps_of: dict[tuple[str, str], frozenset[str]] = {}
        """Features both hosts and the driver support, by (source, destination) profile."""
        self._ladders: dict[tuple[frozenset[str], bool, bool, frozenset[Capability]],
                            tuple[tuple[Rung, ...], tuple[Rung, ...]]] = {}
        """:meth:`_ladder`'s answers, by its case."""
        self._steps_of: dict[int, tuple[tuple[float, int], ...]] = {}
        """The downtime schedule by VM RAM (the ladder's policy is fixed for a run)."""
        self._job_prefix = f"c{ctx.campaign.id}-m"
        """The start of the campaign's job ids: ``c<campaign>-m<migration>-a<attempt>``."""
        self.planned = planned_keys(ctx.fleet.vm_by_name, layout.migrations)
        """The :func:`state_key` of the state the plan expected each VM in before each hop
        (by migration id)."""

    # -- limits -----------------------------------------------------------------------------

    def room(self, row: MigrationRecord) -> bool:
        per_source, per_dest, per_cluster, per_region = self.limits
        return (self.by_source.get(row.source, 0) < per_source
                and self.by_dest.get(row.dest, 0) < per_dest
                and self.by_cluster.get(row.cluster, 0) < per_cluster
                and self.by_region.get(row.region, 0) < per_region)

    def held_beyond_destination(self, row: MigrationRecord) -> bool:
        """Whether ``row`` waits for room at its source, cluster or region, not only at its
        destination (:func:`held_beyond_destination`)."""
        per_source, _, per_cluster, per_region = self.limits
        return held_beyond_destination(
            self.by_source.get(row.source, 0), self.by_cluster.get(row.cluster, 0),
            self.by_region.get(row.region, 0), per_source, per_cluster, per_region)

    def _count(self, row: MigrationRecord, delta: int) -> None:
        self.by_source[row.source] += delta
        self.by_dest[row.dest] += delta
        self.by_cluster[row.cluster] += delta
        self.by_region[row.region] += delta
        if delta < 0:
            self.agenda.room_freed(row.region)

    # -- starting ---------------------------------------------------------------------------

    def start(self, row: MigrationRecord, effects: list[Effect], rung: Rung | None = None) -> bool:
        """Check, then write the intent of the next attempt and queue its effects. False when
        the migration cannot start now (no room, destination not ready, VMs still leaving
        the destination: a kept host making room for legacy VMs has it once they have left,
        not while both are on it)."""
        ex = self.ctx
        if not self.room(row) or self.by_source.get(row.dest, 0):
            self.agenda.unsure += 1
            return False
        vm = ex.state.vm(row.vm)
        if rung is None:
            where = ex.state.location.get(row.vm)
            if where == row.dest and row.attempts > 0:
                self._finish(row, MigrationState.COMPLETED, "already on its destination")
                return True
            if where != row.source:
                self._finish(row, MigrationState.SKIPPED,
                             f"expected on {row.source}, found on {where or 'no host'}")
                ex.event("migration_skipped", vm=row.vm, host=row.source, found=where)
                return True
            problem = self._problem(row)
            if problem or not self._dest_ok(row):
                if not self._replan(row):
                    self.agenda.unsure += 1
                    return False
                # another destination, or a changed view of it: ask again
                if not self.room(row):
                    self.agenda.unsure += 1
                    return False
                problem = self._problem(row)
        else:
            problem = self._problem(row)
        if problem:  # the roll-forward invariant, right before the intent is written
            ex.violation(problem, vm=row.vm, host=row.dest)
            self._finish(row, MigrationState.FAILED, problem)
            return True
        caps = self._caps(row.source, row.dest)
        local = vm.has_local_disk
        rungs, usable = self._ladder(caps, local, row.kind == _COLD)
        if not usable or (rung is not None and rung not in usable):
            missing = lad.missing(rung or rungs[0], ex.driver.capabilities, local_disk=local)
            self._finish(row, MigrationState.FAILED,
                         f"the {ex.driver.name} driver cannot move it: it does not declare "
                         f"{', '.join(c.value for c in missing)}")
            return True
        rungs = usable
        rung = rung or rungs[0]
        first = row.attempts == 0
        actions: tuple[str, ...] = ()
        if first:
            choice = self._choose_workarounds(row, vm)
            if choice.blocked:
                self._finish(row, MigrationState.FAILED, f"the rules block this hop for the VM "
                                                         f"as it is now: {choice.blocked}")
                return True
            actions = choice.workarounds
            unapplied = missing_workarounds(actions, ex.driver.capabilities)
            if unapplied:
                self._finish(row, MigrationState.FAILED,
                             f"not moved by the {ex.driver.name} driver: {unapplied}")
                return True
        row.attempts += 1
        job = f"{self._job_prefix}{row.id}-a{row.attempts}"
        schedule = self._schedule(vm.ram_mib)
        options, recorded = _options(
            schedule[0][1], auto_converge=rung is Rung.AUTO_CONVERGE,
            post_copy=Rung.POST_COPY in rungs and rung is not Rung.COLD,
            block=local or rung is Rung.BLOCK)
        now = ex.clock.now()
        name = rung.value
        ex.transition(row, MigrationState.STARTING, f"attempt {row.attempts} on {name}")
        row.job, row.rung = job, rung
        row.rungs = _with_rung(row.rungs, name)
        if row.started_s is None:
            row.started_s = now
        attempt = Attempt(migration_id=row.id, number=row.attempts, rung=rung, job=job,
                          options=recorded, started_s=now)
        ex.store.add_attempt(attempt)
        if ex.state.location.get(row.vm) != row.dest:
            ex.state.move(vm, row.dest)  # reserve the destination's capacity now
        self._count(row, +1)
        live = Live(row=row, attempt=attempt, rungs=rungs, schedule=schedule,
                    downtime_ms=options.max_downtime_ms, total_mib=vm.ram_mib)
        self.live[job] = live

        def effect() -> None:
            ex.lease.verify()
            try:
                if actions:  # a first attempt's, and most have none
                    self._workarounds(row, actions)
                if rung is Rung.COLD:
                    require(ex.driver, Capability.COLD_MIGRATION).cold_migrate(job, row.vm,
                                                                               row.dest)
                else:
                    require(ex.driver, Capability.LIVE_MIGRATION).migrate(job, row.vm,
                                                                          row.dest, options)
            except DriverError as exc:
                self._ended(live, JobProgress(job=job, kind=_kind(rung), phase=JobPhase.FAILED,
                                              error=str(exc)))
                return
            if row.state is MigrationState.STARTING:
                ex.transition(row, MigrationState.RUNNING, "the driver took the job")

        effects.append(effect)
        return True

    def _choose_workarounds(self, row: MigrationRecord, vm: Vm) -> HopChoice:
        """The workarounds of a hop's first attempt: the plan's where the hop goes where and
        as planned, else those of the rules asked again on the VM as it is now (``vm``)."""
        ex = self.ctx
        planned = self.planned.get(row.id)
        as_planned = (row.dest == row.planned_dest and planned is not None
                      and planned == state_key(vm))
        verdict = None
        if not as_planned:
            source, dest = ex.state.host[row.source], ex.state.host[row.dest]
            verdict = (ex.checker.migration(vm, source, dest) if row.kind == MoveKind.LIVE.value
                       else ex.checker.cold_migration(vm, source, dest))
        choice = hop_workarounds(planned=loads_items(row.workarounds), as_planned=as_planned,
                                 verdict=verdict)
        if choice.rejudged:
            ex.event("hop_rejudged", vm=row.vm, host=row.source, dest=row.dest,
                     planned=loads(row.workarounds) or [], workarounds=list(choice.workarounds),
                     blocked=choice.blocked or None,
                     migrations_since_power_cycle=vm.history.live_migrations_since_power_cycle,
                     balloon=vm.devices.balloon)
        return choice

    def _workarounds(self, row: MigrationRecord, actions: Sequence[str]) -> None:
        ex = self.ctx
        applied = []
        original = ex.fleet.vm_by_name[row.vm]
        for action in actions:
            if action in PRE_MIGRATION_ACTIONS:
                require_workaround(ex.driver, action).apply_workaround(row.vm, action)
                applied.append(action)
                ex.state.current[row.vm] = after_workaround(ex.state.vm(row.vm), action,
                                                            original)
        if applied:
            row.applied = dumps(applied)
            ex.event("workaround_applied", vm=row.vm, host=row.source, actions=applied)

    def _ladder(self, caps: frozenset[str], local: bool, cold: bool,
                ) -> tuple[tuple[Rung, ...], tuple[Rung, ...]]:
        """The rungs open to a hop (:func:`~hvroll.executor.ladder.ladder`, only
        :attr:`~hvroll.executor.ladder.Rung.COLD` for a cold one) and those of them the driver
        can climb (:func:`~hvroll.executor.ladder.usable`): both depend only on
        the hosts' features, the VM's local disks, the hop's kind, the ladder's policy (fixed
        for a run) and the driver's declared capabilities, so they are worked out once per
        distinct such case (the declaration is part of the key: it is still consulted before
        each attempt)."""
        ex = self.ctx
        declared = ex.driver.capabilities
        key = (caps, local, cold, declared)
        found = self._ladders.get(key)
        if found is None:
            rungs = [Rung.COLD] if cold else lad.ladder(caps, ex.ladder_policy, local_disk=local)
            found = self._ladders[key] = (
                tuple(rungs), tuple(lad.usable(rungs, declared, local_disk=local)))
        return found

    def _schedule(self, ram_mib: int) -> tuple[tuple[float, int], ...]:
        """The downtime schedule of a VM with ``ram_mib`` of RAM
        (:func:`~hvroll.executor.ladder.downtime_steps`), worked out once per distinct RAM."""
        found = self._steps_of.get(ram_mib)
        if found is None:
            found = self._steps_of[ram_mib] = tuple(lad.downtime_steps(self.ctx.ladder_policy,
                                                                       ram_mib))
        return found

    def _caps(self, source: str, dest: str) -> frozenset[str]:
        ex = self.ctx
        key = (ex.state.host[source].profile, ex.state.host[dest].profile)
        found = self._caps_of.get(key)
        if found is None:
            both = capabilities(ex.state.profile(source), ex.state.profile(dest))
            driver = {c.value for c in ex.driver.capabilities}
            extra: set[str] = {c for c in (Capability.SUSPEND.value,
                                           Capability.COLD_MIGRATION.value) if c in driver}
            if Capability.POST_COPY.value in both and Capability.POST_COPY_BLOCK in driver:
                extra.add(Capability.POST_COPY_BLOCK.value)
            found = self._caps_of[key] = frozenset((set(both) & driver) | extra)
        return found

    def _dest_ok(self, row: MigrationRecord) -> bool:
        ex = self.ctx
        vm = ex.fleet.vm_by_name[row.vm]
        dest_up = ex.host_up(row.dest)
        return dest_up and ex.state.fits(vm, row.dest) and ex.state.anti_affinity_ok(vm, row.dest)

    def _problem(self, row: MigrationRecord) -> str:
        """Why ``row`` must not start towards its destination now (the roll-forward
        invariant, :func:`~hvroll.executor.checks.destination_problem`), or ``""``."""
        ex, layout = self.ctx, self.layout
        return destination_problem(
            vm=row.vm, dest=row.dest, readiness=layout.readiness(row.dest),
            source_rank=ex.state.rank(row.source), dest_rank=ex.state.rank(row.dest),
            required_rank=layout.target_rank(row.source), planned=row.dest == row.planned_dest,
            may_wait=layout.may_wait(row))

    def _replan(self, row: MigrationRecord, why: str = "") -> bool:
        """Reality differs from the plan (destination failed, skipped, down, full, not
        ready): choose another destination with the planner's :func:`replace`; False if none
        now (the reason is kept in :attr:`unplaced` and recorded once)."""
        ex = self.ctx
        vm = ex.state.vm(row.vm)
        layout = self.layout
        hosts: dict[str, Readiness] = {}
        down: list[str] = []
        for h in layout.cluster_hosts(row.cluster, ex.fleet):
            if h == row.source:
                continue
            if ex.host_up(h):
                hosts[h] = layout.readiness(h)
            else:
                down.append(h)
        live = row.kind == MoveKind.LIVE.value
        choice = replace(ex.state, ex.checker, vm, row.source, hosts,
                         required_rank=layout.target_rank(row.source),
                         may_wait=self.ctx.plan.strategy is not Strategy.ROLL_FORWARD,
                         live=live, down=down)
        if choice.dest is None:
            if self.unplaced.get(row.id) != choice.reason:
                ex.event("migration_unplaced", choice.reason, vm=row.vm, host=row.source,
                         planned=row.dest)
            self.unplaced[row.id] = choice.reason
            return False
        self.unplaced.pop(row.id, None)
        if choice.dest != row.dest:
            ex.event("migration_replanned", why, vm=row.vm, host=row.source, planned=row.dest,
                     dest=choice.dest)
            row.dest = choice.dest
            self.to_host[row.dest].append(row)
        return True

    def redirect(self, host: str, why: str) -> None:
        """``host`` will not be upgraded (its step failed or was skipped): every waiting
        migration planned to it gets another destination now, or keeps waiting with the
        reason it has none (then it fails with that reason if none ever comes)."""
        for row in list(self.to_host.pop(host, ())):
            if row.state is MigrationState.PENDING and row.dest == host:
                self._replan(row, why)

    # -- after a restart ----------------------------------------------------------------------

    def adopt(self, row: MigrationRecord, stored: AttemptRow, progress: JobProgress) -> None:
        """Follow again the job of ``stored`` that the driver still knows (reconciliation):
        it counts against the limits, reserves its destination, and ends at once if final."""
        ex = self.ctx
        attempt = Attempt.of(stored)
        vm = ex.fleet.vm_by_name[row.vm]
        rungs = self._rungs(row)
        options = loads(attempt.options) or {}
        live = Live(row=row, attempt=attempt, rungs=rungs,
                    schedule=lad.downtime_steps(ex.ladder_policy, vm.ram_mib),
                    downtime_ms=int(options.get("max_downtime_ms", ex.policy.downtime_ms)),
                    total_mib=vm.ram_mib,
                    in_place=row.rung if row.rung in IN_PLACE_RUNGS else None)
        # A suspended guest is resumed when its job completes, even if it was suspended by
        # the run that stopped.
        self.live[attempt.job] = live
        self._count(row, +1)
        if ex.state.location.get(row.vm) != row.dest:
            ex.state.move(vm, row.dest)
        if row.state is MigrationState.STARTING:
            ex.transition(row, MigrationState.RUNNING,
                          "reconcile: adopted the job the driver still has")
        if progress.final:
            self._ended(live, progress)

    def _rungs(self, row: MigrationRecord) -> list[Rung]:
        """The rungs open to ``row`` that the driver can climb, as :meth:`start` finds them."""
        ex = self.ctx
        vm = ex.fleet.vm_by_name[row.vm]
        caps = self._caps(row.source, row.dest)
        rungs = ([Rung.COLD] if row.kind == MoveKind.COLD.value
                 else lad.ladder(caps, ex.ladder_policy, local_disk=vm.has_local_disk))
        return lad.usable(rungs, ex.driver.capabilities, local_disk=vm.has_local_disk)

    def resume(self, row: MigrationRecord, last: AttemptRow) -> None:
        """A pending migration whose attempt ``last`` ended (a retry or a climb the run that
        stopped had not started yet) restarts on the rung that run had chosen, recomputed
        from its records (:func:`~hvroll.executor.ladder.resumed_rung`), not on the first."""
        history = [Rung(r) for r in loads(row.rungs) or []]
        rung = lad.resumed_rung(history, last.phase, self._rungs(row),
                                self.ctx.ladder_policy)
        if rung is not None:
            self.restart.append((row, rung))

    def complete(self, row: MigrationRecord, why: str) -> None:
        self._finish(row, MigrationState.COMPLETED, why)

    def redo(self, row: MigrationRecord, why: str, stored: AttemptRow | None = None) -> None:
        """Back to pending: the intent ``stored`` (the row's last attempt) never reached the
        cloud. It was not an attempt: its record is dropped and the migration starts again as
        that same attempt — same number, same job id, same rung — as it would have had the
        process not stopped between writing the intent and asking the driver. Counting it
        made the restarted run differ from an uninterrupted one: one attempt more, and a new
        job id, which the simulator's draws are keyed by (and which the reinstall-retry and
        attempt limits count)."""
        if stored is not None and stored.number == row.attempts:
            self.ctx.store.drop_attempt(row.id, stored.number)
            row.attempts -= 1
            row.rungs = dumps((loads(row.rungs) or [])[:-1])
            self.restart.append((row, stored.rung))
        self._back_to_pending(row, why)

    # -- following --------------------------------------------------------------------------

    def observe(self, job: str, effects: list[Effect]) -> None:
        live = self.live.get(job)
        if live is None:
            self.unanswered.pop(job, None)
            return
        try:
            progress = self.ctx.driver.job(job)
        except DriverError as exc:
            live.unread += 1
            if exc.retryable and live.unread < UNREAD_POLLS:
                # the job goes on in the cloud (a dropped API connection): ask again
                self.ctx.event("driver_error", str(exc), vm=live.row.vm, host=live.row.source)
                self.unanswered[job] = None
                return
            progress = JobProgress(job=job, kind=JobKind.LIVE_MIGRATION, phase=JobPhase.FAILED,
                                   error=str(exc))
        else:
            live.unread = 0
        self.unanswered.pop(job, None)
        self.follow(live, progress, effects)

    def follow(self, live: Live, p: JobProgress, effects: list[Effect]) -> None:
        if p.final:
            self._ended(live, p)
            return
        if live.climb_to is not None or live.fail_reason or live.stopping:
            return  # an abort is on its way
        live.total_mib = max(live.total_mib, p.total_mib)
        row = live.row
        if self.ctx.logs_progress:
            self.ctx.progress(p.job, vm=row.vm, host=row.source, dest=row.dest,
                              rung=row.rung.value, iteration=p.iteration,
                              elapsed_s=round(p.elapsed_s, 1),
                              remaining_mib=round(p.remaining_mib, 1),
                              processed_mib=round(p.processed_mib, 1))
        if not live.samples or live.samples[-1].iteration != p.iteration:
            live.samples.append(lad.Sample(p.iteration, p.remaining_mib, p.processed_mib))
        if live.in_place is not None or p.phase is JobPhase.POSTCOPY:
            return
        decision = lad.decide(rung=live.row.rung, rungs=live.rungs, elapsed_s=p.elapsed_s,
                              samples=live.samples, total_mib=live.total_mib,
                              downtime_ms=live.downtime_ms, schedule=live.schedule,
                              policy=self.ctx.ladder_policy)
        self._act(live, decision, effects)

    def _act(self, live: Live, d: lad.Decision, effects: list[Effect]) -> None:
        ex = self.ctx
        job = live.attempt.job
        row = live.row
        if d.act is lad.Act.WAIT:
            return
        if d.act is lad.Act.RAISE_DOWNTIME:
            live.downtime_ms = d.downtime_ms
            live.samples.clear()
            if not has(ex.driver, Capability.MAX_DOWNTIME):
                return  # the backend keeps its own limit; the ladder goes on observing
            effects.append(lambda: self._safe(lambda: require(
                ex.driver, Capability.MAX_DOWNTIME).set_max_downtime(job, d.downtime_ms)))
            ex.event("downtime_raised", vm=row.vm, host=row.source, downtime_ms=d.downtime_ms,
                     reason=d.reason)
            return
        if d.act is lad.Act.CLIMB and d.rung in IN_PLACE_RUNGS:
            assert d.rung is not None
            live.in_place = d.rung
            row.rung = d.rung
            row.rungs = dumps([*(loads(row.rungs) or []), d.rung.value])
            if d.rung is Rung.POST_COPY:
                effects.append(lambda: self._safe(lambda: self._post_copy(live)))
            else:
                effects.append(lambda: self._safe(lambda: self._suspend(live)))
            ex.event("ladder_climbed", vm=row.vm, host=row.source, rung=d.rung.value,
                     reason=d.reason)
            return
        if d.act is lad.Act.CLIMB:
            live.climb_to = d.rung
        else:
            live.fail_reason = d.reason
        effects.append(lambda: self._safe(lambda: require(
            ex.driver, Capability.LIVE_MIGRATION).abort(job)))
        ex.event("ladder_climbed" if d.rung else "migration_giving_up", vm=row.vm,
                 host=row.source, rung=d.rung.value if d.rung else None, reason=d.reason)

    def _post_copy(self, live: Live) -> None:
        require(self.ctx.driver, Capability.POST_COPY).start_post_copy(live.attempt.job)
        live.postcopy_s = self.ctx.clock.now()

    def _suspend(self, live: Live) -> None:
        """Pause the guest so that its job completes: its downtime starts now."""
        ex, row = self.ctx, live.row
        require(ex.driver, Capability.SUSPEND).suspend(row.vm)
        live.suspended_s = ex.clock.now()
        ex.event("guest_suspended", vm=row.vm, host=row.source, job=live.attempt.job)

    def _resume(self, live: Live, host: str) -> float | None:
        """Resume a guest paused by :meth:`_suspend`; the pause it had, in ms (suspend to
        resume), when known."""
        ex, row = self.ctx, live.row
        self._safe(lambda: require(ex.driver, Capability.SUSPEND).resume(row.vm))
        since = live.suspended_s
        if since is None:  # suspended by a run that stopped: its record says when
            since = self._suspended_at(live)
        paused_ms = None if since is None else (ex.clock.now() - since) * 1000.0
        ex.event("guest_resumed", vm=row.vm, host=host, job=live.attempt.job,
                 paused_ms=None if paused_ms is None else round(paused_ms, 3))
        return paused_ms

    def _suspended_at(self, live: Live) -> float | None:
        """When the guest of ``live`` was suspended, from the records of the run that did it:
        its ``guest_suspended`` event, else (killed before that was committed) the decision
        to climb to suspend, committed before the suspend itself."""
        ex, row = self.ctx, live.row
        found = [e.t_s for e in ex.store.events("guest_suspended")
                 if e.vm == row.vm and (loads(e.data) or {}).get("job") == live.attempt.job]
        if not found:
            found = [e.t_s for e in ex.store.events("ladder_climbed")
                     if e.vm == row.vm and (loads(e.data) or {}).get("rung")
                     == Rung.SUSPEND.value and e.t_s >= live.attempt.started_s]
        return found[-1] if found else None

    def _safe(self, call: Callable[[], None]) -> None:
        try:
            call()
        except DriverError as exc:
            self.ctx.event("driver_error", message=str(exc))

    def _ended(self, live: Live, p: JobProgress) -> None:
        ex = self.ctx
        row, attempt = live.row, live.attempt
        job = attempt.job
        if job not in self.live:
            return
        del self.live[job]
        self._count(row, -1)
        now = ex.clock.now()
        attempt.finished_s, attempt.phase = now, p.phase.value
        attempt.elapsed_s, attempt.sent_mib = p.elapsed_s, p.processed_mib
        attempt.iterations, attempt.downtime_ms = p.iteration, p.downtime_ms
        attempt.error = p.error or ""
        ex.store.attempt_ended(attempt)
        if p.phase is JobPhase.COMPLETED:
            downtime = p.downtime_ms
            if live.in_place is Rung.SUSPEND:
                paused_ms = self._resume(live, row.dest)
                if paused_ms is not None:  # the guest was paused from suspend to resume
                    downtime = max(downtime or 0.0, paused_ms)
            elif live.in_place is Rung.POST_COPY and live.postcopy_s is not None:
                ex.event("postcopy_finished", vm=row.vm, host=row.dest,
                         postcopy_s=round(now - live.postcopy_s, 3),
                         downtime_ms=p.downtime_ms)
            attempt.downtime_ms = downtime
            row.elapsed_s, row.sent_mib = p.elapsed_s, p.processed_mib
            row.iterations, row.downtime_ms = p.iteration, downtime
            row.dirty_rate_mib_s = p.dirty_rate_mib_s or None
            self._carry(row)
            self._finish(row, MigrationState.COMPLETED, "")
            self._post_check(row)
            return
        ex.state.undo_to(ex.fleet.vm_by_name[row.vm], row.source)
        if live.in_place is Rung.SUSPEND:
            self._resume(live, row.source)  # the guest stays on its source: it runs again
        if live.stopping:
            self._back_to_pending(row, "cancelled: the campaign is aborting")
            return
        if live.climb_to is not None:
            self.restart.append((row, live.climb_to))
            self._back_to_pending(row, f"restart on {live.climb_to.value}")
            return
        if live.fail_reason:
            self._finish(row, MigrationState.FAILED, live.fail_reason)
            return
        reason = p.error or p.phase.value
        rung = row.rung
        history = [Rung(r) for r in loads(row.rungs) or []]
        then = lad.after_failure(history, live.rungs, ex.ladder_policy)
        if then is rung:
            self.restart.append((row, rung))
            self._back_to_pending(row, f"retry on {rung.value}: {reason}")
            ex.event("migration_retry", vm=row.vm, host=row.source, rung=rung.value,
                     reason=reason)
            return
        if then is not None:
            self.restart.append((row, then))
            self._back_to_pending(row, f"restart on {then.value}: {reason}")
            return
        self._finish(row, MigrationState.FAILED, reason)

    def _carry(self, row: MigrationRecord) -> None:
        """The VM's state after its hop completed (:func:`~hvroll.executor.history.after_hop`).

        A hop that leaves the guest's CPU as it is (a live one, or a cold one of a guest that
        is not ``host-model``) is handed to the state to apply when the VM is next asked for
        (:meth:`~hvroll.planner.state.PlanState.carry`: ``after_hop`` is then ``after_move``,
        which that applies): most VMs move once and are never asked for again. A cold hop of
        a ``host-model`` guest also takes the destination's CPU: applied now, as before. A
        guest's CPU mode is the inventory's for good (``after_move`` keeps the CPU, a
        ``host-model`` guest's new CPU is ``host-model``), so the state's VM, even with hops
        not yet applied, tells which case this is."""
        ex = self.ctx
        live = row.rung is not Rung.COLD
        if live or ex.state.current[row.vm].cpu.mode is not CpuMode.HOST_MODEL:
            ex.state.carry(row.vm, live=live, workarounds=loads_items(row.applied))
            return
        dest = ex.state.host[row.dest]
        ex.state.current[row.vm] = after_hop(
            ex.state.vm(row.vm), live=live,
            workarounds=loads_items(row.applied), original=ex.fleet.vm_by_name[row.vm],
            dest=(ex.fleet.generation_of(dest), ex.state.profile(row.dest)))

    def skip(self, row: MigrationRecord, why: str) -> None:
        """Nothing to do any more for a migration that never started."""
        self._finish(row, MigrationState.SKIPPED, why)

    def fail(self, row: MigrationRecord, why: str) -> None:
        self._finish(row, MigrationState.FAILED, why)

    def _back_to_pending(self, row: MigrationRecord, reason: str) -> None:
        self.ctx.transition(row, MigrationState.PENDING, reason)
        row.job = None
        self.requeued += 1

    def drop_restarts(self) -> None:
        """Forget the migrations waiting to restart (the campaign is aborting): they stay
        pending."""
        self.restart.clear()
        self.requeued += 1

    def _finish(self, row: MigrationRecord, state: MigrationState, error: str) -> None:
        ex = self.ctx
        ex.transition(row, state, error)
        row.finished_s = ex.clock.now()
        row.error = error
        if row.step_id is None:  # a return migration: its end may end its wave
            self.agenda.touched(row.cluster)
        else:
            self.agenda.drain_ended(row.cluster)
        if state is MigrationState.FAILED:
            ex.event("migration_failed", vm=row.vm, host=row.source, dest=row.dest,
                     reason=error)

    def _post_check(self, row: MigrationRecord) -> None:
        """Running once, on the destination, reachable if it was before."""
        ex = self.ctx
        try:
            seen = ex.driver.vm(row.vm)
        except DriverError as exc:
            ex.violation(f"{row.vm}: cannot be found after its migration ({exc})", vm=row.vm)
            return
        problem = runs_once_on(seen, row.dest)
        if problem:
            ex.violation(problem, vm=row.vm)
            return
        if self.layout.was_unreachable(row.source, row.vm):
            return
        if has(ex.driver, Capability.PROBE) \
                and not require(ex.driver, Capability.PROBE).probe(row.vm):
            ex.violation(f"{row.vm} does not answer on {row.dest} after its migration "
                         f"(it did before)", vm=row.vm)


def _kind(rung: Rung) -> JobKind:
    return JobKind.COLD_MIGRATION if rung is Rung.COLD else JobKind.LIVE_MIGRATION


_COLD = MoveKind.COLD.value


@functools.lru_cache(maxsize=1024)
def _with_rung(rungs: str, rung: str) -> str:
    """A migration's ``rungs`` column with ``rung`` added at its end: worked out once per
    distinct (column, rung) — a run writes the same few lists again and again (26,299
    ``json.dumps`` per enterprise run)."""
    return dumps([*loads_items(rungs), rung])


@functools.lru_cache(maxsize=256)
def _options(max_downtime_ms: int, *, auto_converge: bool, post_copy: bool,
             block: bool) -> tuple[MigrationOptions, str]:
    """An attempt's options and the same as recorded with it, in JSON: made once per distinct
    options (a run uses a handful: its downtime steps, auto-converge, post-copy, block), not
    once per attempt (the options are frozen: every attempt with them shares them)."""
    options = MigrationOptions(max_downtime_ms=max_downtime_ms, auto_converge=auto_converge,
                               post_copy=post_copy, block=block)
    return options, dumps({f.name: getattr(options, f.name)
                           for f in dataclasses.fields(options)})
