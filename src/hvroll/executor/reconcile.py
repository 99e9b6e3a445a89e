"""Reconciliation on start: every unfinished step matched with the driver's live view.

The decisions are pure functions over the recorded row and what the driver reports
(:func:`decide_migration`, :func:`decide_host`), tested against exact values;
:func:`reconcile` only gathers the live view, asks them, and applies each answer through the
units (every state change a transition of the table, with its reason).

Migrations recorded as starting or running:

=====================================  =======================================================
the driver reports                     decision
=====================================  =======================================================
the job (and an attempt is recorded)   ADOPT: follow it again; a final job is taken at once
no job; the VM on its destination only COMPLETE (no job statistics)
no job; the VM on its source only      REDO: back to pending, the intent never reached the
                                       cloud
no job; the VM elsewhere or nowhere    FAIL; a violation unless it runs on exactly one host
=====================================  =======================================================

Migrations back to pending after an attempt ended, their next attempt not yet written (a
retry, or a restart on another rung, was queued in the memory of the run that stopped):
restarted on the rung recomputed from their records
(:func:`~hvroll.executor.ladder.resumed_rung`), in the order their attempts ended.

Host steps: ``disabling`` is redone (disable and pre-checks are idempotent); ``reinstalling``
follows the reinstall job when the driver has it, else verifies a host that already reports
its target, else goes back to ``drained`` to reinstall again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hvroll.domain.states import ADOPTABLE_MIGRATION, HostStepState, MigrationState, Rung
from hvroll.drivers.base import JobProgress
from hvroll.errors import DriverError
from hvroll.executor.context import Agenda, Context, Layout
from hvroll.executor.history import carried_states
from hvroll.executor.hosts import HostSteps
from hvroll.executor.migrations import MigrationRunner
from hvroll.store.models import loads


class MigrationFix(StrEnum):
    ADOPT = "adopt"
    COMPLETE = "complete"
    REDO = "redo"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class MigrationDecision:
    fix: MigrationFix
    reason: str = ""
    violation: str = ""
    """An invariant broken by what was found (recorded as a violation)."""


def decide_migration(*, vm: str, source: str, dest: str, job: JobProgress | None,
                     attempted: bool, where: tuple[str, ...]) -> MigrationDecision:
    """What to do with a migration recorded as starting or running. ``job`` is the driver's
    job of its last attempt (None when the driver does not know it), ``attempted`` whether an
    attempt is recorded, ``where`` the hosts the driver reports the VM on (consulted only
    without a job)."""
    if job is not None and attempted:
        return MigrationDecision(MigrationFix.ADOPT)
    if where == (dest,):
        return MigrationDecision(MigrationFix.COMPLETE, "completed while the executor was not "
                                                        "watching (no job statistics)")
    if where == (source,):
        return MigrationDecision(MigrationFix.REDO,
                                 "reconcile: the job never reached the cloud")
    found = ", ".join(where) or "no host"
    violation = f"{vm} runs on {found} after a restart" if len(where) != 1 else ""
    return MigrationDecision(MigrationFix.FAIL, f"after a restart found on {found}", violation)


class HostFix(StrEnum):
    KEEP = "keep"
    """Nothing unfinished to match (the loop carries it on)."""
    REDO_DISABLE = "redo_disable"
    FOLLOW = "follow"
    """The reinstall job runs: follow it."""
    FINISH = "finish"
    """The reinstall job ended meanwhile: take its outcome."""
    VERIFY = "verify"
    REDO_REINSTALL = "redo_reinstall"


@dataclass(frozen=True, slots=True)
class HostDecision:
    fix: HostFix
    reason: str = ""


def decide_host(*, state: HostStepState, job: JobProgress | None, profile: str | None,
                target: str) -> HostDecision:
    """What to do with a host step after a restart. ``job`` is the driver's reinstall job
    (None when it does not know it), ``profile`` what the host reports (consulted only for a
    reinstall without a job)."""
    if state is HostStepState.DISABLING:
        return HostDecision(HostFix.REDO_DISABLE, "reconcile: redo the disable and pre-checks")
    if state is not HostStepState.REINSTALLING:
        return HostDecision(HostFix.KEEP)
    if job is not None:
        return HostDecision(HostFix.FINISH if job.final else HostFix.FOLLOW)
    if profile == target:
        return HostDecision(HostFix.VERIFY, "reconcile: no job, the host reports its target")
    return HostDecision(HostFix.REDO_REINSTALL, "reconcile: the reinstall never reached the "
                                                "cloud")


def reconcile(ctx: Context, layout: Layout, agenda: Agenda, hosts: HostSteps,
              runner: MigrationRunner) -> None:
    """Match every unfinished step to the driver's live view: adopt running jobs, record
    finished ones, redo what never started, mark the impossible as failed."""
    for vm in ctx.driver.vms():
        if vm.name in ctx.state.location and vm.hosts:
            ctx.state.place(ctx.fleet.vm_by_name[vm.name], vm.hosts[0])
    for step in layout.steps:
        if step.state is HostStepState.DONE and step.reinstall:
            ctx.state.upgrade(step.host, layout.targets[step.target])
    done = [m for m in layout.migrations
            if m.state is MigrationState.COMPLETED or (loads(m.applied) or [])]
    boots = {m.id: (ctx.fleet.generation_of(ctx.state.host[m.dest]), ctx.state.profile(m.dest))
             for m in done if m.rung is Rung.COLD}
    ctx.state.current.update(carried_states(ctx.fleet.vm_by_name, done, boots))
    resumed = [m for m in layout.migrations
               if m.state is MigrationState.PENDING and m.attempts > 0]
    # back to pending after an attempt ended, the next one not yet written
    sizes = {m.id: m.attempts for m in resumed}
    last = {a.migration_id: a for a in ctx.store.attempts(sizes)
            if a.number == sizes[a.migration_id] and a.finished_s is not None}
    jobs = {j.job: j for j in ctx.driver.jobs()}
    adopted = 0
    for row in layout.migrations:
        if row.state not in ADOPTABLE_MIGRATION:
            continue
        adopted += 1
        job = jobs.get(row.job or "")
        attempts = ctx.store.attempts([row.id])
        where: tuple[str, ...] = ()
        if job is None or not attempts:
            try:
                where = ctx.driver.vm(row.vm).hosts
            except DriverError:
                where = ()
        d = decide_migration(vm=row.vm, source=row.source, dest=row.dest, job=job,
                             attempted=bool(attempts), where=where)
        if d.fix is MigrationFix.ADOPT:
            assert job is not None
            runner.adopt(row, attempts[-1], job)
        elif d.fix is MigrationFix.COMPLETE:
            runner.complete(row, d.reason)
        elif d.fix is MigrationFix.REDO:
            runner.redo(row, d.reason, attempts[-1] if attempts else None)
        else:
            runner.fail(row, d.reason)
            if d.violation:
                ctx.violation(d.violation, vm=row.vm)
    # in the order their attempts ended: the order the stopped run would have started them
    for row in sorted((m for m in resumed if m.id in last),
                      key=lambda m: (last[m.id].finished_s or 0.0, last[m.id].number, m.id)):
        runner.resume(row, last[row.id])
    for step in layout.steps:
        if step.state not in (HostStepState.DISABLING, HostStepState.REINSTALLING):
            continue
        job = jobs.get(step.reinstall_job or "")
        profile = (ctx.driver.host_profile(step.host)
                   if step.state is HostStepState.REINSTALLING and job is None else None)
        h = decide_host(state=step.state, job=job, profile=profile, target=step.target)
        if h.fix is HostFix.REDO_DISABLE:
            ctx.transition(step, HostStepState.PENDING, h.reason)
        elif h.fix is HostFix.FOLLOW and job is not None:
            hosts.reinstalls[job.job] = step
        elif h.fix is HostFix.FINISH and job is not None:
            hosts.reinstalls[job.job] = step
            hosts.reinstall_progress(job.job)
        elif h.fix is HostFix.VERIFY:
            ctx.transition(step, HostStepState.VERIFYING, h.reason)
        elif h.fix is HostFix.REDO_REINSTALL:
            # The reinstall that never reached the cloud was not an attempt: the next one
            # has its number and job id (the retry limit and the simulator's draws count it).
            step.reinstall_attempts = max(0, step.reinstall_attempts - 1)
            step.reinstall_job = None
            ctx.transition(step, HostStepState.DRAINED, h.reason)
    if adopted:
        ctx.event("reconciled", migrations=adopted, running=len(runner.live))
    agenda.waves.clear()
    agenda.dirty.update(layout.waves_of)

