"""The campaign executor: one engine for every driver (simulated or real).

Each turn of the loop reads operator controls, advances host steps and starts migrations
within the limits, commits the intents of everything it is about to do, does it, then waits
for the cloud and follows what changed. On start it reconciles every unfinished step with the
driver's live view before doing anything new. The clock is the driver's (virtual under the
simulator): the executor never sleeps for real there.

Host procedure: disable scheduling → pre-checks (record VMs already unreachable) → drain
(workarounds, the ladder, post-checks) → safety check: the driver says the host is empty →
reinstall hook → verify the host reports its target profile → enable scheduling.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from hvroll.compat.verdict import Checker
from hvroll.domain.states import (
    ACTIVE_HOST,
    ADOPTABLE_MIGRATION,
    STOPPED_CAMPAIGN,
    TERMINAL_CAMPAIGN,
    TERMINAL_HOST,
    TERMINAL_MIGRATION,
    CampaignState,
    ControlAction,
    HostStepState,
    MigrationState,
)
from hvroll.drivers.base import Capability, Clock, Driver, JobPhase, has, require
from hvroll.errors import CapabilityError, DriverError
from hvroll.executor.checks import audit, host_is_empty, needed_capabilities
from hvroll.executor.ladder import LadderPolicy
from hvroll.executor.migrations import Effect, MigrationRunner
from hvroll.planner.build import with_profiles
from hvroll.planner.model import Strategy
from hvroll.planner.state import PlanState
from hvroll.store import MigrationRow, StepRow, Store
from hvroll.store.lease import Lease
from hvroll.store.models import dumps, loads

CONTROL_EVERY = 50
"""Turns of the loop between two looks at the operator's controls."""
IDLE_TURNS = 20
"""Turns with nothing in flight and nothing started before waiting work is declared stuck."""


@dataclass(frozen=True, slots=True)
class RunResult:
    state: CampaignState
    turns: int


class Executor:
    """Runs the campaign stored in ``store`` against ``driver``."""

    def __init__(self, store: Store, driver: Driver, *, clock: Clock | None = None,
                 ladder_policy: LadderPolicy | None = None, poll_s: float = 5.0,
                 on_turn: Callable[[Executor], None] | None = None,
                 lease: Lease | None = None) -> None:
        self.store = store
        self.lease = lease or Lease(store)
        """This run's claim on the campaign (taken by :meth:`run` unless already held)."""
        self.driver = driver
        self.clock = clock or driver.clock
        self.poll_s = poll_s
        self.on_turn = on_turn
        self.campaign = store.require_campaign()
        self.plan = store.plan()
        self.fleet = with_profiles(store.fleet(), self.plan.targets)
        self.policy = self.plan.policy
        self.ladder_policy = ladder_policy or LadderPolicy(
            downtime_ms=int(self.policy.downtime_ms),
            allow_suspend=self.policy.allow_suspend,
            allow_cold=self.policy.allow_cold_migration)
        self.checker = Checker(self.fleet)
        self.state = PlanState(self.fleet)
        self.steps = store.steps()
        self.migrations = store.migrations()
        self.by_host: dict[str, list[StepRow]] = defaultdict(list)
        self.by_cluster_wave: dict[tuple[str, int], list[StepRow]] = defaultdict(list)
        self.waves_of: dict[str, list[int]] = defaultdict(list)
        for step in self.steps:
            self.by_host[step.host].append(step)
            self.by_cluster_wave[(step.cluster, step.wave)].append(step)
            if step.wave not in self.waves_of[step.cluster]:
                self.waves_of[step.cluster].append(step.wave)
        self.drain: dict[int, list[MigrationRow]] = defaultdict(list)
        self.returns: dict[tuple[str, int], list[MigrationRow]] = defaultdict(list)
        for row in self.migrations:
            if row.step_id is not None:
                self.drain[row.step_id].append(row)
            else:
                self.returns[(row.cluster, row.wave)].append(row)
        for waves in self.waves_of.values():
            waves.sort()
        self.runner = MigrationRunner(self)
        self.reinstalls: dict[str, StepRow] = {}
        self.dirty: set[str] = set(self.waves_of)
        self.blocked: dict[str, set[str]] = defaultdict(set)
        """Clusters with migrations waiting for room under the concurrency limits."""
        self._wave_cache: dict[str, int | None] = {}
        self._has_canary = any(s.wave == 0 for s in self.steps)
        self._open_canary = sum(1 for s in self.steps
                                if s.wave == 0 and s.state not in TERMINAL_HOST)
        self._failed = sum(1 for s in self.steps if s.state is HostStepState.FAILED)
        self.target_by_host = {s.host: s.target for s in self.steps}
        self.targets = {p.name: p for p in self.plan.targets}
        self._violations = store.count_events("invariant_violation")

    # -- what the runner asks ----------------------------------------------------------------

    def event(self, kind: str, message: str = "", *, host: str | None = None,
              vm: str | None = None, **data: object) -> None:
        self.store.event(self.clock.now(), kind, message, host=host, vm=vm, **data)

    def violation(self, message: str, *, vm: str | None = None, host: str | None = None) -> None:
        self._violations += 1
        self.event("invariant_violation", message, vm=vm, host=host)

    def touched(self, cluster: str) -> None:
        self.dirty.add(cluster)
        self._wave_cache.pop(cluster, None)

    def cluster_hosts(self, cluster: str) -> list[str]:
        return [h.name for h in self.fleet.hosts_by_cluster.get(cluster, ())]

    def target_rank(self, host: str) -> int:
        if self.plan.strategy is Strategy.ROLL_FORWARD and host in self.target_by_host:
            return self.targets[self.target_by_host[host]].rank
        return self.state.rank(host)

    def dest_ready(self, host: str) -> bool:
        """Not being drained or reinstalled, and not about to be in its cluster's wave."""
        for step in self.by_host.get(host, ()):
            if step.state in ACTIVE_HOST:
                return False
            if step.state is HostStepState.PENDING \
                    and self._current_wave(step.cluster) == step.wave:
                return False
        return True

    def dest_up(self, host: str) -> bool:
        try:
            return self.driver.host(host).up
        except DriverError:
            return False

    def unreachable_before(self, host: str) -> set[str]:
        out: set[str] = set()
        for step in self.by_host.get(host, ()):
            out.update(loads(step.unreachable_before) or [])
        return out

    # -- the loop ----------------------------------------------------------------------------

    def run(self, *, max_turns: int | None = None) -> RunResult:
        """Run until the campaign ends, holds after its canary wave, or is paused.

        Takes the campaign's lease first unless the caller holds it (LeaseHeldError when
        another runner does), and gives it back at the end if it took it."""
        own = not self.lease.held
        if own:
            self.lease.acquire()
        try:
            taken = self.lease.takeover()
            if taken is not None and taken.previous is not None:
                prev = taken.previous
                self.event("lease_taken_over", f"took the campaign over from host {prev.host} "
                           f"pid {prev.pid} ({taken.verdict.value})", previous_host=prev.host,
                           previous_pid=prev.pid, verdict=taken.verdict.value)
            return self._run(max_turns)
        finally:
            if own:
                self.lease.release()

    def _run(self, max_turns: int | None) -> RunResult:
        camp = self.campaign
        if camp.state in TERMINAL_CAMPAIGN:
            return RunResult(camp.state, 0)
        self._preflight()
        if camp.state is CampaignState.PENDING:
            self._campaign(CampaignState.RUNNING, "started")
            camp.started_s = self.clock.now()
            self.event("campaign_started", strategy=self.plan.strategy.value,
                       hosts=len({s.host for s in self.steps}), migrations=len(self.migrations))
        self._reconcile()
        self.store.commit()
        turns = idle = 0
        while True:
            turns += 1
            self.lease.tick()
            if turns % CONTROL_EVERY == 1:
                self._controls()
            state = camp.state
            if state in TERMINAL_CAMPAIGN:
                break
            effects: list[Effect] = []
            if state is CampaignState.RUNNING:
                self._schedule(effects)
            if state in STOPPED_CAMPAIGN and not self._busy():
                break
            camp.clock_s = self.clock.now()
            if effects:
                self.store.commit()  # the intents, before their side effects
                for effect in effects:
                    effect()
            if self._finished():
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
        self.store.commit()
        return RunResult(camp.state, turns)

    def _preflight(self) -> None:
        """Before anything changes: every feature the unfinished work needs is declared by
        the driver (a campaign that reinstalls is refused by a driver that cannot)."""
        for cap, why in needed_capabilities(self.steps).items():
            if not has(self.driver, cap):
                raise CapabilityError(cap.value, self.driver.name,
                                      f"{why}, and it does not declare {cap.value!r}")

    def _wait(self) -> list[str]:
        """Every job that changed during the next ``poll_s`` of clock time: decisions are
        taken at that cadence, on everything that happened meanwhile."""
        until = self.clock.now() + self.poll_s
        changed: dict[str, None] = {}
        while True:
            left = until - self.clock.now()
            changed.update(dict.fromkeys(self.driver.wait(max(left, 0.0))))
            if self.clock.now() >= until - 1e-9 or left <= 0:
                return list(changed)

    def _busy(self) -> bool:
        return bool(self.runner.live or self.reinstalls or self.runner.restart)

    def _campaign(self, new: CampaignState, reason: str) -> None:
        self.store.transition(self.campaign, new, self.clock.now(), reason)

    def _controls(self) -> None:
        camp = self.campaign
        for control in self.store.pending_controls():
            control.handled = True
            state = camp.state
            action = ControlAction(control.action)
            if action is ControlAction.PAUSE and state is CampaignState.RUNNING:
                self._campaign(CampaignState.PAUSED, "operator: pause")
            elif action is ControlAction.RESUME and state in STOPPED_CAMPAIGN:
                camp.approved = True
                self._campaign(CampaignState.RUNNING, "operator: resume")
                self.dirty.update(self.waves_of)
            elif action is ControlAction.RESUME and state is CampaignState.RUNNING:
                camp.approved = True
            elif action is ControlAction.ABORT and state not in TERMINAL_CAMPAIGN:
                self._abort()
                continue
            else:
                self.event("control_ignored", action=action, state=state.value)
                continue
            self.event("campaign_paused" if action is ControlAction.PAUSE
                       else f"campaign_{action.value}d", action=action.value)
        self.store.commit()

    def _abort(self) -> None:
        """Stop at the next safe point: running live migrations are cancelled (their VMs stay
        on their source), reinstalls in progress are waited for, nothing new starts."""
        self.event("campaign_aborting")
        for live in self.runner.live.values():
            live.stopping = True
            job = live.attempt.job
            try:
                require(self.driver, Capability.LIVE_MIGRATION).abort(job)
            except DriverError as exc:
                self.event("driver_error", str(exc))
        while self._busy():
            self.lease.tick()
            self.runner.restart.clear()
            changed = self.driver.wait(self.poll_s)
            self._observe(changed)
        self._campaign(CampaignState.ABORTED, "operator: abort")
        self.campaign.finished_s = self.clock.now()
        self.event("campaign_aborted")

    # -- scheduling ----------------------------------------------------------------------------

    def _current_wave(self, cluster: str) -> int | None:
        """The cluster's first wave with unfinished work (cached until the cluster changes)."""
        if cluster in self._wave_cache:
            return self._wave_cache[cluster]
        found = None
        for wave in self.waves_of.get(cluster, ()):
            steps = self.by_cluster_wave[(cluster, wave)]
            if any(s.state not in TERMINAL_HOST for s in steps) or any(
                    m.state not in TERMINAL_MIGRATION
                    for m in self.returns.get((cluster, wave), ())):
                found = wave
                break
        self._wave_cache[cluster] = found
        return found

    def _canary_done(self) -> bool:
        return self._open_canary == 0

    def room_freed(self, region: str) -> None:
        """A migration ended in ``region``: its clusters that waited for room get another
        look (the concurrency limits are per host, cluster and region)."""
        waiting = self.blocked.pop(region, None)
        if waiting:
            self.dirty |= waiting

    def _block(self, cluster: str) -> None:
        self.blocked[self.fleet.cluster_by_name[cluster].region].add(cluster)

    def _schedule(self, effects: list[Effect]) -> None:
        camp = self.campaign
        canary_done = self._canary_done()
        if canary_done and self._has_canary and not camp.approved:
            self._campaign(CampaignState.HOLDING, "canary wave done")
            self.event("canary_done", "the canary wave is done; 'hvroll resume' to go on",
                       summary=self._canary_summary())
            return
        restart, self.runner.restart = self.runner.restart, []
        for row, rung in restart:
            if not self.runner.start(row, effects, rung):
                self.runner.restart.append((row, rung))
                self._block(row.cluster)
        failing = self._failed > self.policy.failed_host_tolerance
        for cluster in sorted(self.dirty):
            self.dirty.discard(cluster)
            wave = self._current_wave(cluster)
            if wave is None or (wave > 0 and not canary_done):
                continue
            steps = self.by_cluster_wave[(cluster, wave)]
            receivers_done = all(s.state in TERMINAL_HOST for s in steps if s.receives)
            for step in steps:
                self._advance(step, receivers_done, failing, effects)
            if all(s.state in TERMINAL_HOST for s in steps):
                upgraded = {s.host for s in steps if s.state is HostStepState.DONE}
                for row in self.returns.get((cluster, wave), ()):
                    if row.state is not MigrationState.PENDING:
                        continue
                    if row.dest not in upgraded:
                        self.runner.skip(row, f"{row.dest} was not reinstalled")
                    elif not self.runner.start(row, effects):
                        self._block(cluster)
                        break
                if self._current_wave(cluster) != wave:
                    self.dirty.add(cluster)

    def _stuck(self) -> None:
        """Nothing runs and nothing can start (no destination will ever have room, a host
        never became ready): fail what waits, with the reason, instead of waiting forever."""
        for row in self.migrations:
            if row.state is MigrationState.PENDING:
                self.runner.fail(row, "no compatible destination with room became available")
        self.event("campaign_stuck", "waiting migrations failed: no destination available")

    def _failed_hosts(self) -> int:
        return self._failed

    def _step(self, step: StepRow, new: HostStepState, error: str = "",
              reason: str = "") -> None:
        self.store.transition(step, new, self.clock.now(), error or reason)
        if error:
            step.error = error
        if new in TERMINAL_HOST:
            step.finished_s = self.clock.now()
            self._failed += new is HostStepState.FAILED
            if new is not HostStepState.DONE:
                for row in self.drain.get(step.id, ()):
                    if row.state is MigrationState.PENDING:
                        self.runner.skip(row, f"host {step.host} {new.value}")
            if step.wave == 0:
                self._open_canary -= 1
                if self._open_canary == 0:
                    self.dirty.update(self.waves_of)  # the waves waiting on the canary
        self.touched(step.cluster)
        self.event(f"host_{new.value}", error, host=step.host, wave=step.wave)

    def _advance(self, step: StepRow, receivers_done: bool, failing: bool,
                 effects: list[Effect]) -> None:
        state = step.state
        if state is HostStepState.PENDING:
            if failing:
                self._step(step, HostStepState.SKIPPED, "too many failed hosts")
                return
            if not step.receives and not receivers_done:
                return
            step.started_s = self.clock.now()
            self._step(step, HostStepState.DISABLING)
            effects.append(lambda: self._disable(step))
        elif state is HostStepState.DRAINING:
            rows = self.drain.get(step.id, [])
            restarting = {r.id for r, _ in self.runner.restart}
            for row in rows:
                if (row.state is MigrationState.PENDING and row.id not in restarting
                        and not self.runner.start(row, effects)):
                    self._block(step.cluster)
                    break
            if all(r.state in TERMINAL_MIGRATION for r in rows):
                failed = [r.vm for r in rows if r.state is MigrationState.FAILED]
                if failed:
                    self._step(step, HostStepState.FAILED,
                               f"drain failed: {len(failed)} VM(s) could not move "
                               f"({', '.join(failed[:3])})")
                else:
                    self._step(step, HostStepState.DRAINED)
                    self._advance(step, receivers_done, failing, effects)
        elif state is HostStepState.DRAINED:
            if not step.reinstall:
                self._step(step, HostStepState.DONE)
                return
            self._start_reinstall(step, effects)
        elif state is HostStepState.VERIFYING:
            effects.append(lambda: self._verify(step))

    def _disable(self, step: StepRow) -> None:
        try:
            self.driver.set_scheduling(step.host, False)
            held = self.driver.host(step.host).vms
            unreachable = [vm for vm in held if has(self.driver, Capability.PROBE)
                           and not require(self.driver, Capability.PROBE).probe(vm)]
        except DriverError as exc:
            self._step(step, HostStepState.FAILED, f"pre-checks failed: {exc}")
            return
        step.unreachable_before = dumps(unreachable)
        if unreachable:
            self.event("precheck_unreachable", host=step.host, vms=unreachable)
        self._step(step, HostStepState.DRAINING)

    def _start_reinstall(self, step: StepRow, effects: list[Effect]) -> None:
        try:
            reason = host_is_empty(self.driver.host(step.host))
        except DriverError as exc:
            reason = str(exc)
        if reason:
            self._step(step, HostStepState.FAILED, f"safety check: {reason}; not reinstalled")
            self.event("safety_stop", reason, host=step.host)
            return
        step.reinstall_attempts += 1
        job = f"c{self.campaign.id}-h{step.id}-r{step.reinstall_attempts}"
        step.reinstall_job = job
        self._step(step, HostStepState.REINSTALLING)
        self.reinstalls[job] = step

        def effect() -> None:
            self.lease.verify()
            try:
                require(self.driver, Capability.REINSTALL).reinstall(job, step.host,
                                                                     step.target)
            except DriverError as exc:
                del self.reinstalls[job]
                self._step(step, HostStepState.FAILED, f"reinstall refused: {exc}")

        effects.append(effect)

    def _verify(self, step: StepRow) -> None:
        try:
            profile = self.driver.host_profile(step.host)
        except DriverError as exc:
            self._step(step, HostStepState.FAILED, f"verification failed: {exc}")
            return
        if profile != step.target:
            self._step(step, HostStepState.FAILED, f"reports profile {profile!r} after its "
                                                   f"reinstall (expected {step.target!r})")
            return
        self.state.upgrade(step.host, self.targets[step.target])
        self.lease.verify()
        try:
            self.driver.set_scheduling(step.host, True)
        except DriverError as exc:
            self._step(step, HostStepState.FAILED, f"could not enable scheduling: {exc}")
            return
        self._step(step, HostStepState.DONE)

    # -- observing -------------------------------------------------------------------------

    def _observe(self, changed: list[str]) -> None:
        effects: list[Effect] = []
        for job in changed:
            if job in self.runner.live:
                self.runner.observe(job, effects)
            elif job in self.reinstalls:
                self._reinstall_progress(job)
        if effects:
            self.store.commit()
            for effect in effects:
                effect()

    def _reinstall_progress(self, job: str) -> None:
        step = self.reinstalls[job]
        try:
            progress = self.driver.job(job)
        except DriverError as exc:
            self.event("driver_error", str(exc), host=step.host)
            return
        if not progress.final:
            return
        del self.reinstalls[job]
        if progress.phase is JobPhase.COMPLETED:
            self._step(step, HostStepState.VERIFYING)
            return
        if step.reinstall_attempts <= 1:
            self.event("reinstall_retry", progress.error or "", host=step.host)
            self.store.transition(step, HostStepState.DRAINED, self.clock.now(),
                                  f"reinstall retry: {progress.error or progress.phase.value}")
            self.touched(step.cluster)
            return
        self._step(step, HostStepState.FAILED, f"reinstall failed: {progress.error or ''}")

    # -- reconciliation ----------------------------------------------------------------------

    def _reconcile(self) -> None:
        """Match every unfinished step to the driver's live view: adopt running jobs, record
        finished ones, retry what never started, mark the impossible as failed."""
        for vm in self.driver.vms():
            if vm.name in self.state.location and vm.hosts:
                self.state.place(self.fleet.vm_by_name[vm.name], vm.hosts[0])
        for step in self.steps:
            if step.state is HostStepState.DONE and step.reinstall:
                self.state.upgrade(step.host, self.targets[step.target])
        jobs = {j.job: j for j in self.driver.jobs()}
        adopted = 0
        for row in self.migrations:
            if row.state not in ADOPTABLE_MIGRATION:
                continue
            adopted += 1
            self.runner.adopt(row, jobs.get(row.job or ""))
        for step in self.steps:
            if step.state is HostStepState.DISABLING:
                self.store.transition(step, HostStepState.PENDING, self.clock.now(),
                                      "reconcile: redo the disable and pre-checks")
            elif step.state is HostStepState.REINSTALLING:
                progress = jobs.get(step.reinstall_job or "")
                if progress is not None and not progress.final:
                    self.reinstalls[progress.job] = step
                elif progress is not None:
                    self.reinstalls[progress.job] = step
                    self._reinstall_progress(progress.job)
                elif self.driver.host_profile(step.host) == step.target:
                    self.store.transition(step, HostStepState.VERIFYING, self.clock.now(),
                                          "reconcile: no job, the host reports its target")
                else:
                    self.store.transition(step, HostStepState.DRAINED, self.clock.now(),
                                          "reconcile: the reinstall never reached the cloud")
        if adopted:
            self.event("reconciled", migrations=adopted, running=len(self.runner.live))
        self._wave_cache.clear()
        self.dirty.update(self.waves_of)

    # -- the end -----------------------------------------------------------------------------

    def _finished(self) -> bool:
        return (not self._busy()
                and all(self._current_wave(c) is None for c in self.waves_of)
                and all(m.state in TERMINAL_MIGRATION for m in self.migrations))

    def _complete(self) -> None:
        camp = self.campaign
        result = audit((vm.name for vm in self.fleet.vms), self.driver.vms())
        for name in result["lost"]:
            self.violation(f"{name} runs nowhere at the end of the campaign", vm=name)
        for name in result["duplicated"]:
            self.violation(f"{name} runs on more than one host", vm=name)
        camp.audit = json.dumps(result)
        failed = self._failed_hosts() > self.policy.failed_host_tolerance
        self._campaign(CampaignState.FAILED if failed else CampaignState.COMPLETED,
                       "too many failed hosts" if failed else "every step finished")
        camp.finished_s = self.clock.now()
        self.event("campaign_" + camp.state.value, violations=self._violations,
                   failed_hosts=self._failed_hosts())

    def _canary_summary(self) -> dict[str, int]:
        rows = [m for m in self.migrations if m.wave == 0]
        return {"migrations": len(rows),
                "completed": sum(m.state is MigrationState.COMPLETED for m in rows),
                "failed": sum(m.state is MigrationState.FAILED for m in rows)}
