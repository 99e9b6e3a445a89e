"""Running a runbook durably: every step's intent is committed before its command starts,
its result in the same transaction as its new state; a restarted runner adopts the job a
killed one left (result file, or the process still running) and never repeats a done step.

The loop only sequences; what to run next (:func:`next_step`), which rollback steps apply
(:func:`rollback_skips`) and the per-hop timings (:func:`hop_timings`) are pure functions of
the step rows, tested with exact values.
"""

from __future__ import annotations

import glob
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hvroll.controlplane.journal import Journal, StepRow, step_of
from hvroll.controlplane.runbook import Action, Phase, Step
from hvroll.controlplane.shell import JobResult, StepExecutor
from hvroll.controlplane.verify import (
    Outcome,
    compare_servers,
    parse_patterns,
    parse_servers,
    repeat_outcome,
    unmatched_lines,
)
from hvroll.domain.states import TERMINAL_UPGRADE_RUN, UpgradeRunState, UpgradeStepState
from hvroll.errors import InputError

FINISHED = frozenset({UpgradeStepState.DONE.value, UpgradeStepState.SKIPPED.value})


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class WallClock:
    """Real time (the runner waits on real commands)."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class StepView:
    """What the decisions read of a step row."""

    id: str
    hop: int
    phase: str
    name: str
    state: str


def view(row: StepRow) -> StepView:
    return StepView(row.id, row.hop, row.phase, row.name, row.state)


def next_step(steps: Sequence[StepView], state: UpgradeRunState,
              failed_hop: int | None) -> str | None:
    """The step to run now: the first unfinished upgrade step while running; the first
    unfinished rollback step of the failed hop while rolling back; None when there is none."""
    if state is UpgradeRunState.ROLLING_BACK:
        return next((s.id for s in steps if s.phase == Phase.ROLLBACK.value
                     and s.hop == failed_hop and s.state not in FINISHED), None)
    if state is UpgradeRunState.RUNNING:
        return next((s.id for s in steps if s.phase == Phase.UPGRADE.value
                     and s.state not in FINISHED), None)
    return None


CHANGING = ("hook", "migrate:", "start", "restart:", "online:", "pin-rpc")
STOPPING = ("stop-api", "stop", "restart:")


def rollback_skips(steps: Sequence[StepView], hop: int) -> list[str]:
    """Rollback steps of ``hop`` that have nothing to undo: no restore or old-release hook if
    nothing was changed yet (or no dump exists), no stop/start if nothing was stopped."""
    mine = [s for s in steps if s.hop == hop and s.phase == Phase.UPGRADE.value]
    touched = {s.name for s in mine
               if s.state not in (UpgradeStepState.PENDING.value, UpgradeStepState.SKIPPED.value)}
    changed = any(n.startswith(CHANGING) for n in touched)
    stopped = any(n.startswith(STOPPING) for n in touched)
    dumped = any(s.name == "backup-db" and s.state == UpgradeStepState.DONE.value for s in mine)
    skip: set[str] = set()
    if not (changed and dumped):
        skip |= {"restore-db"}
    if not changed:
        skip |= {"hook"}
    if not (changed or stopped):
        skip |= {"stop", "start"}
    if not any(s.name == "snapshot-servers" and s.state == UpgradeStepState.DONE.value
               for s in mine):
        skip |= {"verify-servers"}  # nothing to compare with
    return [s.id for s in steps if s.hop == hop and s.phase == Phase.ROLLBACK.value
            and s.name in skip]


def hop_timings(rows: Sequence[StepRow]) -> list[dict[str, Any]]:
    """Per hop: its steps' span, the API downtime (from the API's stop to the first
    successful API check after it) and the time spent in schema and online migrations."""
    out: list[dict[str, Any]] = []
    for hop in sorted({r.hop for r in rows}):
        mine = [r for r in rows if r.hop == hop and r.started_s is not None]
        if not mine:
            out.append({"hop": hop, "elapsed_s": None, "api_downtime_s": None,
                        "migration_s": None})
            continue
        start = min(r.started_s for r in mine if r.started_s is not None)
        end = max((r.finished_s or r.started_s or start) for r in mine)
        down_from = next((r.started_s for r in mine if r.name in ("stop-api", "stop")
                          and r.phase == Phase.UPGRADE.value), None)
        restarts = [r for r in mine if r.name == "restart:api"]
        api_down: float | None = None
        if down_from is not None:
            back = [r.finished_s for r in mine if r.name in ("verify-api", "open-api")
                    and r.state == UpgradeStepState.DONE.value and r.finished_s is not None
                    and r.finished_s >= down_from]
            api_down = (min(back) - down_from) if back else None
        elif restarts and restarts[0].finished_s is not None and restarts[0].started_s:
            api_down = restarts[0].finished_s - restarts[0].started_s
        else:
            api_down = 0.0
        migration = sum((r.finished_s - r.started_s) for r in mine
                        if r.name.startswith(("migrate:", "online:"))
                        and r.finished_s is not None and r.started_s is not None)
        out.append({"hop": hop, "elapsed_s": round(end - start, 3),
                    "api_downtime_s": None if api_down is None else round(api_down, 3),
                    "migration_s": round(migration, 3)})
    return out


@dataclass(frozen=True)
class StepOutcome:
    ok: bool
    error: str = ""
    output: str = ""


class Runner:
    """Runs (or resumes) the run in ``journal`` through ``executor``."""

    def __init__(self, journal: Journal, executor: StepExecutor, clock: Clock | None = None,
                 *, poll_s: float = 0.2,
                 progress: Callable[[str, str], None] | None = None) -> None:
        self.j = journal
        self.ex = executor
        self.clock = clock or WallClock()
        self.poll_s = poll_s
        self.progress = progress or (lambda _step, _what: None)
        run = journal.require_run()
        self.book: dict[str, Any] = json.loads(run.runbook)
        self.deployment: dict[str, Any] = json.loads(run.deployment)

    def run(self) -> UpgradeRunState:
        j = self.j
        j.acquire(self.clock.now)
        try:
            return self._loop()
        finally:
            j.release()

    def _loop(self) -> UpgradeRunState:
        j = self.j
        run = j.require_run()
        state = UpgradeRunState(run.state)
        if state in TERMINAL_UPGRADE_RUN:
            return state
        if state in (UpgradeRunState.PENDING, UpgradeRunState.PAUSED):
            resume = (UpgradeRunState.ROLLING_BACK if run.failed_hop is not None
                      else UpgradeRunState.RUNNING)
            j.set_state(resume, self.clock.now(), "resumed" if state is UpgradeRunState.PAUSED
                        else "started")
            j.commit()
        while True:
            for action in j.take_requests():
                if action in ("pause", "abort"):
                    new = UpgradeRunState.PAUSED if action == "pause" else UpgradeRunState.ABORTED
                    j.set_state(new, self.clock.now(), f"operator {action}")
                    j.commit()
                    return new
            j.commit()
            run = j.require_run()
            state = UpgradeRunState(run.state)
            rows = {r.id: r for r in j.steps()}
            sid = next_step([view(r) for r in rows.values()], state, run.failed_hop)
            if sid is None:
                final = (UpgradeRunState.ROLLED_BACK if state is UpgradeRunState.ROLLING_BACK
                         else UpgradeRunState.COMPLETED)
                why = (f"hop {run.failed_hop} rolled back and verified"
                       if final is UpgradeRunState.ROLLED_BACK else "every hop done")
                j.set_state(final, self.clock.now(), why)
                j.commit()
                return final
            step = step_of(self.book, sid)
            result = self._execute(step, rows[sid])
            if result.ok:
                continue
            run = j.require_run()
            if step.phase is Phase.UPGRADE and not step.after_point_of_no_return:
                run.failed_hop = step.hop
                run.error = f"{step.id}: {result.error}"
                j.set_state(UpgradeRunState.ROLLING_BACK, self.clock.now(),
                            f"{step.id} failed before the point of no return: rolling back "
                            f"hop {step.hop} ({result.error})")
                for row in j.steps():
                    if row.phase == Phase.UPGRADE.value and row.hop >= step.hop \
                            and row.state == UpgradeStepState.PENDING.value:
                        j.step_state(row, UpgradeStepState.SKIPPED, self.clock.now())
                skips = set(rollback_skips([view(r) for r in j.steps()], step.hop))
                for row in j.steps():
                    if row.id in skips:
                        j.step_state(row, UpgradeStepState.SKIPPED, self.clock.now())
                j.commit()
                continue
            run.error = f"{step.id}: {result.error}"
            where = ("after the point of no return" if step.phase is Phase.UPGRADE
                     else "during the rollback")
            j.set_state(UpgradeRunState.FAILED, self.clock.now(),
                        f"{step.id} failed {where}: {result.error}; the operator must act")
            j.commit()
            return UpgradeRunState.FAILED

    # -- one step ----------------------------------------------------------------------------

    def _execute(self, step: Step, row: StepRow) -> StepOutcome:
        j, now = self.j, self.clock.now
        if step.action is Action.MARK:
            j.step_state(row, UpgradeStepState.RUNNING, now())
            j.step_state(row, UpgradeStepState.DONE, now())
            j.event(now(), "point_of_no_return", step.title, step.id)
            j.commit()
            self.progress(step.id, "point of no return")
            return StepOutcome(True)
        if step.action is Action.VERIFY_LOGS:
            j.step_state(row, UpgradeStepState.RUNNING, now())
            j.commit()
            result = self._verify_logs(step)
            return self._finish(step, row, result, None)
        adopt = row.state == UpgradeStepState.RUNNING.value and row.job
        while True:
            if adopt:
                adopt = False
                found = self.ex.poll(row.job)
                if found is None and not self.ex.alive(row.job):
                    j.event(now(), "step_lost", f"job {row.job} left no result: run again",
                            step.id)
                    self._start(step, row)
                else:
                    j.event(now(), "step_adopted", f"job {row.job}", step.id)
                    j.commit()
            else:
                self._start(step, row)
            job_result = self._wait(row.job)
            if step.action is Action.REPEAT:
                outcome = repeat_outcome(job_result.exit_code, step.done_exit, step.again_exit)
                if outcome is Outcome.AGAIN:
                    if row.runs >= step.max_runs:
                        return self._finish(step, row, StepOutcome(
                            False, f"still migrating after {row.runs} runs (exit "
                                   f"{job_result.exit_code})"), job_result)
                    j.event(now(), "step_again", f"exit {job_result.exit_code}: more to do",
                            step.id)
                    continue
                result = (StepOutcome(True) if outcome is Outcome.DONE else
                          StepOutcome(False, f"exit {job_result.exit_code}: {job_result.tail()}"))
                return self._finish(step, row, result, job_result)
            return self._finish(step, row, self._judge(step, job_result), job_result)

    def _start(self, step: Step, row: StepRow) -> None:
        """Commit the intent (state, run number, job name), then start the command."""
        j, now = self.j, self.clock.now()
        row.runs += 1
        row.job = f"{step.id}.{row.runs}"
        j.step_state(row, UpgradeStepState.RUNNING, now)
        j.event(now, "step_started", step.command, step.id)
        j.commit()
        self.progress(step.id, f"run {row.runs}: {step.title}")
        self.ex.start(row.job, step.command, {"HVROLL_STEP": step.id,
                                              "HVROLL_HOP": str(step.hop),
                                              "HVROLL_RUN": str(row.runs)})

    def _wait(self, job: str) -> JobResult:
        while True:
            found = self.ex.poll(job)
            if found is not None:
                return found
            if not self.ex.alive(job):
                found = self.ex.poll(job)
                return found if found is not None else JobResult(255, "", "the job vanished")
            self.clock.sleep(self.poll_s)

    def _judge(self, step: Step, result: JobResult) -> StepOutcome:
        if result.exit_code != 0:
            return StepOutcome(False, f"exit {result.exit_code}: {result.tail()}")
        if step.action is Action.SNAPSHOT:
            try:
                servers = parse_servers(result.stdout)
            except ValueError as exc:
                return StepOutcome(False, str(exc))
            snapshot = {"servers": [s.data() for s in servers], "logs": self._log_sizes()}
            return StepOutcome(True, output=json.dumps(snapshot))
        if step.action is Action.VERIFY_SERVERS:
            try:
                now = parse_servers(result.stdout)
            except ValueError as exc:
                return StepOutcome(False, str(exc))
            try:
                before = parse_servers(json.dumps(self._snapshot(step.hop)["servers"]))
            except InputError as exc:
                return StepOutcome(False, str(exc))
            problems = compare_servers(before, now)
            if problems:
                more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
                return StepOutcome(False, "; ".join(problems[:3]) + more,
                                output=json.dumps(problems))
            return StepOutcome(True, output=json.dumps({"servers": len(before)}))
        return StepOutcome(True)

    def _finish(self, step: Step, row: StepRow, result: StepOutcome,
                job: JobResult | None) -> StepOutcome:
        j, now = self.j, self.clock.now()
        row.exit_code = job.exit_code if job is not None else None
        row.output = result.output
        row.error = result.error
        j.step_state(row, UpgradeStepState.DONE if result.ok else UpgradeStepState.FAILED, now)
        j.event(now, "step_done" if result.ok else "step_failed", result.error, step.id)
        j.commit()
        self.progress(step.id, "done" if result.ok else f"failed: {result.error}")
        return result

    # -- snapshots and logs ------------------------------------------------------------------

    def _snapshot(self, hop: int) -> dict[str, Any]:
        row = next((r for r in self.j.steps() if r.hop == hop and r.name == "snapshot-servers"
                    and r.phase == Phase.UPGRADE.value), None)
        if row is None or row.state != UpgradeStepState.DONE.value:
            raise InputError(f"hop {hop}: no server snapshot to verify against")
        data: dict[str, Any] = json.loads(row.output)
        return data

    def _log_files(self) -> list[str]:
        found: set[str] = set()
        for pattern in self.deployment.get("logs", []):
            found |= set(glob.glob(pattern))  # noqa: PTH207 (absolute globs)
        return sorted(found)

    def _log_sizes(self) -> dict[str, int]:
        return {f: Path(f).stat().st_size for f in self._log_files() if Path(f).is_file()}

    def _verify_logs(self, step: Step) -> StepOutcome:
        file = self.deployment.get("monitoring_patterns") or ""
        try:
            text = Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            return StepOutcome(False, f"{file}: cannot read the monitoring patterns "
                                   f"({exc.strerror})")
        try:
            patterns = parse_patterns(text, file)
            offsets = self._snapshot(step.hop).get("logs", {})
        except InputError as exc:
            return StepOutcome(False, str(exc))
        bad: list[str] = []
        checked = 0
        for name in self._log_files():
            with Path(name).open("rb") as handle:
                start = offsets.get(name, 0)
                handle.seek(start if start <= Path(name).stat().st_size else 0)
                lines = handle.read().decode("utf-8", "replace").splitlines()
            checked += len(lines)
            bad += [f"{name}: {line}" for line in unmatched_lines(lines, patterns)]
        if bad:
            return StepOutcome(False, f"{len(bad)} new log lines match no monitoring pattern, "
                                   f"first: {bad[0][:300]}", output=json.dumps(bad[:100]))
        return StepOutcome(True, output=json.dumps({"lines": checked}))
