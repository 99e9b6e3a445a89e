"""Host steps: disable scheduling → pre-checks → drain → safety check → reinstall → verify →
enable scheduling.

:class:`HostSteps` advances each step of the current waves, queues the side effects whose
intents it has written, and follows reinstall jobs. The drain itself is the
:class:`~hvroll.executor.migrations.MigrationRunner`'s; a host is reinstalled only after the
driver — not the store — says it is empty, and only while this run holds the lease.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from itertools import islice

from hvroll.domain import SchedulingState
from hvroll.domain.states import TERMINAL_HOST, HostStepState, MigrationState
from hvroll.drivers.base import Capability, JobPhase, has, require
from hvroll.errors import DriverError
from hvroll.executor.checks import host_is_empty
from hvroll.executor.context import Agenda, Context, Effect, Layout
from hvroll.executor.migrations import UNREAD_POLLS, MigrationRunner
from hvroll.store import MigrationRecord, StepRecord
from hvroll.store.models import dumps

OUT_OF_SERVICE = frozenset({HostStepState.DISABLING, HostStepState.DRAINING,
                            HostStepState.DRAINED, HostStepState.REINSTALLING,
                            HostStepState.VERIFYING})
"""A host in these states takes no new VMs: it is being emptied, is empty or is reinstalled."""
REINSTALLING = frozenset({HostStepState.REINSTALLING, HostStepState.VERIFYING})
TO_DRAIN = frozenset({HostStepState.PENDING, HostStepState.DISABLING, HostStepState.DRAINING})
ADVANCING = frozenset({HostStepState.PENDING, HostStepState.DISABLING, HostStepState.DRAINING,
                       HostStepState.DRAINED, HostStepState.VERIFYING})
"""The states in which :meth:`HostSteps.advance` may do something: in any other (a reinstall
under way, whose job's end moves the step on, or a terminal state) it reads nothing and
changes nothing, so a caller need not call it for such a step."""
GIVEN_BACK = frozenset({HostStepState.DISABLING, HostStepState.DRAINING, HostStepState.DRAINED})
"""States of a host taken out of service and not reinstalled: an abort gives it back."""
_out = OUT_OF_SERVICE.__contains__


def early_starts(current: Sequence[HostStepState], later: Sequence[HostStepState],
                 free: Callable[[int], bool], k: int, ahead: int = 1) -> list[int]:
    """Which steps of a cluster's next wave start now, beside its current wave (under
    ``roll-forward``): once every host of the current wave has drained, the next wave's
    pending steps (``later``: their states) whose drain may start (``free(i)``: every
    destination of step ``i``'s drain is ready and no VM is still on its way to its host;
    asked only of a step that could start), in order, while fewer than ``k + ahead`` of the
    cluster's hosts are out of service — each start makes ``k + ahead`` at most: ``k``
    reinstalled, or drained, and ``ahead`` more (the policy's ``drain_ahead``). (The caller
    holds a drained host out of its reinstall while ``k`` are reinstalled:
    :func:`reinstall_room`.) The next wave waits for the current one's drains, so that
    they do not share the destinations' links and the limits with it: the current wave's
    reinstalls start as soon as they can, and the next wave's drains still run beside them.

    Four hosts a wave: the current wave's are being reinstalled or drained, so one host of
    the next starts; once one of them is done, one more; a host whose destinations are not
    ready waits, and does not hold the ones behind it; nothing starts while a host of the
    current wave waits to start or drains:

    >>> P, D, R = HostStepState.PENDING, HostStepState.DONE, HostStepState.REINSTALLING
    >>> early_starts([R, R, R, HostStepState.DRAINED], [P, P, P, P], lambda i: True, 4)
    [0]
    >>> early_starts([D, R, R, R], [R, P, P, P], lambda i: i != 1, 4)
    [2]
    >>> early_starts([D, D, R, P], [P], lambda i: True, 4)
    []
    >>> early_starts([R, R, R, HostStepState.DRAINING], [P, P, P, P], lambda i: True, 4)
    []

    Two ahead: two hosts of the next wave start beside the four of the current one:

    >>> early_starts([R, R, R, HostStepState.DRAINED], [P, P, P, P], lambda i: True, 4, 2)
    [0, 1]
    """
    if any(s in TO_DRAIN for s in current):
        return []
    out = sum(map(_out, current)) + sum(map(_out, later))
    starts = []
    for i, state in enumerate(later):
        if out >= k + ahead:
            break
        if state is HostStepState.PENDING and free(i):
            starts.append(i)
            out += 1
    return starts


def receivers_ready(receivers: Sequence[HostStepState], canary_wave: bool) -> bool:
    """Whether the hosts of a cluster's wave that drain into its receivers (``receivers``:
    their states; the spares of the canary wave) may start: once every receiver has ended;
    in the canary wave once one of them is upgraded, the drain then sending each VM only
    when its destination is (:meth:`HostSteps.advance`), so that the canary drains while
    the slower spares are still reinstalled.

    >>> D, R, F = HostStepState.DONE, HostStepState.REINSTALLING, HostStepState.FAILED
    >>> receivers_ready([D, R], True), receivers_ready([D, R], False)
    (True, False)
    >>> receivers_ready([R, R], True), receivers_ready([F, D], False), receivers_ready([], True)
    (False, True, True)
    """
    if all(s in TERMINAL_HOST for s in receivers):
        return True
    return canary_wave and any(s is HostStepState.DONE for s in receivers)


def reinstall_room(current: Sequence[HostStepState], later: Sequence[HostStepState],
                   k: int) -> bool:
    """Whether a host of a cluster's next wave, drained early, may be reinstalled now: every
    host of the current wave (``current``: its steps' states) has drained, so that their
    reinstalls come first, and fewer than ``k`` of the two waves' hosts are being
    reinstalled or verified.

    >>> R, V, D = HostStepState.REINSTALLING, HostStepState.VERIFYING, HostStepState.DRAINED
    >>> reinstall_room([R, V], [D], 3), reinstall_room([R, V], [R, D], 3)
    (True, False)
    >>> reinstall_room([R, HostStepState.DRAINING], [D], 3)
    False
    """
    if any(s in TO_DRAIN for s in current):
        return False
    return sum(s in REINSTALLING for s in current) + sum(s in REINSTALLING for s in later) < k


class HostSteps:
    """Advances host steps and follows their reinstall jobs."""

    def __init__(self, ctx: Context, layout: Layout, agenda: Agenda,
                 runner: MigrationRunner) -> None:
        self.ctx = ctx
        self.layout = layout
        self.agenda = agenda
        self.runner = runner
        self.reinstalls: dict[str, StepRecord] = {}
        """Reinstall jobs being followed, by job id."""
        steps = layout.steps
        self.has_canary = any(s.wave == 0 for s in steps)
        """Whether the plan has a canary wave (wave 0): each region then waits after its part
        of it for the operator's go."""
        self.open_canary_in: Counter[str] = Counter(
            s.region for s in steps if s.wave == 0 and s.state not in TERMINAL_HOST)
        """Unfinished steps of the canary wave, by region: the campaign holds for the
        operator's go once none is left."""
        self.open_drains_in: Counter[str] = Counter(
            s.region for s in steps if s.wave == 0 and s.canary and s.state not in TERMINAL_HOST)
        """Unfinished canary hosts' steps (their drains), by
        region: a region's later waves wait for its own; a cluster's waits for its own
        spares too (its current wave)."""
        self.failed: set[str] = {s.host for s in steps if s.state is HostStepState.FAILED}
        """Hosts with a failed step: the failed-host tolerance counts hosts, not steps."""
        self.refused: dict[int, tuple[MigrationRecord, int]] = {}
        """By draining step whose last look stopped for want of room at its source, cluster or
        region: the first migration that look found without room, and the runner's
        :attr:`~MigrationRunner.requeued` count then."""
        self.unanswered: dict[int, int] = {}
        """By step: its check (pre-checks, safety check, verification) asked in a row without
        an answer (the cloud's API dropped the connection); asked again at the next turn."""
        self.held: list[MigrationRecord] = []
        """The migrations the drains looked at passed over for want of room at their
        destination alone, in drains looked at to their end, in order (the caller empties
        it: :attr:`~hvroll.executor.context.Held.rows`)."""
        self.stopped: list[MigrationRecord] = []
        """One migration of each drain looked at that stopped because its source, cluster or
        region was full (the caller empties it: :attr:`~hvroll.executor.context.Held.stops`)."""
        self.unread_jobs: dict[str, None] = {}
        """Reinstall jobs whose last progress read went unanswered, read again at each turn
        (:func:`~hvroll.executor.context.jobs_to_read`)."""

    @property
    def open_canary(self) -> int:
        """Unfinished canary steps in every region."""
        return sum(self.open_canary_in.values())

    def canary_done(self, region: str) -> bool:
        return region not in self.open_canary_in

    def canary_drained(self, region: str) -> bool:
        """Whether every canary host of ``region`` has drained (or ended otherwise)."""
        return region not in self.open_drains_in

    def move(self, step: StepRecord, new: HostStepState, error: str = "") -> None:
        """The step's next state (through the table), with what follows from it: pending
        drain migrations of a failed or skipped host are skipped, the canary count, and an
        event ``host_<state>``."""
        ctx = self.ctx
        ctx.transition(step, new, error)
        if error:
            step.error = error
        if new in TERMINAL_HOST:
            step.finished_s = ctx.clock.now()
            if new is HostStepState.FAILED:
                self.failed.add(step.host)
            if new is not HostStepState.DONE:
                for row in self.layout.drain.get(step.id, ()):
                    if row.state is MigrationState.PENDING:
                        self.runner.skip(row, f"host {step.host} {new.value}")
            if step.wave == 0:
                self.open_canary_in[step.region] -= 1
                if self.open_canary_in[step.region] <= 0:
                    del self.open_canary_in[step.region]
                    self.agenda.dirty.update(self.layout.waves_of)  # waves after the canary
                if step.canary:
                    self.open_drains_in[step.region] -= 1
                    if self.open_drains_in[step.region] <= 0:
                        del self.open_drains_in[step.region]
                        self.agenda.dirty.update(self.layout.waves_of)
        self.agenda.touched(step.cluster)
        ctx.event(f"host_{new.value}", error, host=step.host, wave=step.wave)
        if new in (HostStepState.FAILED, HostStepState.SKIPPED):
            for later in self.layout.by_host.get(step.host, ()):
                if later.state is HostStepState.PENDING:  # one failure per host, not per step
                    self.move(later, HostStepState.SKIPPED,
                              f"the host {new.value} in wave {step.wave}")
            self.runner.redirect(step.host, f"{step.host} {new.value}: {error}".rstrip(": "))

    def advance(self, step: StepRecord, receivers_done: bool, failing: bool,
                effects: list[Effect], room: Callable[[], bool] | None = None) -> None:
        """The step's next move, if it can make one now. ``room``: whether its cluster may
        start another reinstall (False: a drained host waits, out of service, for one of its
        cluster's reinstalls to end; None: it may), asked only of a drained step that would
        start its reinstall now — most looks at a step of a next wave are at its drain, which
        needs no answer."""
        state = step.state
        if state is HostStepState.PENDING:
            if failing:
                self.move(step, HostStepState.SKIPPED, "too many failed hosts")
                return
            if not step.receives and not receivers_done:
                return
            step.started_s = self.ctx.clock.now()
            self.move(step, HostStepState.DISABLING)
            effects.append(lambda: self._disable(step))
        elif state is HostStepState.DISABLING:
            if step.id in self.unanswered:  # its pre-checks went unanswered: ask again
                effects.append(lambda: self._disable(step))
        elif state is HostStepState.DRAINING:
            runner = self.runner
            refused = self.refused.get(step.id)
            if refused is not None and self._still_refused(*refused):
                self.agenda.block(step.cluster, step.region)
                self.stopped.append(refused[0])
                return
            rows, first = self.layout.open_drain(step.id)
            restarting = {r.id for r, _ in runner.restart} if runner.restart else ()
            held: MigrationRecord | None = None
            passed = len(self.held)
            for row in islice(rows, first, None):
                if row.state is not MigrationState.PENDING or row.id in restarting:
                    continue
                if step.wave == 0 and self._receiving_later(row.dest):
                    continue  # its destination, a spare of the canary wave, is not ready yet
                if not runner.room(row):  # start's first check, and it changes nothing
                    self.agenda.block(step.cluster, step.region)
                    held = held or row
                    if not runner.held_beyond_destination(row):
                        self.held.append(row)
                        continue  # its destination is busy: the ones behind it may start
                    self.refused[step.id] = (held, runner.requeued)
                    del self.held[passed:]  # held as long as the drain's own limits are
                    self.stopped.append(row)
                    break
                if not runner.start(row, effects):
                    self.agenda.block(step.cluster, step.region)
                    break
            if self.layout.open_drain(step.id)[1] == len(rows):  # every one has ended
                failed = [r.vm for r in rows if r.state is MigrationState.FAILED]
                if failed:
                    self.move(step, HostStepState.FAILED,
                              f"drain failed: {len(failed)} VM(s) could not move "
                              f"({', '.join(failed[:3])})")
                else:
                    self.move(step, HostStepState.DRAINED)
                    self.advance(step, receivers_done, failing, effects, room)
        elif state is HostStepState.DRAINED:
            if not step.reinstall:
                self.move(step, HostStepState.DONE)
                return
            if room is None or room():
                self._start_reinstall(step, effects)
        elif state is HostStepState.VERIFYING:
            effects.append(lambda: self._verify(step))

    def _receiving_later(self, host: str) -> bool:
        """Whether ``host`` is a receiver of the canary wave not yet done (its drains start
        once one receiver is: :func:`receivers_ready`): a VM sent there waits for it."""
        if any(s.wave == 0 and s.receives and s.state not in TERMINAL_HOST
               for s in self.layout.by_host.get(host, ())):
            self.agenda.unsure += 1  # read a destination's steps: the look is not held
            return True
        return False

    def _still_refused(self, row: MigrationRecord, requeued: int) -> bool:
        """Whether a drain whose last look stopped for want of room at its source, cluster or
        region, ``row`` being the first migration that look found without room, would stop
        at ``row`` again without looking at its other migrations: ``row`` still waits, its
        source, cluster or region is still full (so every migration of the drain is held:
        :func:`~hvroll.executor.migrations.held_beyond_destination`), and no migration went
        back to pending since (the migrations before it were then running, ended or waiting
        to restart, and still are). The look it saves would have changed nothing: a start
        refused for room has no effect."""
        runner = self.runner
        return (requeued == runner.requeued and row.state is MigrationState.PENDING
                and runner.held_beyond_destination(row))

    def _disable(self, step: StepRecord) -> None:
        driver = self.ctx.driver
        try:
            driver.set_scheduling(step.host, False)
            held = driver.host(step.host).vms
            unreachable = [vm for vm in held if has(driver, Capability.PROBE)
                           and not require(driver, Capability.PROBE).probe(vm)]
        except DriverError as exc:
            if not self._ask_again(step, exc):
                self.move(step, HostStepState.FAILED, f"pre-checks failed: {exc}")
            return
        self.unanswered.pop(step.id, None)
        step.unreachable_before = dumps(unreachable)
        if unreachable:
            self.ctx.event("precheck_unreachable", host=step.host, vms=unreachable)
        self.move(step, HostStepState.DRAINING)

    def _start_reinstall(self, step: StepRecord, effects: list[Effect]) -> None:
        ctx = self.ctx
        try:
            reason = host_is_empty(ctx.driver.host(step.host))
        except DriverError as exc:
            if self._ask_again(step, exc):
                return
            reason = str(exc)
        self.unanswered.pop(step.id, None)
        if reason:
            self.move(step, HostStepState.FAILED, f"safety check: {reason}; not reinstalled")
            ctx.event("safety_stop", reason, host=step.host)
            return
        step.reinstall_attempts += 1
        job = f"c{ctx.campaign.id}-h{step.id}-r{step.reinstall_attempts}"
        step.reinstall_job = job
        self.move(step, HostStepState.REINSTALLING)
        self.reinstalls[job] = step

        def effect() -> None:
            ctx.lease.verify()
            try:
                require(ctx.driver, Capability.REINSTALL).reinstall(job, step.host, step.target)
            except DriverError as exc:
                del self.reinstalls[job]
                self.move(step, HostStepState.FAILED, f"reinstall refused: {exc}")

        effects.append(effect)

    def _verify(self, step: StepRecord) -> None:
        ctx = self.ctx
        try:
            profile = ctx.driver.host_profile(step.host)
        except DriverError as exc:
            if not self._ask_again(step, exc):
                self.move(step, HostStepState.FAILED, f"verification failed: {exc}")
            return
        if profile != step.target:
            self.move(step, HostStepState.FAILED, f"reports profile {profile!r} after its "
                                                  f"reinstall (expected {step.target!r})")
            return
        ctx.state.upgrade(step.host, self.layout.targets[step.target])
        if not self._enable(step, "could not enable scheduling"):
            return
        self.unanswered.pop(step.id, None)
        self.move(step, HostStepState.DONE)

    def give_back(self, step: StepRecord) -> None:
        """The campaign is aborting and nothing runs any more: put a host it took out of
        service back into service, as the campaign would have. A reinstalled host
        (``VERIFYING``) is verified and enabled as in a run. A host taken out and not
        reinstalled (:data:`GIVEN_BACK`, or a pending step of a host drained for the canary
        wave: still on its old profile) gets scheduling enabled again — unless the inventory
        had it disabled — and its step is skipped. A host whose reinstall failed and was to be
        tried again stays disabled: it fails, for an operator to look at. A check the cloud's
        API does not answer is asked again, as in a run."""
        if step.state is HostStepState.VERIFYING:
            self._verify(step)
            return
        if step.reinstall_attempts:
            self.move(step, HostStepState.FAILED, "its reinstall failed and the campaign was "
                                                  "aborted before it was tried again")
            return
        ctx = self.ctx
        host = ctx.fleet.host_by_name.get(step.host)
        enable = host is None or host.scheduling is SchedulingState.ENABLED
        if enable and not self._enable(step, "could not enable scheduling after the abort"):
            return
        self.unanswered.pop(step.id, None)
        was = ("drained, waiting for its reinstall" if step.state is HostStepState.PENDING
               else step.state.value)
        self.move(step, HostStepState.SKIPPED,
                  f"the campaign was aborted while the host was {was}; "
                  + ("scheduling enabled again, " if enable else
                     "scheduling left disabled, as the inventory had it, ")
                  + "not reinstalled")

    def _enable(self, step: StepRecord, failed_as: str) -> bool:
        """Scheduling back on for ``step``'s host while this run holds the lease; False when
        the cloud did not do it: asked again at the next turn (:meth:`_ask_again`), or the
        host failed (``failed_as: error``)."""
        self.ctx.lease.verify()
        try:
            self.ctx.driver.set_scheduling(step.host, True)
        except DriverError as exc:
            if not self._ask_again(step, exc):
                self.move(step, HostStepState.FAILED, f"{failed_as}: {exc}")
            return False
        return True

    def _ask_again(self, step: StepRecord, exc: DriverError) -> bool:
        """Whether ``step``'s check that failed with ``exc`` is asked again at the next turn
        (the step stays where it is) rather than failing the host: when the error is
        retryable — the cloud's API dropped the connection, say — and fewer than
        ``UNREAD_POLLS`` such answers came in a row. Each one is recorded (``driver_error``)."""
        if not exc.retryable:
            return False
        count = self.unanswered[step.id] = self.unanswered.get(step.id, 0) + 1
        if count >= UNREAD_POLLS:
            return False
        self.ctx.event("driver_error", str(exc), host=step.host)
        self.agenda.touched(step.cluster)
        return True

    def reinstall_progress(self, job: str) -> None:
        """Follow a reinstall job: verify after success, retry once, then fail the host."""
        ctx = self.ctx
        step = self.reinstalls[job]
        try:
            progress = ctx.driver.job(job)
        except DriverError as exc:
            ctx.event("driver_error", str(exc), host=step.host)
            self.unread_jobs[job] = None
            return
        self.unread_jobs.pop(job, None)
        if not progress.final:
            return
        del self.reinstalls[job]
        if progress.phase is JobPhase.COMPLETED:
            self.move(step, HostStepState.VERIFYING)
            return
        if step.reinstall_attempts <= 1:
            ctx.event("reinstall_retry", progress.error or "", host=step.host)
            ctx.transition(step, HostStepState.DRAINED,
                           f"reinstall retry: {progress.error or progress.phase.value}")
            self.agenda.touched(step.cluster)
            return
        self.move(step, HostStepState.FAILED, f"reinstall failed: {progress.error or ''}")
