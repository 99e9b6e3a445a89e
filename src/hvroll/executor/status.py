"""What ``hvroll status`` reports, computed from the state file alone."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from hvroll.domain.states import TERMINAL_MIGRATION, CampaignState, HostStepState, MigrationState
from hvroll.errors import CampaignCreatingError
from hvroll.planner.model import Plan
from hvroll.store import CampaignRow, Store
from hvroll.store.lease import creating

BEING_CREATED = "being_created"
"""What ``hvroll status`` and the dashboard report as the state of a campaign that a
``hvroll run`` is creating (its lease held, the campaign not committed yet)."""
EVENT_KINDS = ("invariant_violation", "safety_stop", "vm_lost")
"""Events whose counts the summary reports."""


class StepLike(Protocol):
    @property
    def host(self) -> str: ...
    @property
    def wave(self) -> int: ...
    @property
    def state(self) -> str: ...
    @property
    def reinstall(self) -> bool: ...
    @property
    def error(self) -> str: ...


class MigrationLike(Protocol):
    @property
    def vm(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def dest(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def error(self) -> str: ...
    @property
    def rung(self) -> str: ...


def status(store: Store) -> dict[str, Any]:
    """The campaign's progress and outcome as plain data (``--json``); CampaignCreatingError
    while a ``hvroll run`` is creating it."""
    camp = campaign_of(store)
    return summarize(
        state=camp.state, driver=camp.driver, plan=store.plan(),
        vms_total=len(store.fleet().vms), audit=json.loads(camp.audit or "{}"),
        started_s=camp.started_s, finished_s=camp.finished_s, clock_s=camp.clock_s,
        steps=store.steps(), migrations=store.migrations(),
        event_counts={kind: store.count_events(kind) for kind in EVENT_KINDS})


def campaign_of(store: Store) -> CampaignRow:
    """The campaign of ``store``: CampaignCreatingError while a live ``hvroll run`` holds the
    lease of a file whose campaign is not committed yet, InputError when there is none."""
    if store.campaign() is None:
        note = creating(store.target, store.session)
        if note:
            raise CampaignCreatingError(note)
    return store.require_campaign()


def summarize(*, state: str, driver: str, plan: Plan, vms_total: int, audit: Mapping[str, Any],
              started_s: float | None, finished_s: float | None, clock_s: float,
              steps: Sequence[StepLike], migrations: Sequence[MigrationLike],
              event_counts: Mapping[str, int]) -> dict[str, Any]:
    """The status numbers from a campaign's rows (ORM rows or read-only snapshots alike)."""
    step_states = Counter(s.state for s in steps)
    mig_states = Counter(m.state for m in migrations)
    upgraded = {s.host for s in steps if s.reinstall and s.state == HostStepState.DONE.value}
    failed = {s.host for s in steps if s.state == HostStepState.FAILED.value}
    skipped = {s.host for s in steps if s.state == HostStepState.SKIPPED.value} - failed
    hosts = {s.host for s in steps}
    completed = [m for m in migrations if m.state == MigrationState.COMPLETED.value]
    lost = len(audit.get("lost", [])) if audit else event_counts.get("vm_lost", 0)
    end = finished_s if finished_s is not None else clock_s
    makespan = (end - started_s) if started_s is not None else 0.0
    done = sum(mig_states[s] for s in TERMINAL_MIGRATION)
    remaining_hosts = len(hosts) - len(upgraded) - len(failed) - len(skipped)
    eta = None
    if finished_s is None and makespan > 0 and upgraded:
        eta = round(makespan / len(upgraded) * remaining_hosts, 1)
    return {
        "state": state,
        "driver": driver,
        "strategy": plan.strategy.value,
        "target": plan.target,
        "vms_total": vms_total,
        "vms_to_move": len({m.vm for m in migrations}),
        "vms_migrated": len({m.vm for m in completed}),
        "vms_lost": lost,
        "vms_duplicated": len(audit.get("duplicated", [])) if audit else 0,
        "hosts_total": len(hosts),
        "hosts_upgraded": len(upgraded),
        "hosts_failed": len(failed),
        "hosts_skipped": len(skipped),
        "hosts_by_state": dict(sorted(Counter(latest_states(steps).values()).items())),
        "migrations": len(migrations),
        "migrations_completed": mig_states[MigrationState.COMPLETED.value],
        "migrations_failed": mig_states[MigrationState.FAILED.value],
        "migrations_running": mig_states[MigrationState.RUNNING.value]
        + mig_states[MigrationState.STARTING.value],
        "migrations_by_rung": dict(sorted(Counter(m.rung for m in completed).items())),
        "invariant_violations": event_counts.get("invariant_violation", 0),
        "safety_stops": event_counts.get("safety_stop", 0),
        "progress": round(done / len(migrations), 4) if migrations else 1.0,
        "makespan_s": round(makespan, 1),
        "estimated_makespan_s": plan.summary.estimated_makespan_s,
        "eta_s": eta,
        "waiting_for": waiting_for(state),
        "failures": [{"host": s.host, "wave": s.wave, "error": s.error}
                     for s in steps if s.state == HostStepState.FAILED.value][:50],
        "failed_migrations": [{"vm": m.vm, "source": m.source, "dest": m.dest,
                               "rung": str(m.rung), "error": m.error}
                              for m in migrations
                              if m.state == MigrationState.FAILED.value][:50],
        "step_states": dict(sorted(step_states.items())),
    }


def latest_states(steps: Sequence[StepLike]) -> dict[str, str]:
    """Each host's state in its latest started step (or its first step if none started);
    ``failed`` once a step of it failed."""
    out: dict[str, str] = {}
    for step in steps:
        if out.get(step.host) == HostStepState.FAILED.value:
            continue  # a failed host stays failed (its later steps are skipped)
        if step.host not in out or step.state != HostStepState.PENDING.value:
            out[step.host] = step.state
    return out


def waiting_for(state: str) -> str | None:
    if state == CampaignState.HOLDING:
        return "an operator's go after the canary wave: hvroll resume --state FILE"
    if state == CampaignState.PAUSED:
        return "an operator's resume: hvroll resume --state FILE"
    return None
