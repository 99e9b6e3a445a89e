"""What ``hvroll status`` reports, computed from the state file alone."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from hvroll.executor.states import HostStepState, MigrationState
from hvroll.store import Store


def status(store: Store) -> dict[str, Any]:
    """The campaign's progress and outcome as plain data (``--json``)."""
    camp = store.require_campaign()
    plan = store.plan()
    steps = store.steps()
    migrations = store.migrations()
    fleet_vms = len(store.fleet().vms)
    step_states = Counter(s.state for s in steps)
    mig_states = Counter(m.state for m in migrations)
    upgraded = {s.host for s in steps if s.reinstall and s.state == HostStepState.DONE.value}
    failed = {s.host for s in steps if s.state == HostStepState.FAILED.value}
    skipped = {s.host for s in steps if s.state == HostStepState.SKIPPED.value}
    hosts = {s.host for s in steps}
    migrated = {m.vm for m in migrations if m.state == MigrationState.COMPLETED.value}
    audit = json.loads(camp.audit or "{}")
    lost = len(audit.get("lost", [])) if audit else store.count_events("vm_lost")
    end = camp.finished_s if camp.finished_s is not None else camp.clock_s
    makespan = (end - camp.started_s) if camp.started_s is not None else 0.0
    done = mig_states[MigrationState.COMPLETED.value] + mig_states[MigrationState.FAILED.value] \
        + mig_states[MigrationState.SKIPPED.value]
    remaining_hosts = len(hosts) - len(upgraded) - len(failed) - len(skipped)
    eta = None
    if camp.finished_s is None and makespan > 0 and upgraded:
        eta = round(makespan / len(upgraded) * remaining_hosts, 1)
    completed = [m for m in migrations if m.state == MigrationState.COMPLETED.value]
    rungs = Counter(m.rung for m in completed)
    return {
        "state": camp.state,
        "driver": camp.driver,
        "strategy": plan.strategy.value,
        "target": plan.target,
        "vms_total": fleet_vms,
        "vms_to_move": len({m.vm for m in migrations}),
        "vms_migrated": len(migrated),
        "vms_lost": lost,
        "vms_duplicated": len(audit.get("duplicated", [])) if audit else 0,
        "hosts_total": len(hosts),
        "hosts_upgraded": len(upgraded),
        "hosts_failed": len(failed),
        "hosts_skipped": len(skipped),
        "hosts_by_state": dict(sorted(Counter(
            _latest(steps).values()).items())),
        "migrations": len(migrations),
        "migrations_completed": mig_states[MigrationState.COMPLETED.value],
        "migrations_failed": mig_states[MigrationState.FAILED.value],
        "migrations_running": mig_states[MigrationState.RUNNING.value]
        + mig_states[MigrationState.STARTING.value],
        "migrations_by_rung": dict(sorted(rungs.items())),
        "invariant_violations": store.count_events("invariant_violation"),
        "safety_stops": store.count_events("safety_stop"),
        "progress": round(done / len(migrations), 4) if migrations else 1.0,
        "makespan_s": round(makespan, 1),
        "estimated_makespan_s": plan.summary.estimated_makespan_s,
        "eta_s": eta,
        "waiting_for": _waiting(camp.state),
        "failures": [{"host": s.host, "wave": s.wave, "error": s.error}
                     for s in steps if s.state == HostStepState.FAILED.value][:50],
        "step_states": dict(sorted(step_states.items())),
    }


def _latest(steps: list[Any]) -> dict[str, str]:
    """Each host's state in its latest started step (or its first step if none started)."""
    out: dict[str, str] = {}
    for step in steps:
        if step.host not in out or step.state != HostStepState.PENDING.value:
            out[step.host] = step.state
    return out


def _waiting(state: str) -> str | None:
    if state == "holding":
        return "an operator's go after the canary wave: hvroll resume --state FILE"
    if state == "paused":
        return "an operator's resume: hvroll resume --state FILE"
    return None
