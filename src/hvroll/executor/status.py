"""What ``hvroll status`` reports, computed from the state file alone."""

from __future__ import annotations

import json
import math
import socket
import time
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy import distinct, func, select

from hvroll.domain.states import (
    TERMINAL_CAMPAIGN,
    TERMINAL_MIGRATION,
    CampaignState,
    HostStepState,
    MigrationState,
)
from hvroll.errors import CampaignCreatingError
from hvroll.planner.model import SkippedHost, Strategy, Summary
from hvroll.store import CampaignRow, MigrationRow, StepRow, Store
from hvroll.store.lease import (
    Holder,
    Verdict,
    creating,
    judge,
    pid_alive,
    read_holder,
    region_holders,
)

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
    @property
    def kind(self) -> str: ...
    @property
    def downtime_ms(self) -> float | None: ...


class PlanLike(Protocol):
    """What the summary reads of a plan: a :class:`~hvroll.planner.model.Plan` or the
    store's outline of it."""

    @property
    def strategy(self) -> Strategy: ...
    @property
    def target(self) -> str: ...
    @property
    def skipped(self) -> Sequence[SkippedHost]: ...
    @property
    def summary(self) -> Summary: ...


class RegionStepLike(StepLike, Protocol):
    @property
    def region(self) -> str: ...


def step_facts(store: Store) -> Sequence[RegionStepLike]:
    """The host steps in plan order, only the columns the summary reads (ORM objects cost
    several times as much: public preset, ~18,000 steps)."""
    return cast(Sequence[RegionStepLike], store.session.execute(
        select(StepRow.host, StepRow.wave, StepRow.state, StepRow.reinstall, StepRow.error,
               StepRow.region).order_by(StepRow.position)).all())


PLAN_ORDER = (MigrationRow.wave, MigrationRow.step_id, MigrationRow.position)
"""The migrations' order in the plan (the executor's, the summary's)."""
FAILED_SHOWN = 50
"""Failed host steps and failed migrations the summary lists (the first, in plan order)."""


@dataclass(frozen=True, slots=True)
class FailedMigration:
    vm: str
    source: str
    dest: str
    rung: str
    error: str


@dataclass(frozen=True, slots=True)
class MigrationCounts:
    """What the summary reports of a campaign's migrations: counted from the rows
    (:meth:`of`) or by the database (:func:`migration_counts`), the same numbers."""

    by_state: Mapping[str, int]
    """Migrations per state (only the states some migration is in)."""
    vms: int
    """VMs with at least one migration."""
    vms_migrated: int
    """VMs with at least one completed migration."""
    by_rung: Mapping[str, int]
    """Completed migrations per rung."""
    downtime_ms: Mapping[str, float | None]
    """:func:`downtime_percentiles` of the completed ones."""
    failed: tuple[FailedMigration, ...]
    """The first :data:`FAILED_SHOWN` failed migrations, in plan order."""

    @property
    def total(self) -> int:
        return sum(self.by_state.values())

    @classmethod
    def of(cls, migrations: Sequence[MigrationLike]) -> MigrationCounts:
        """The counts of ``migrations`` (in plan order)."""
        completed = [m for m in migrations if m.state == MigrationState.COMPLETED.value]
        return cls(
            by_state=Counter(m.state for m in migrations),
            vms=len({m.vm for m in migrations}),
            vms_migrated=len({m.vm for m in completed}),
            by_rung=Counter(m.rung for m in completed),
            downtime_ms=downtime_percentiles(completed),
            failed=tuple(FailedMigration(m.vm, m.source, m.dest, str(m.rung), m.error)
                         for m in migrations
                         if m.state == MigrationState.FAILED.value)[:FAILED_SHOWN])


def migration_counts(store: Store) -> MigrationCounts:
    """:meth:`MigrationCounts.of` the campaign's migrations, counted by the database: only
    counts, four downtimes and the failed migrations shown leave it (``hvroll status`` of the
    public preset read and counted 170,394 rows in Python: seconds)."""
    session = store.session
    completed = MigrationRow.state == MigrationState.COMPLETED
    by_state: Counter[str] = Counter()
    migrated = 0
    for state, n, vms in session.execute(
            select(MigrationRow.state, func.count(), func.count(distinct(MigrationRow.vm)))
            .group_by(MigrationRow.state)):
        by_state[state] = int(n)
        if state == MigrationState.COMPLETED.value:
            migrated = int(vms)
    by_rung: Counter[str] = Counter({rung: int(n) for rung, n in session.execute(
        select(MigrationRow.rung, func.count()).where(completed).group_by(MigrationRow.rung))})
    downtime = nearest_ranks(cast(Sequence[float], session.scalars(  # NULLs left out
        select(MigrationRow.downtime_ms)
        .where(completed, MigrationRow.downtime_ms.is_not(None), MigrationRow.kind != "cold")
        .order_by(MigrationRow.downtime_ms)).all()))
    failed = tuple(FailedMigration(vm, source, dest, str(rung), error)
                   for vm, source, dest, rung, error in session.execute(
                       select(MigrationRow.vm, MigrationRow.source, MigrationRow.dest,
                              MigrationRow.rung, MigrationRow.error)
                       .where(MigrationRow.state == MigrationState.FAILED)
                       .order_by(*PLAN_ORDER).limit(FAILED_SHOWN)))
    return MigrationCounts(
        by_state=by_state,
        vms=int(session.scalar(select(func.count(distinct(MigrationRow.vm)))) or 0),
        vms_migrated=migrated, by_rung=by_rung, downtime_ms=downtime, failed=failed)


def region_migration_states(store: Store, known: Collection[str] = ()
                            ) -> dict[str, Counter[str]]:
    """Region → its migrations per state, counted by the database: the regions of ``known``
    first, then the others in the order their first migration comes in the plan (as
    :func:`regions_table` lists them)."""
    counts: dict[str, Counter[str]] = {}
    for region, state, n in store.session.execute(
            select(MigrationRow.region, MigrationRow.state, func.count())
            .group_by(MigrationRow.region, MigrationRow.state)):
        counts.setdefault(region, Counter())[state] = int(n)
    others = [r for r in counts if r not in known]
    if len(others) > 1:  # rare: a region of no step (a return from a host the plan skipped)
        order: dict[str, None] = {}
        for region in store.session.scalars(
                select(MigrationRow.region).where(MigrationRow.region.in_(others))
                .order_by(*PLAN_ORDER)):
            order.setdefault(region)
        others = list(order)
    return {r: counts[r] for r in [*(r for r in counts if r in known), *others]}


def status(store: Store) -> dict[str, Any]:
    """The campaign's progress and outcome as plain data (``--json``); CampaignCreatingError
    while a ``hvroll run`` is creating it (what the dashboard shows too); :func:`regions_of`
    adds a line per region (its state, who drives it, its progress)."""
    camp = campaign_of(store)
    runs = store.region_runs()
    steps = step_facts(store)
    audit = json.loads(camp.audit or "{}")
    if runs and not audit:
        audit = merged_audit([json.loads(r.audit or "{}") for r in runs])
    states = {r.region: r.state.value for r in runs}
    return summarize(
        state=overall_state(camp.state, list(states.values())), driver=camp.driver,
        plan=store.plan_outline(), vms_total=store.inventory_outline().vms, audit=audit,
        started_s=camp.started_s if not runs else _first(r.started_s for r in runs),
        finished_s=camp.finished_s,
        clock_s=camp.clock_s if not runs else max(r.clock_s for r in runs),
        steps=steps, migrations=migration_counts(store),
        event_counts={kind: store.count_events(kind) for kind in EVENT_KINDS})


def regions_of(store: Store) -> list[dict[str, Any]]:
    """The ``regions`` lines of ``hvroll status``: :func:`regions_table` for ``store``."""
    camp = campaign_of(store)
    states = {r.region: r.state.value for r in store.region_runs()}
    steps = step_facts(store)
    known = {*store.inventory_outline().regions, *(s.region for s in steps)}
    return regions_table(store, camp.state.value, states, steps,
                         region_migration_states(store, known))


def _first(values: Any) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def overall_state(campaign: str, regions: Sequence[str]) -> str:
    """The campaign's state as its regions' executors see it: the campaign row's once it
    ended or when no region runs on its own; else running while a region runs, then paused,
    holding, as the regions are.

    >>> overall_state("running", ["holding", "completed"]), overall_state("running", [])
    ('holding', 'running')
    >>> overall_state("running", ["running", "paused"]), overall_state("completed", ["paused"])
    ('running', 'completed')
    """
    if campaign in {s.value for s in TERMINAL_CAMPAIGN} or not regions:
        return campaign
    for state in (CampaignState.RUNNING, CampaignState.PAUSED, CampaignState.HOLDING):
        if state.value in regions:
            return state.value
    return campaign


def merged_audit(audits: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The end-of-run audits of the regions as one."""
    out: dict[str, Any] = {}
    for audit in audits:
        for key, value in audit.items():
            if isinstance(value, list):
                out[key] = sorted({*out.get(key, []), *value})
            elif isinstance(value, dict):
                out[key] = {**out.get(key, {}), **value}
    return out


def regions_table(store: Store, campaign_state: str, states: Mapping[str, str],
                  steps: Sequence[RegionStepLike],
                  migrations: Mapping[str, Mapping[str, int]]) -> list[dict[str, Any]]:
    """A line per region: its state (the campaign's when no region runs on its own,
    ``pending`` for a region not started), who holds its lease (the campaign's when it runs
    whole), its hosts and migrations (``migrations``: region → migrations per state,
    :func:`region_migration_states`). The regions of the inventory in its order, then any
    other of a step, then any other of a migration."""
    holders = region_holders(store.session)
    whole = read_holder(store.session)
    now = time.time()
    here = socket.gethostname()
    by_region: dict[str, list[RegionStepLike]] = {
        r: [] for r in store.inventory_outline().regions}
    for step in steps:
        by_region.setdefault(step.region, []).append(step)
    for region in migrations:
        by_region.setdefault(region, [])
    out = []
    for region, region_steps in by_region.items():
        holder = holders.get(region) if states else whole
        moves = migrations.get(region, {})
        total = sum(moves.values())
        done = sum(moves.get(s, 0) for s in TERMINAL_MIGRATION)
        out.append({
            "region": region,
            "state": states.get(region, CampaignState.PENDING.value) if states
            else campaign_state,
            "holder": holder_view(holder, now=now, here=here),
            "hosts": len({s.host for s in region_steps}),
            "hosts_upgraded": len({s.host for s in region_steps if s.reinstall
                                   and s.state is HostStepState.DONE}),
            "hosts_failed": len({s.host for s in region_steps
                                 if s.state is HostStepState.FAILED}),
            "migrations": total,
            "migrations_completed": moves.get(MigrationState.COMPLETED, 0),
            "migrations_failed": moves.get(MigrationState.FAILED, 0),
            "progress": round(done / total, 4) if total else 1.0})
    return out


def holder_view(row: Holder | None, *, now: float, here: str) -> dict[str, Any] | None:
    """Who holds a lease, for ``status``: None when nobody does."""
    if row is None or not row.holder:
        return None
    alive = row.host != here or pid_alive(row.pid)
    return {"id": row.holder, "host": row.host, "pid": row.pid, "since": row.since,
            "heartbeat_age_s": round(now - row.heartbeat, 1),
            "live": judge(row, host=here, now=now, alive=alive) is Verdict.HELD}


def region_status(store: Store, region: str) -> dict[str, Any]:
    """One region's progress and outcome (what ``hvroll run --region`` prints)."""
    camp = campaign_of(store)
    run = next((r for r in store.region_runs() if r.region == region), None)
    steps, migrations = store.steps(region), store.migrations(region)
    fleet = store.fleet()
    plan = store.plan()
    part = fleet.region_part(region)
    hosts = {h.name for h in part.hosts}
    plan = plan.model_copy(update={"skipped": tuple(h for h in plan.skipped
                                                    if h.host in hosts)})
    summary = summarize(
        state=(run.state.value if run is not None else CampaignState.PENDING.value),
        driver=camp.driver, plan=plan, vms_total=len(part.vms),
        audit=json.loads(run.audit or "{}") if run is not None else {},
        started_s=run.started_s if run is not None else None,
        finished_s=run.finished_s if run is not None else None,
        clock_s=run.clock_s if run is not None else 0.0,
        steps=steps, migrations=MigrationCounts.of(migrations), event_counts={})
    summary["region"] = region
    summary["campaign_state"] = camp.state.value
    return summary


def campaign_of(store: Store) -> CampaignRow:
    """The campaign of ``store``: CampaignCreatingError while a live ``hvroll run`` holds the
    lease of a file whose campaign is not committed yet, InputError when there is none."""
    if store.campaign() is None:
        note = creating(store.target, store.session)
        if note:
            raise CampaignCreatingError(note)
    return store.require_campaign()


def summarize(*, state: str, driver: str, plan: PlanLike, vms_total: int, audit: Mapping[str, Any],
              started_s: float | None, finished_s: float | None, clock_s: float,
              steps: Sequence[StepLike], migrations: MigrationCounts,
              event_counts: Mapping[str, int]) -> dict[str, Any]:
    """The status numbers from a campaign's host steps (ORM rows or read-only snapshots
    alike) and the counts of its migrations."""
    step_states = Counter(s.state for s in steps)
    mig_states = Counter(migrations.by_state)
    upgraded = {s.host for s in steps if s.reinstall and s.state == HostStepState.DONE.value}
    failed = {s.host for s in steps if s.state == HostStepState.FAILED.value}
    skipped_list = [h for h in skipped_hosts(plan, steps) if h["host"] not in failed]
    skipped = {h["host"] for h in skipped_list}
    crashed_list = crashed_vms(audit)
    hosts = {s.host for s in steps} | skipped  # the plan's skipped hosts have no step
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
        "outcome": outcome(state, len(skipped), len(crashed_list)),
        "driver": driver,
        "strategy": plan.strategy.value,
        "target": plan.target,
        "vms_total": vms_total,
        "vms_to_move": migrations.vms,
        "vms_migrated": migrations.vms_migrated,
        "vms_lost": lost,
        "vms_duplicated": len(audit.get("duplicated", [])) if audit else 0,
        "vms_crashed": len(crashed_list),
        "hosts_total": len(hosts),
        "hosts_upgraded": len(upgraded),
        "hosts_failed": len(failed),
        "hosts_skipped": len(skipped),
        "hosts_by_state": dict(sorted(Counter(latest_states(steps).values()).items())),
        "migrations": migrations.total,
        "migrations_completed": mig_states[MigrationState.COMPLETED.value],
        "migrations_failed": mig_states[MigrationState.FAILED.value],
        "migrations_running": mig_states[MigrationState.RUNNING.value]
        + mig_states[MigrationState.STARTING.value],
        "migrations_by_rung": dict(sorted(migrations.by_rung.items())),
        "downtime_ms": dict(migrations.downtime_ms),
        "invariant_violations": event_counts.get("invariant_violation", 0),
        "safety_stops": event_counts.get("safety_stop", 0),
        "progress": round(done / migrations.total, 4) if migrations.total else 1.0,
        "makespan_s": round(makespan, 1),
        "estimated_makespan_s": plan.summary.estimated_makespan_s,
        "eta_s": eta,
        "waiting_for": waiting_for(state),
        "failures": [{"host": s.host, "wave": s.wave, "error": s.error}
                     for s in steps if s.state == HostStepState.FAILED.value][:FAILED_SHOWN],
        "failed_migrations": [{"vm": m.vm, "source": m.source, "dest": m.dest,
                               "rung": m.rung, "error": m.error} for m in migrations.failed],
        "step_states": dict(sorted(step_states.items())),
        "skipped_hosts": skipped_list,
        "crashed_vms": crashed_list,
    }


DOWNTIME_QUANTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))


def downtime_percentiles(completed: Sequence[MigrationLike]) -> dict[str, float | None]:
    """Guest downtime of completed live migrations, ms, by nearest rank: the real pause of a
    migration finished by suspending its guest (suspend to resume) included.

    >>> class M:
    ...     def __init__(self, ms): self.kind, self.downtime_ms = "live", ms
    >>> downtime_percentiles([M(40.0), M(60.0), M(31000.0)])
    {'p50': 60.0, 'p95': 31000.0, 'p99': 31000.0, 'max': 31000.0}
    """
    return nearest_ranks(sorted(m.downtime_ms for m in completed
                                if m.downtime_ms is not None and m.kind != "cold"))


def nearest_ranks(values: Sequence[float]) -> dict[str, float | None]:
    """:data:`DOWNTIME_QUANTILES` of ``values`` (sorted), by nearest rank, rounded to µs.

    >>> nearest_ranks([1.0, 2.0, 3.0, 4.0])
    {'p50': 2.0, 'p95': 4.0, 'p99': 4.0, 'max': 4.0}
    >>> nearest_ranks([])["max"] is None
    True
    """
    out: dict[str, float | None] = {}
    for name, q in DOWNTIME_QUANTILES:
        rank = min(len(values), max(1, math.ceil(q * len(values))))
        out[name] = round(values[rank - 1], 3) if values else None
    return out


def skipped_hosts(plan: PlanLike, steps: Sequence[StepLike]) -> list[dict[str, str]]:
    """Every host the campaign leaves as it was, with why: those the plan skipped (``by``:
    ``plan``) and those whose step the campaign skipped (``campaign``), by host name."""
    out = {s.host: {"host": s.host, "reason": s.reason, "by": "plan"} for s in plan.skipped}
    for step in steps:
        if step.state == HostStepState.SKIPPED.value and step.host not in out:
            out[step.host] = {"host": step.host, "reason": step.error or "skipped",
                              "by": "campaign"}
    return [out[h] for h in sorted(out)]


def crashed_vms(audit: Mapping[str, Any]) -> list[dict[str, str]]:
    """VMs the end-of-campaign audit found crashed (defined on a host, not running), with the
    host and why."""
    hosts = audit.get("crashed_on", {}) if audit else {}
    return [{"vm": name, "host": hosts.get(name, ""),
             "reason": f"left crashed on {hosts.get(name) or 'its host'}: not running at the "
                       f"end of the campaign (its host went down and it was not restarted)"}
            for name in (audit.get("crashed", []) if audit else [])]


def outcome(state: str, hosts_skipped: int, vms_crashed: int) -> str:
    """The campaign's state in words, with what it left undone: ``completed, 5 hosts skipped``.

    >>> outcome("completed", 5, 0), outcome("completed", 1, 2), outcome("running", 3, 0)
    ('completed, 5 hosts skipped', 'completed, 1 host skipped, 2 VMs crashed', 'running')
    """
    if state not in {s.value for s in TERMINAL_CAMPAIGN}:
        return state
    parts = [state]
    if hosts_skipped:
        parts.append(f"{hosts_skipped} host{'s' if hosts_skipped != 1 else ''} skipped")
    if vms_crashed:
        parts.append(f"{vms_crashed} VM{'s' if vms_crashed != 1 else ''} crashed")
    return ", ".join(parts)


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
