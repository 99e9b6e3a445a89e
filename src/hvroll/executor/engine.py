"""The campaign executor: one engine for every driver (simulated or real).

Each turn of the loop reads operator controls, advances host steps and starts migrations
within the limits, commits the intents of everything it is about to do, does it, then waits
for the cloud and follows what changed. On start it reconciles every unfinished step with the
driver's live view before doing anything new. The clock is the driver's (virtual under the
simulator): the executor never sleeps for real there.

Host procedure: disable scheduling → pre-checks (record VMs already unreachable) → drain
(workarounds, the ladder, post-checks) → safety check: the driver says the host is empty →
reinstall hook → verify the host reports its target profile → enable scheduling.

The loop only sequences three units sharing one :class:`~hvroll.executor.context.Context`:
:class:`~hvroll.executor.hosts.HostSteps`, :class:`~hvroll.executor.migrations.MigrationRunner`
and :func:`~hvroll.executor.reconcile.reconcile`. A run holds the campaign's lease
(:mod:`hvroll.store.lease`) from its first write to its last.

**One executor per region** (``Executor(..., region="r1")``, ``hvroll run --region r1``):
regions never exchange VMs, so a region's host steps and migrations are driven by their own
executor, holding the region's own lease, with the region's own run state (a
:class:`~hvroll.store.RegionRunRow`, the campaign's lifecycle). The operator's requests apply
to every region: each region's executor takes each of them (it keeps the id of the last one
it took). A region's decisions only ever look at the region (its canary steps, its limits),
so it goes the same way whichever process drives it; the failed-host tolerance counts the
failed hosts of every region. The last region to end moves the campaign to its end.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from structlog.typing import FilteringBoundLogger

from hvroll.bulk import frozen, paused_gc
from hvroll.compat.verdict import Checker
from hvroll.domain.states import (
    STOPPED_CAMPAIGN,
    TERMINAL_CAMPAIGN,
    TERMINAL_HOST,
    TERMINAL_MIGRATION,
    CampaignState,
    ControlAction,
    HostStepState,
    MigrationState,
)
from hvroll.drivers.base import (
    Capability,
    Clock,
    Driver,
    WaitsUntil,
    has,
    implements,
    poll,
    require,
)
from hvroll.errors import CapabilityError, DriverError
from hvroll.executor.checks import audit, needed_capabilities
from hvroll.executor.context import (
    Agenda,
    Context,
    Effect,
    Held,
    Layout,
    jobs_to_read,
    silent_logger,
    still_held,
)
from hvroll.executor.hosts import (
    ADVANCING,
    GIVEN_BACK,
    TO_DRAIN,
    HostSteps,
    early_starts,
    receivers_ready,
    reinstall_room,
)
from hvroll.executor.ladder import LadderPolicy
from hvroll.executor.migrations import MigrationRunner
from hvroll.executor.reconcile import reconcile
from hvroll.planner.build import with_profiles
from hvroll.planner.model import Strategy
from hvroll.planner.replace import RECEIVING
from hvroll.planner.state import PlanState
from hvroll.store import CampaignRow, RegionRunRow, StepRecord, Store
from hvroll.store.lease import Lease

ADVANCED_EARLY = frozenset({HostStepState.DISABLING, HostStepState.DRAINING,
                            HostStepState.DRAINED, HostStepState.VERIFYING})
"""States of an early-started step in which its advance may do something (a reinstalled
host waits for its job)."""
CONTROL_EVERY = 50
"""Turns of the loop between two looks at the operator's controls; they are also read at each
renewal of the lease (every ``RENEW_EVERY_S`` of wall time), so on a real cloud, whose turns
last seconds, a pause or abort is taken within about that long, not 50 turns later."""
CLOCK_EVERY_S = 1.0
"""Wall seconds between two writes of the executor's clock into its run row (``clock_s``,
what 'status' and the dashboard show): also written on the first turn and at the end."""
IDLE_TURNS = 20
"""Turns with nothing in flight and nothing started before waiting work is declared stuck."""


@dataclass(frozen=True, slots=True)
class RunResult:
    state: CampaignState
    turns: int


class Executor:
    """Runs the campaign stored in ``store`` against ``driver``."""

    # Loading runs with the cyclic collector paused: it builds about a million objects (public
    # preset: the placement state, the records, the layout) that live as long as the run and
    # no garbage cycle, and the collections their allocations started walked them again and
    # again (1,097 collections, 2.6 s of a 7 s load). The run then freezes them for its length
    # (run: hvroll.bulk.frozen), so what is left is one collection of the young objects as
    # the load ends (about 0.5 s). Nothing is frozen here, so nothing stays frozen beyond a run.
    @paused_gc()
    def __init__(self, store: Store, driver: Driver, *, clock: Clock | None = None,
                 ladder_policy: LadderPolicy | None = None, poll_s: float = 5.0,
                 on_turn: Callable[[Executor], None] | None = None,
                 lease: Lease | None = None, log: FilteringBoundLogger | None = None,
                 region: str | None = None) -> None:
        self.store = store
        self.driver = driver
        self.clock = clock or driver.clock
        self.poll_s = poll_s
        self.on_turn = on_turn
        self.region = region
        """The region this executor drives (None: every region of the campaign)."""
        self.lease = lease or Lease(store, region=region)
        """This run's claim on the campaign (taken by :meth:`run` unless already held)."""
        if self.lease.region != region:
            raise ValueError(f"the lease guards region {self.lease.region!r}, not {region!r}")
        store.sync_to_disk(driver.durable)  # a rehearsal's state need not wait for the disk
        self.campaign = store.require_campaign()
        self.run_row: CampaignRow | RegionRunRow = (
            self.campaign if region is None else store.region_run(region))
        """Whose state this executor moves: the campaign's, or its region's."""
        plan = store.plan()
        fleet = store.fleet()
        if region is not None:  # regions never exchange VMs: a region's executor models its part
            fleet = fleet.region_part(region)
        fleet = with_profiles(fleet, plan.targets)
        policy = plan.policy
        state = PlanState(fleet)
        self.ctx = Context(
            store=store, driver=driver, clock=self.clock, lease=self.lease,
            campaign=self.campaign, plan=plan, policy=policy,
            ladder_policy=ladder_policy or LadderPolicy(
                downtime_ms=int(policy.downtime_ms), allow_suspend=policy.allow_suspend,
                allow_cold=policy.allow_cold_migration),
            fleet=fleet, checker=Checker(fleet), state=state,
            targets={p.name: p for p in plan.targets},
            violations=store.count_events("invariant_violation"),
            log=(log or silent_logger()).bind(campaign=Path(store.target).name,
                                              **({} if region is None else {"region": region})))
        self.steps = store.steps(region)
        self.migrations = store.migrations(region)
        self.ctx.wave_of = {m.vm: m.wave for m in self.migrations}
        self.agenda = Agenda()
        self.layout = Layout(self.steps, self.migrations, plan, state, self.agenda)
        self.agenda.dirty.update(self.layout.waves_of)
        self.runner = MigrationRunner(self.ctx, self.layout, self.agenda)
        self.hosts = HostSteps(self.ctx, self.layout, self.agenda, self.runner)
        if region is not None:  # a region without canary hosts still waits for the go
            self.hosts.has_canary = any(w.index == 0 and w.steps for w in plan.waves)
        self._later: dict[tuple[str, int], list[StepRecord] | None] = {}
        """By (cluster, wave): the steps of the wave after it that may start early, or None
        (no wave after it, or one that receives VMs or follows returns)."""
        self._free: set[int] = set()
        """Steps of a next wave found free to drain (:meth:`_free_to_drain`): they stay so."""
        self._received: set[str] = set()
        """Hosts found upgraded by this campaign: they stay so."""
        self.failed_elsewhere = 0
        """Failed hosts of the other regions (region mode; read with the controls)."""
        self.entity = "campaign" if region is None else "region"
        """The name of what this executor's events start, pause and end."""

    # -- the loop ----------------------------------------------------------------------------

    def run(self, *, max_turns: int | None = None) -> RunResult:
        """Run until the campaign ends, holds after its canary wave, or is paused.

        Takes the campaign's lease first unless the caller holds it (LeaseHeldError when
        another runner does), and gives it back at the end if it took it. The cyclic
        collector skips what was alive at the start for the length of the run
        (:func:`hvroll.bulk.frozen`): the load's rows, plan and models, which the run keeps."""
        own = not self.lease.held
        if own:
            self.lease.acquire()
        if isinstance(self.run_row, RegionRunRow):
            self.store.add(self.run_row)  # a new region's row: written with the lease held
            self.store.session.flush()
        try:
            taken = self.lease.takeover()
            if taken is not None and taken.previous is not None:
                prev = taken.previous
                self.ctx.event("lease_taken_over", f"took the campaign over from host "
                               f"{prev.host} pid {prev.pid} ({taken.verdict.value})",
                               previous_host=prev.host, previous_pid=prev.pid,
                               verdict=taken.verdict.value)
            with frozen():
                return self._run(max_turns)
        finally:
            if own:
                self.lease.release()

    def _run(self, max_turns: int | None) -> RunResult:
        camp, ctx = self.run_row, self.ctx
        if camp.state in TERMINAL_CAMPAIGN:
            self._end_campaign()
            return RunResult(camp.state, 0)
        self._preflight()
        if camp.state is CampaignState.PENDING:
            ctx.transition(camp, CampaignState.RUNNING, "started")
            camp.started_s = self.clock.now()
            if self.region is not None:
                self.store.campaign_moved(CampaignState.RUNNING, {CampaignState.PENDING},
                                          self.clock.now(), f"region {self.region} started")
            ctx.event(f"{self.entity}_started", strategy=ctx.plan.strategy.value,
                      hosts=len({s.host for s in self.steps}), migrations=len(self.migrations),
                      **self._where())
        reconcile(ctx, self.layout, self.agenda, self.hosts, self.runner)
        self.store.commit()
        turns = idle = 0
        clock_written = float("-inf")
        while True:
            turns += 1
            renewed = self.lease.tick()
            if renewed or turns % CONTROL_EVERY == 1:
                self._controls()
            state = camp.state
            if state in TERMINAL_CAMPAIGN:
                break
            effects: list[Effect] = []
            if state is CampaignState.RUNNING:
                self._schedule(effects)
            if state in STOPPED_CAMPAIGN and not self._busy():
                break
            wall = self.lease.wall()
            if wall - clock_written >= CLOCK_EVERY_S:
                # Not every turn: a simulated run's turns take milliseconds, and one write a
                # second is what 'status' and the dashboard show. (Before schema version 3 an
                # UPDATE of the campaign row also rewrote its plan and inventory on SQLite.)
                # On a real cloud a turn lasts poll_s.
                camp.clock_s = self.clock.now()
                clock_written = wall
            if effects:
                self.store.commit()  # the intents, before their side effects
                for effect in effects:
                    effect()
            if (camp.state is CampaignState.RUNNING and not self._busy()
                    and self.layout.finished()):
                self._complete()
                break
            if self.on_turn is not None:
                self.on_turn(self)
            if max_turns is not None and turns >= max_turns:
                break
            self._observe(self._wait())
            idle = 0 if (effects or self._busy()) else idle + 1
            if idle >= IDLE_TURNS:
                self._stuck()
                idle = 0
            if turns % CONTROL_EVERY == 0:
                self.store.commit()
        camp.clock_s = self.clock.now()
        self.store.commit()
        if camp.state in TERMINAL_CAMPAIGN:
            self._end_campaign()
        return RunResult(camp.state, turns)

    def _where(self) -> dict[str, str]:
        """The region, in the data of a region executor's own events."""
        return {} if self.region is None else {"region": self.region}

    def _end_campaign(self) -> None:
        """Region mode, once this region has ended (and committed it): when every region
        with work has ended, move the campaign to its end — failed if a region failed,
        aborted if one was aborted, else completed. Of two regions ending at once, at least
        the second to commit sees both ended; the campaign moves once (a conditional
        UPDATE)."""
        if self.region is None:
            return
        ends = self.store.region_ends()
        if ends is None:
            return
        final = (CampaignState.FAILED if CampaignState.FAILED in ends
                 else CampaignState.ABORTED if CampaignState.ABORTED in ends
                 else CampaignState.COMPLETED)
        now = self.clock.now()
        if self.store.campaign_moved(final, set(CampaignState) - TERMINAL_CAMPAIGN, now,
                                     f"every region ended (the last: {self.region})"):
            self.ctx.event(f"campaign_{final.value}", "every region ended",
                           regions={r: s.value for r, s in sorted(ends.items())})
            self.store.commit()

    def _preflight(self) -> None:
        """Before anything changes: every feature the unfinished work needs is declared by
        the driver (a campaign that reinstalls is refused by a driver that cannot)."""
        for cap, why in needed_capabilities(self.steps).items():
            if not has(self.driver, cap):
                raise CapabilityError(cap.value, self.driver.name,
                                      f"{why}, and it does not declare {cap.value!r}")

    def _wait(self) -> list[str]:
        """Every job that changed during the next ``poll_s`` of clock time: decisions are
        taken at that cadence, on everything that happened meanwhile (the driver's waits
        until the poll is over, :func:`~hvroll.drivers.base.poll`). A backend that answers
        the whole poll at once (:class:`~hvroll.drivers.base.WaitsUntil`: the simulator,
        whose wait returns at each event) is asked once."""
        driver, clock = self.driver, self.clock
        until = clock.now() + self.poll_s
        if clock is driver.clock and implements(type(driver), WaitsUntil):
            return cast(WaitsUntil, driver).wait_until(until)
        return poll(driver, until, clock)

    def _busy(self) -> bool:
        return bool(self.runner.live or self.hosts.reinstalls or self.runner.restart)

    def _controls(self) -> None:
        camp, ctx = self.run_row, self.ctx
        region_run = camp if isinstance(camp, RegionRunRow) else None
        if region_run is not None:
            self.failed_elsewhere = self.store.failed_hosts(besides=region_run.region)
        for control in self.store.pending_controls(
                None if region_run is None else region_run.controls_seen):
            state = camp.state
            action = ControlAction(control.action)
            if action is ControlAction.ABORT and state not in TERMINAL_CAMPAIGN:
                self._abort()  # before the request is marked taken (see _abort)
            if region_run is None:
                control.handled = True
            else:
                region_run.controls_seen = control.id
            if action is ControlAction.PAUSE and state is CampaignState.RUNNING:
                ctx.transition(camp, CampaignState.PAUSED, "operator: pause")
            elif action is ControlAction.RESUME and state in STOPPED_CAMPAIGN:
                camp.approved = True
                ctx.transition(camp, CampaignState.RUNNING, "operator: resume")
                self.agenda.dirty.update(self.layout.waves_of)
            elif action is ControlAction.RESUME and state is CampaignState.RUNNING:
                camp.approved = True
            elif action is ControlAction.ABORT and state not in TERMINAL_CAMPAIGN:
                continue
            else:
                ctx.event("control_ignored", action=action.value, state=state.value)
                continue
            ctx.event(f"{self.entity}_paused" if action is ControlAction.PAUSE
                      else f"{self.entity}_{action.value}d", action=action.value,
                      **self._where())
        self.store.commit()

    def _abort(self) -> None:
        """Stop at the next safe point: running live migrations are cancelled (their VMs stay
        on their source), reinstalls in progress are waited for, nothing new starts; then no
        host is left out of service that need not be
        (:meth:`~hvroll.executor.hosts.HostSteps.give_back`): a reinstalled host is verified
        and enabled, one taken out and not reinstalled is enabled again on its old profile.
        Crash-safe: the request is marked taken only with the campaign aborted, so a run
        that dies on the way leaves it for the next run, which aborts again."""
        ctx = self.ctx
        ctx.event(f"{self.entity}_aborting", **self._where())
        for live in self.runner.live.values():
            live.stopping = True
            job = live.attempt.job
            try:
                require(self.driver, Capability.LIVE_MIGRATION).abort(job)
            except DriverError as exc:
                ctx.event("driver_error", str(exc))
        while self._busy():
            self.lease.tick()
            self.runner.drop_restarts()
            changed = self.driver.wait(self.poll_s)
            self._observe(changed)
        hosts = self.hosts
        while out := self._out_of_service():
            for step in out:  # each ends skipped, done or failed, or is asked again
                hosts.give_back(step)  # (at most UNREAD_POLLS times)
            self.store.commit()
            if any(s.id in hosts.unanswered for s in out):
                self.lease.tick()
                self.driver.wait(self.poll_s)
        ctx.transition(self.run_row, CampaignState.ABORTED, "operator: abort")
        self.run_row.finished_s = self.clock.now()
        ctx.event(f"{self.entity}_aborted", **self._where())

    def _out_of_service(self) -> list[StepRecord]:
        """The steps of hosts this campaign holds out of service and no longer needs to:
        being disabled, drained or verified, and the pending step of a host drained for the
        canary wave (its reinstall comes in a later wave)."""
        drained = {s.host for s in self.steps
                   if s.state is HostStepState.DONE and not s.reinstall}
        return [s for s in self.steps if s.state in GIVEN_BACK
                or s.state is HostStepState.VERIFYING
                or (s.state is HostStepState.PENDING and s.host in drained)]

    # -- scheduling ----------------------------------------------------------------------------

    def _block(self, cluster: str) -> None:
        self.agenda.block(cluster, self.ctx.fleet.cluster_by_name[cluster].region)

    def _schedule(self, effects: list[Effect]) -> None:
        camp, ctx, layout, agenda = self.run_row, self.ctx, self.layout, self.agenda
        hosts, region_of = self.hosts, ctx.fleet.cluster_by_name
        canary_done = hosts.open_canary == 0
        hold = hosts.has_canary and not camp.approved and not layout.finished()
        if canary_done and hold:
            ctx.transition(camp, CampaignState.HOLDING, "canary wave done")
            ctx.event("canary_done", "the canary wave is done; 'hvroll resume' to go on",
                      summary=self._canary_summary())
            return
        restart, self.runner.restart = self.runner.restart, []
        for row, rung in restart:
            if not self.runner.start(row, effects, rung):
                self.runner.restart.append((row, rung))
                self._block(row.cluster)
        failing = len(hosts.failed) + self.failed_elsewhere > ctx.policy.failed_host_tolerance
        agenda.quiet(self.runner.by_region)
        runner, held = self.runner, agenda.held
        room, beyond = runner.room, runner.held_beyond_destination
        for cluster in sorted(agenda.dirty):
            region_done = canary_done or hosts.canary_done(region_of[cluster].region)
            if hold and region_done:
                continue  # its region waits for the go: nothing new (stays dirty)
            wave = layout.current_wave(cluster)
            if wave is not None and wave > 0 and (hold or not (
                    canary_done or hosts.canary_drained(region_of[cluster].region))):
                continue  # stays dirty: looked at again once its region's canary drains end
            agenda.dirty.discard(cluster)
            if wave is None:
                continue
            found = held.pop(cluster, None)
            if found is not None and still_held(found, failing, runner.requeued, room, beyond):
                held[cluster] = found
                if found.rows or found.stops:
                    self._block(cluster)  # what the look would do: wait for room again
                continue
            before = (len(effects), ctx.acts, agenda.unsure)
            hosts.held.clear()
            hosts.stopped.clear()
            steps = layout.by_cluster_wave[(cluster, wave)]
            receivers_done = receivers_ready([s.state for s in steps if s.receives], wave == 0)
            for step in steps:
                if step.state in ADVANCING:  # in any other state the look would do nothing
                    hosts.advance(step, receivers_done, failing, effects)
            if wave > 0 and ctx.plan.strategy is Strategy.ROLL_FORWARD:
                self._overlap(cluster, wave, steps, failing, effects)
            if all(s.state in TERMINAL_HOST for s in steps):
                upgraded = {s.host for s in steps if s.state is HostStepState.DONE}
                for row in layout.returns.get((cluster, wave), ()):
                    if row.state is not MigrationState.PENDING:
                        continue
                    if row.dest not in upgraded:
                        self.runner.skip(row, f"{row.dest} was not reinstalled")
                    elif not self.runner.start(row, effects):
                        self._block(cluster)
                        break
                if layout.current_wave(cluster) != wave:
                    agenda.dirty.add(cluster)
            if (len(effects), ctx.acts, agenda.unsure) == before and cluster not in agenda.dirty:
                held[cluster] = Held(failing, runner.requeued, tuple(hosts.held),
                                     tuple(hosts.stopped))

    def _overlap(self, cluster: str, wave: int, steps: list[StepRecord], failing: bool,
                 effects: list[Effect]) -> None:
        """Start the cluster's next wave beside the current one
        (:func:`~hvroll.executor.hosts.early_starts`): once every host of the current wave has
        started, hosts of the next wave are drained beside them, at most ``k`` plus the
        policy's ``drain_ahead`` of the cluster's hosts out of service and ``k`` reinstalled
        at once (a host drained early is reinstalled after the current wave's drains:
        :func:`~hvroll.executor.hosts.reinstall_room`), each of its VMs going to a host ready
        now (the planner sends them elsewhere than the current wave's hosts when they fit),
        and nothing still on its way to it.

        Both decisions are asked only when their answer can matter: the reinstall room by a
        drained step about to start its reinstall (most looks at a next wave's step are at
        its drain), the early starts when the next wave has a pending step. A step whose
        drain ends in this look asks after it (:meth:`~hvroll.executor.hosts.HostSteps.advance`)
        and gets the answer it would have got before: the drain moved only that step, from
        draining to drained, and ``reinstall_room`` counts neither."""
        layout, hosts = self.layout, self.hosts
        key = (cluster, wave)
        if key not in self._later:
            later_wave = layout.next_wave(cluster, wave)
            found = None if later_wave is None else layout.by_cluster_wave[(cluster, later_wave)]
            if found is not None and (any(s.receives for s in found)
                                      or layout.returns.get(key)):
                found = None
            self._later[key] = found
        later = self._later[key]
        if later is None:
            return
        k = layout.reinstalls_at_once[cluster]
        current = [s.state for s in steps]  # the current wave's, before the next one moves

        def room() -> bool:
            return reinstall_room(current, [s.state for s in later], k)

        for step in later:
            if step.state in ADVANCED_EARLY:
                hosts.advance(step, True, failing, effects, room)
        if any(s in TO_DRAIN for s in current):
            return  # early_starts would start none
        states = [s.state for s in later]
        if HostStepState.PENDING not in states:
            return  # nor would it with no step of the next wave left to start
        starts = early_starts(current, states, lambda i: self._free_to_drain(later[i]), k,
                              self.ctx.policy.drain_ahead)
        for i in starts:
            hosts.advance(later[i], True, failing, effects)

    def _free_to_drain(self, step: StepRecord) -> bool:
        """Whether every destination of ``step``'s drain may receive now and no VM of an
        earlier wave is still on its way to its host (later waves may send it VMs once it is
        upgraded)."""
        if step.id in self._free:
            return True
        layout, received = self.layout, self._received
        for row in layout.drain.get(step.id, ()):
            dest = row.dest
            if dest in received:
                continue
            if layout.readiness(dest) not in RECEIVING:
                self.agenda.unsure += 1
                return False
            if layout.by_host.get(dest) and all(s.state is HostStepState.DONE
                                                for s in layout.by_host[dest]):
                received.add(dest)  # upgraded: every step done, and none leaves DONE
        if any(row.dest == step.host and row.wave < step.wave
               and row.state not in TERMINAL_MIGRATION
               for row in self.runner.to_host.get(step.host, ())):
            self.agenda.unsure += 1
            return False
        self._free.add(step.id)  # its destinations stay upgraded, earlier waves only end
        return True

    def _stuck(self) -> None:
        """Nothing runs and nothing can start (no destination will ever have room, a host
        never became ready): fail the migrations of the drains under way, each with the
        reason it has no destination, instead of waiting forever (the hosts of later waves
        still get their turn)."""
        layout = self.layout
        draining = {s.id for s in layout.steps if s.state is HostStepState.DRAINING}
        waiting = [r for r in layout.pending()
                   if (r.step_id in draining if r.step_id is not None
                       else layout.current_wave(r.cluster) == r.wave)]
        for row in waiting or layout.pending():  # the drains under way; else all that waits
            why = self.runner.unplaced.get(row.id, "no compatible destination with room "
                                                   "became available")
            self.runner.fail(row, f"not moved: {why}")
        self.agenda.dirty.update(layout.waves_of)
        self.ctx.event("campaign_stuck", "waiting migrations failed: no destination available")

    # -- observing -------------------------------------------------------------------------

    def _observe(self, changed: list[str]) -> None:
        effects: list[Effect] = []
        runner, hosts = self.runner, self.hosts
        for job in jobs_to_read(changed, runner.unanswered, hosts.unread_jobs):
            if job in runner.live:
                runner.observe(job, effects)
            elif job in hosts.reinstalls:
                hosts.reinstall_progress(job)
            else:
                hosts.unread_jobs.pop(job, None)
        if effects:
            self.store.commit()
            for effect in effects:
                effect()

    # -- the end -----------------------------------------------------------------------------

    def _complete(self) -> None:
        camp, ctx, fleet = self.run_row, self.ctx, self.ctx.fleet
        seen = self.driver.vms()
        expected = [vm.name for vm in fleet.vms if self.region is None
                    or self._region_of_host(vm.host) == self.region]
        result: dict[str, Any] = dict(audit(expected, seen))
        where = {vm.name: vm.hosts[0] for vm in seen if vm.hosts}
        result["crashed_on"] = {name: where.get(name, "") for name in result["crashed"]}
        for name in result["crashed"]:
            ctx.event("vm_crashed", f"{name} is left crashed on {where.get(name) or 'its host'}",
                      vm=name, host=where.get(name))
        for name in result["lost"]:
            ctx.violation(f"{name} runs nowhere at the end of the campaign", vm=name)
        for name in result["duplicated"]:
            ctx.violation(f"{name} runs on more than one host", vm=name)
        camp.audit = json.dumps(result)
        failed = (len(self.hosts.failed) + self.failed_elsewhere
                  > ctx.policy.failed_host_tolerance)
        skipped = len(({h.host for h in ctx.plan.skipped if self.region is None
                        or self._region_of_host(h.host) == self.region}
                       | {s.host for s in self.steps if s.state is HostStepState.SKIPPED})
                      - self.hosts.failed)
        left = ", ".join(part for part in (
            f"{skipped} host(s) skipped" if skipped else "",
            f"{len(result['crashed'])} VM(s) crashed" if result["crashed"] else "") if part)
        ctx.transition(camp, CampaignState.FAILED if failed else CampaignState.COMPLETED,
                       ("too many failed hosts" if failed else "every step finished")
                       + (f"; {left}" if left else ""))
        camp.finished_s = self.clock.now()
        ctx.event(f"{self.entity}_{camp.state.value}", left, violations=ctx.violations,
                  failed_hosts=len(self.hosts.failed), skipped_hosts=skipped,
                  crashed_vms=len(result["crashed"]), **self._where())

    def _region_of_host(self, host: str) -> str | None:
        fleet = self.ctx.fleet
        found = fleet.host_by_name.get(host)
        return None if found is None else fleet.cluster_by_name[found.cluster].region

    def _canary_summary(self) -> dict[str, int]:
        rows = [m for m in self.migrations if m.wave == 0]
        return {"migrations": len(rows),
                "completed": sum(m.state is MigrationState.COMPLETED for m in rows),
                "failed": sum(m.state is MigrationState.FAILED for m in rows)}
