"""A consistent, read-only view of a campaign's state file: what metrics, the dashboard and the
report are computed from.

:class:`StateSource` opens the state file read-only (SQLite ``mode=ro``; the store runs in WAL
mode, so reading never blocks the executor that writes) and takes a :class:`Snapshot` in one
read transaction per call. What never changes during a campaign — its plan and inventory —
is parsed once and cached, keyed by the campaign row, so that a scrape or a page of a
35,000-VM campaign reads rows, not the whole inventory again.

The numbers of :meth:`Snapshot.status` are those of ``hvroll status``
(:func:`hvroll.executor.status.status`), computed from the same rows without the ORM.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError

from hvroll.domain import Fleet
from hvroll.domain.states import TERMINAL_MIGRATION
from hvroll.errors import CampaignCreatingError, InputError
from hvroll.executor.status import MigrationCounts, latest_states, summarize
from hvroll.inventory import Format, parse_fleet
from hvroll.planner.model import Plan
from hvroll.store.lease import Holder, creating, region_holders
from hvroll.store.models import (
    RARE_KIND,
    AttemptRow,
    CampaignRow,
    ControlRow,
    EventRow,
    Meta,
    MigrationRow,
    RegionRunRow,
    StepRow,
    TransitionRow,
    campaign_input,
    unpack,
)
from hvroll.store.read import StateReader

ALERT_EVENTS = ("safety_stop", "invariant_violation", "vm_lost", "driver_error",
                "control_ignored")
"""Event kinds an operator must see on the overview."""


@dataclass(frozen=True, slots=True)
class Campaign:
    state: str
    driver: str
    plan_file: str
    approved: bool
    created_s: float
    started_s: float | None
    finished_s: float | None
    clock_s: float
    audit: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Step:
    id: int
    wave: int
    position: int
    host: str
    cluster: str
    region: str
    target: str
    canary: bool
    reinstall: bool
    state: str
    error: str
    started_s: float | None
    finished_s: float | None


@dataclass(frozen=True, slots=True)
class Migration:
    id: int
    step_id: int | None
    wave: int
    cluster: str
    region: str
    vm: str
    source: str
    dest: str
    planned_dest: str
    kind: str
    is_return: bool
    state: str
    rung: str
    rungs: tuple[str, ...]
    attempts: int
    estimate_s: float
    started_s: float | None
    finished_s: float | None
    elapsed_s: float | None
    sent_mib: float | None
    downtime_ms: float | None
    error: str


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    t_s: float
    kind: str
    host: str | None
    vm: str | None
    message: str
    data: dict[str, Any]


@dataclass(frozen=True, eq=False)
class Static:
    """What never changes during a campaign: its plan and inventory (compared and hashed by
    identity: one object per campaign read)."""

    plan: Plan
    fleet: Fleet

    @cached_property
    def generation_of(self) -> dict[str, str]:
        """Host name → CPU generation."""
        return {h.name: h.generation for h in self.fleet.hosts}

    @cached_property
    def profile_of(self) -> dict[str, str]:
        """Host name → the profile it ran when the campaign was planned."""
        return {h.name: h.profile for h in self.fleet.hosts}

    @cached_property
    def region_of(self) -> dict[str, str]:
        """Cluster name → region."""
        return {c.name: c.region for c in self.fleet.clusters}


@dataclass(frozen=True)
class Snapshot:
    """The campaign's rows as of one read transaction."""

    campaign: Campaign
    steps: tuple[Step, ...]
    migrations: tuple[Migration, ...]
    event_counts: dict[str, int]
    recent_events: tuple[Event, ...]
    alerts: tuple[Event, ...]
    pending_controls: tuple[str, ...]
    attempt_counts: dict[tuple[str, str], int]
    """(rung, phase) → attempts: every try of every migration, retries included."""
    static: Static = field(repr=False)
    region_runs: dict[str, str] = field(default_factory=dict)
    """Region → its executor's state, for regions driven by their own executors (``hvroll run
    --region``, ``hvroll worker``); empty when one process drives the whole campaign."""
    region_leases: dict[str, Holder] = field(default_factory=dict)
    """Region → its lease row (who drives it: host, pid, last renewal), for regions whose
    lease was ever taken."""

    @property
    def plan(self) -> Plan:
        return self.static.plan

    @property
    def fleet(self) -> Fleet:
        return self.static.fleet

    @cached_property
    def host_states(self) -> dict[str, str]:
        """Each host's state in its latest started step, as ``hvroll status`` counts them."""
        return latest_states(self.steps)

    def status(self) -> dict[str, Any]:
        """The numbers of ``hvroll status --json``, from this snapshot (a copy: computed
        once per snapshot)."""
        return dict(self._status)

    @cached_property
    def _status(self) -> dict[str, Any]:
        camp = self.campaign
        return summarize(
            state=camp.state, driver=camp.driver, plan=self.plan, vms_total=len(self.fleet.vms),
            audit=camp.audit, started_s=camp.started_s, finished_s=camp.finished_s,
            clock_s=camp.clock_s, steps=self.steps,
            migrations=MigrationCounts.of(self.migrations),
            event_counts=self.event_counts)


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    rung: str
    job: str
    options: dict[str, Any]
    started_s: float
    finished_s: float | None
    phase: str
    elapsed_s: float | None
    sent_mib: float | None
    iterations: int | None
    downtime_ms: float | None
    error: str


@dataclass(frozen=True, slots=True)
class VmHistory:
    """Every recorded move of one VM, each with its attempts, and the VM's events."""

    migrations: tuple[tuple[Migration, tuple[Attempt, ...]], ...]
    events: tuple[Event, ...]


class StateSource:
    """A campaign's state file (a path, or a SQLAlchemy URL), read-only.

    Thread-safe: each :meth:`snapshot` uses its own connection from the pool.
    """

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self._reader = StateReader(target)
        self.target = self._reader.target
        self._lock = threading.Lock()
        self._static: tuple[tuple[Any, ...], Static] | None = None
        self._last: tuple[str, int, Snapshot] | None = None
        """The latest snapshot: (marker, events asked, snapshot)."""

    @property
    def engine(self) -> Engine:
        return self._reader.engine

    def close(self) -> None:
        self._reader.close()

    def _read(self) -> AbstractContextManager[Connection]:
        """One read transaction (a consistent view of every table)."""
        return self._reader.transaction()

    def marker(self) -> str:
        """Changes whenever the campaign does (cheap: for live pages to poll)."""
        with self._read() as conn:
            return _marker(conn)

    def static(self) -> Static:
        with self._read() as conn:
            return self._static_for(conn)

    def _static_for(self, conn: Connection) -> Static:
        # Where the plan and inventory are, as of this transaction: a writer may have moved
        # the file to a newer schema since it was opened (schema 3: out of the campaign row).
        stored = campaign_input(str(conn.scalar(
            select(Meta.value).where(Meta.key == "schema_version"))))
        key_row = conn.execute(select(CampaignRow.created_s, CampaignRow.plan_file)).first()
        if key_row is None:
            note = creating(self.target, conn)
            if note:
                raise CampaignCreatingError(note)
            raise InputError(f"{self.target}: holds no campaign (expected one started with "
                             f"'hvroll run PLAN --state {self.target}')")
        key = (*key_row, *conn.execute(select(
            func.length(stored.c.plan), func.length(stored.c.inventory))).one())
        with self._lock:
            if self._static is not None and self._static[0] == key:
                return self._static[1]
            plan_blob, inventory_blob = conn.execute(
                select(stored.c.plan, stored.c.inventory)).one()
            static = Static(plan=Plan.model_validate_json(unpack(plan_blob)),
                            fleet=parse_fleet(unpack(inventory_blob),
                                              f"{self.target}#inventory", Format.JSON))
            self._static = (key, static)
            return static

    def snapshot(self, *, recent_events: int = 30) -> Snapshot:
        """The campaign as of now; the previous snapshot again while the campaign has not
        changed (its :meth:`marker` is the same)."""
        with self._read() as conn:
            marker = _marker(conn)
            with self._lock:
                last = self._last
            if last is not None and last[0] == marker and last[1] >= recent_events:
                snap = last[2]
                if len(snap.recent_events) > recent_events:
                    snap = dataclasses.replace(snap,
                                               recent_events=snap.recent_events[:recent_events])
                return snap
            snap = self._snapshot(conn, recent_events)
            with self._lock:
                self._last = (marker, recent_events, snap)
            return snap

    def _snapshot(self, conn: Connection, recent_events: int) -> Snapshot:
        static = self._static_for(conn)
        c = conn.execute(select(
            CampaignRow.state, CampaignRow.driver, CampaignRow.plan_file,
            CampaignRow.approved, CampaignRow.created_s, CampaignRow.started_s,
            CampaignRow.finished_s, CampaignRow.clock_s, CampaignRow.audit)).one()
        campaign = Campaign(c.state, c.driver, c.plan_file, bool(c.approved), c.created_s,
                            c.started_s, c.finished_s, c.clock_s,
                            json.loads(c.audit or "{}"))
        steps = tuple(Step(**row._asdict()) for row in conn.execute(select(
            StepRow.id, StepRow.wave, StepRow.position, StepRow.host, StepRow.cluster,
            StepRow.region, StepRow.target, StepRow.canary, StepRow.reinstall,
            StepRow.state, StepRow.error, StepRow.started_s, StepRow.finished_s,
        ).order_by(StepRow.position)))
        migrations = tuple(_migration(row) for row in conn.execute(
            _MIGRATION_COLUMNS.order_by(MigrationRow.wave, MigrationRow.step_id,
                                        MigrationRow.position)))
        counts = {kind: int(n) for kind, n in conn.execute(
            select(EventRow.kind, func.count()).group_by(EventRow.kind))}
        recent = tuple(_event(row) for row in conn.execute(
            _EVENT_COLUMNS.order_by(EventRow.id.desc()).limit(recent_events)))
        alerts = tuple(_event(row) for row in conn.execute(
            _EVENT_COLUMNS.where(RARE_KIND, EventRow.kind.in_(ALERT_EVENTS))
            .order_by(EventRow.id.desc()).limit(200)))
        controls = tuple(conn.scalars(select(ControlRow.action).where(
            ControlRow.handled.is_(False)).order_by(ControlRow.id)))
        tries = {(str(rung), phase): int(n) for rung, phase, n in conn.execute(
            select(AttemptRow.rung, AttemptRow.phase, func.count())
            .group_by(AttemptRow.rung, AttemptRow.phase))}
        runs = _region_runs(conn)
        return Snapshot(campaign, steps, migrations, counts, recent, alerts, controls, tries,
                        static, runs, region_holders(conn))

    def vm_history(self, vm: str) -> VmHistory:
        """Every migration of ``vm`` with its attempts, and its events (oldest first)."""
        with self._read() as conn:
            moves = [_migration(row) for row in conn.execute(
                _MIGRATION_COLUMNS.where(MigrationRow.vm == vm).order_by(MigrationRow.id))]
            by_migration: dict[int, list[Attempt]] = {m.id: [] for m in moves}
            for row in conn.execute(select(
                    AttemptRow.migration_id, AttemptRow.number, AttemptRow.rung,
                    AttemptRow.job, AttemptRow.options, AttemptRow.started_s,
                    AttemptRow.finished_s, AttemptRow.phase, AttemptRow.elapsed_s,
                    AttemptRow.sent_mib, AttemptRow.iterations, AttemptRow.downtime_ms,
                    AttemptRow.error).where(AttemptRow.migration_id.in_(list(by_migration)))
                    .order_by(AttemptRow.migration_id, AttemptRow.number)):
                by_migration[row[0]].append(Attempt(
                    row.number, row.rung, row.job, json.loads(row.options or "{}"),
                    row.started_s, row.finished_s, row.phase, row.elapsed_s, row.sent_mib,
                    row.iterations, row.downtime_ms, row.error))
            events = tuple(_event(row) for row in conn.execute(
                _EVENT_COLUMNS.where(EventRow.vm == vm).order_by(EventRow.id)))
        return VmHistory(tuple((m, tuple(by_migration[m.id])) for m in moves), events)


_MIGRATION_COLUMNS = select(
    MigrationRow.id, MigrationRow.step_id, MigrationRow.wave, MigrationRow.cluster,
    MigrationRow.region, MigrationRow.vm, MigrationRow.source, MigrationRow.dest,
    MigrationRow.planned_dest, MigrationRow.kind, MigrationRow.is_return, MigrationRow.state,
    MigrationRow.rung, MigrationRow.rungs, MigrationRow.attempts, MigrationRow.estimate_s,
    MigrationRow.started_s, MigrationRow.finished_s, MigrationRow.elapsed_s, MigrationRow.sent_mib,
    MigrationRow.downtime_ms, MigrationRow.error)
_EVENT_COLUMNS = select(EventRow.id, EventRow.t_s, EventRow.kind, EventRow.host, EventRow.vm,
                        EventRow.message, EventRow.data)


_RUNGS_AT = list(_MIGRATION_COLUMNS.selected_columns.keys()).index("rungs")


def _migration(row: Any) -> Migration:
    """A row of :data:`_MIGRATION_COLUMNS` (in :class:`Migration`'s field order)."""
    values = list(row)
    values[_RUNGS_AT] = _rungs(values[_RUNGS_AT])
    return Migration(*values)


@lru_cache(maxsize=1024)
def _rungs(text: str | None) -> tuple[str, ...]:
    """A migration's rungs (JSON list); few distinct values, so decoded once each."""
    return tuple(json.loads(text or "[]"))


def _marker(conn: Connection) -> str:
    camp = conn.execute(select(CampaignRow.state, CampaignRow.clock_s)).first()
    last_event = conn.scalar(select(func.max(EventRow.id)))
    last_attempt = conn.scalar(select(func.max(AttemptRow.id)))
    last_control = conn.scalar(select(func.max(ControlRow.id)))
    moved = _last_transition(conn)
    state, clock = (camp.state, camp.clock_s) if camp is not None else ("none", 0.0)
    regions = ",".join(  # who drives each region changes without an event
        f"{r}={h.fence}{'+' if h.holder else '-'}" for r, h in region_holders(conn).items())
    return f"{state}:{clock:g}:{last_event}:{last_attempt}:{last_control}:{moved}:{regions}"


def _last_transition(conn: Connection) -> str:
    """The id of the last state change: every change of a migration's, a host step's, a
    region's or the campaign's state is recorded in the transaction that makes it, so this
    changes whenever one of them does; one look at the table's last row. (It was the number
    of migrations in a final state, counted in an index of every migration's state that each
    commit of a run had to write.) A file written before state changes were recorded has no
    such table: the number of migrations in a final state then, read from the table."""
    try:
        return str(conn.scalar(select(func.max(TransitionRow.id))))
    except DatabaseError:
        done = conn.scalar(select(func.count()).select_from(MigrationRow).where(
            MigrationRow.state.in_(TERMINAL_MIGRATION)))
        return f"done={done}"


def _region_runs(conn: Connection) -> dict[str, str]:
    """Region → state of each region driven by its own executor (none in a file written
    before regions had their own executors)."""
    try:
        rows = conn.execute(select(RegionRunRow.region, RegionRunRow.state)
                            .order_by(RegionRunRow.region)).all()
    except DatabaseError:
        return {}
    return {str(region): str(state) for region, state in rows}


def _event(row: Any) -> Event:
    return Event(row.id, row.t_s, row.kind, row.host, row.vm, row.message,
                 json.loads(row.data or "{}"))

