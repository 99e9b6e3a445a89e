"""Tables of a campaign's state file (SQLAlchemy ORM)."""

from __future__ import annotations

import functools
import json
import zlib
from dataclasses import dataclass
from enum import StrEnum
from sys import intern
from typing import TYPE_CHECKING, Any, ClassVar, Self, cast

from sqlalchemy import (
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    column,
    table,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import TableClause

from hvroll.domain.states import CampaignState, ControlAction, HostStepState, MigrationState, Rung
from hvroll.errors import InputError

SCHEMA_VERSION = 3
"""Version 3 keeps the campaign's plan and inventory in a table of their own
(:class:`CampaignInputRow`), written once, instead of in the campaign row, which a run
updates (its clock once a second of wall time, its state, start, end and audit): on SQLite an
UPDATE rewrites the whole row, and the row held megabytes (public preset: 6.7 MB of plan and
18.7 MB of inventory, 21–26 ms a write). Version 2 indexes an event's kind for the rare kinds
only (``ix_event_rare``), and a migration's state not at all: version 1's indexes on both
(``ix_event_kind``, ``ix_migration_state``) were a third of the index pages a simulated
run's commit wrote, for readers that scan the table anyway or now look elsewhere.

A writer opening a version 1 or 2 file moves it to version 3
(:func:`hvroll.store.store.upgrade_schema`); readers read all three
(:data:`READABLE_SCHEMAS`; where each keeps the plan and inventory:
:func:`campaign_input`). Every other table and row is the same.

Version 1 files written before the state columns were typed hold the same strings (the
enums' values in a VARCHAR); the lease and transition tables are added on first open."""

READABLE_SCHEMAS = ("1", "2", "3")
"""The schema versions a reader reads (a writer moves a version 1 or 2 file to version 3
first)."""
READABLE_NAMED = ", ".join(READABLE_SCHEMAS[:-1]) + " or " + READABLE_SCHEMAS[-1]
"""The versions a reader reads, as a message names them ("1, 2 or 3")."""

RARE_EVENTS = ("control_ignored", "driver_error", "guest_suspended", "invariant_violation",
               "ladder_climbed", "safety_stop", "vm_lost")
"""The event kinds looked up by kind (the dashboard's alerts, the summary's counts, a resumed
run's pause of a guest), each a few per thousand events at most: only they are indexed by
kind (:data:`RARE_KIND`)."""

RARE_KIND = text("kind IN (" + ", ".join(f"'{k}'" for k in RARE_EVENTS) + ")")
"""The condition of ``ix_event_rare``: a query on the event table that holds it, as this same
text, may use the index (SQLite uses a partial index only for a query holding its condition
itself; literal values, not bound ones)."""


def _enum(enum: type[StrEnum]) -> Enum:
    """A column holding ``enum``'s values as plain strings (no native ENUM type, no CHECK
    constraint): the same on SQLite and PostgreSQL, and readable in files of either age."""
    return Enum(enum, native_enum=False, create_constraint=False, length=16,
                values_callable=lambda e: [m.value for m in e], validate_strings=True)


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Key/value facts about the file itself (schema version)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class CampaignRow(Base):
    __tablename__ = "campaign"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[CampaignState] = mapped_column(_enum(CampaignState))
    driver: Mapped[str] = mapped_column(String(32))
    plan_file: Mapped[str] = mapped_column(Text, default="")
    approved: Mapped[bool] = mapped_column(default=False)
    """The operator's go after the canary wave."""
    created_s: Mapped[float] = mapped_column(Float)
    started_s: Mapped[float | None] = mapped_column(Float, default=None)
    finished_s: Mapped[float | None] = mapped_column(Float, default=None)
    clock_s: Mapped[float] = mapped_column(Float, default=0.0)
    """The executor clock, written on its first turn, then at most once per
    ``CLOCK_EVERY_S`` (1 s) of wall time, and when it stops."""
    audit: Mapped[str] = mapped_column(Text, default="{}")
    """The end-of-campaign audit of every VM (JSON)."""


class CampaignInputRow(Base):
    """What the campaign was created from, written with it and never changed: its plan and
    its inventory (schema version 3; before, columns of the campaign row, rewritten with
    each of its updates on SQLite: :data:`SCHEMA_VERSION`)."""

    __tablename__ = "campaign_input"
    id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), primary_key=True)
    """The campaign's id."""
    plan: Mapped[bytes] = mapped_column(LargeBinary)
    """The plan, zlib-compressed JSON."""
    inventory: Mapped[bytes] = mapped_column(LargeBinary)
    """The inventory, zlib-compressed canonical JSON: the state file is self-contained."""


_INPUT_IN_CAMPAIGN = table("campaign", column("id", Integer), column("plan", LargeBinary),
                           column("inventory", LargeBinary))
"""The campaign row's plan and inventory in a file of schema version 1 or 2."""


def campaign_input(version: str) -> TableClause:
    """Where a state file of schema ``version`` keeps the campaign's plan and inventory (its
    columns ``id``, ``plan``, ``inventory``): their own table since version 3, the campaign
    row before.

    >>> campaign_input("3").name, campaign_input("2").name
    ('campaign_input', 'campaign')
    """
    return (_INPUT_IN_CAMPAIGN if version in ("1", "2")
            else cast(TableClause, CampaignInputRow.__table__))


class StepRow(Base):
    """One host's step in one wave."""

    __tablename__ = "host_step"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wave: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(255))
    cluster: Mapped[str] = mapped_column(String(255))
    region: Mapped[str] = mapped_column(String(255))
    target: Mapped[str] = mapped_column(String(255))
    canary: Mapped[bool] = mapped_column(default=False)
    reinstall: Mapped[bool] = mapped_column(default=True)
    receives: Mapped[bool] = mapped_column(default=False)
    """Other steps of this wave drain into this host: it goes first."""
    state: Mapped[HostStepState] = mapped_column(_enum(HostStepState))
    error: Mapped[str] = mapped_column(Text, default="")
    unreachable_before: Mapped[str] = mapped_column(Text, default="[]")
    """VMs that did not answer before the drain (JSON list): not blamed on the campaign."""
    reinstall_job: Mapped[str | None] = mapped_column(String(128), default=None)
    reinstall_attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_s: Mapped[float | None] = mapped_column(Float, default=None)
    finished_s: Mapped[float | None] = mapped_column(Float, default=None)

    __table_args__ = (Index("ix_step_host", "host"), Index("ix_step_wave", "wave", "cluster"))


class MigrationRow(Base):
    """One move of one VM, with the outcome of its last attempt."""

    __tablename__ = "migration"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("host_step.id"), default=None)
    wave: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    cluster: Mapped[str] = mapped_column(String(255))
    region: Mapped[str] = mapped_column(String(255))
    vm: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(255))
    dest: Mapped[str] = mapped_column(String(255))
    planned_dest: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    is_return: Mapped[bool] = mapped_column(default=False)
    workarounds: Mapped[str] = mapped_column(Text, default="[]")
    applied: Mapped[str] = mapped_column(Text, default="[]")
    state: Mapped[MigrationState] = mapped_column(_enum(MigrationState))
    rung: Mapped[Rung] = mapped_column(_enum(Rung), default=Rung.PRECOPY)
    rungs: Mapped[str] = mapped_column(Text, default="[]")
    """Every rung used, in order (JSON list)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    job: Mapped[str | None] = mapped_column(String(128), default=None)
    estimate_s: Mapped[float] = mapped_column(Float, default=0.0)
    started_s: Mapped[float | None] = mapped_column(Float, default=None)
    finished_s: Mapped[float | None] = mapped_column(Float, default=None)
    elapsed_s: Mapped[float | None] = mapped_column(Float, default=None)
    sent_mib: Mapped[float | None] = mapped_column(Float, default=None)
    iterations: Mapped[int | None] = mapped_column(Integer, default=None)
    downtime_ms: Mapped[float | None] = mapped_column(Float, default=None)
    dirty_rate_mib_s: Mapped[float | None] = mapped_column(Float, default=None)
    error: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_migration_vm", "vm"), Index("ix_migration_step", "step_id"))


class Record:
    """A row of a table the executor changes on every turn (host steps, migrations), held by
    the executor as a plain object instead of an ORM one: reading a column is reading a slot
    (the ORM's instrumented attribute was a Python call per read, millions per simulated
    campaign). The store that loaded it (:meth:`hvroll.store.Store.steps`,
    :meth:`~hvroll.store.Store.migrations`) writes the columns changed since its last commit
    at the next one, and a rollback puts back the values of the last commit (as the ORM's
    expiry reloaded them)."""

    __slots__ = ("_changes", "_dirty")
    COLUMNS: ClassVar[tuple[str, ...]]
    """Its table's columns, in the table's order (``id`` first)."""
    SHARED: ClassVar[tuple[str, ...]] = ()
    """Its text columns whose values recur from row to row: interned as a record is loaded
    (:meth:`loaded`). Not the texts most rows hold alone (a VM's name, a
    job, an error): interning those only costs (public preset: 0.2 s more to load)."""
    id: int
    _changes: dict[str, Any]
    """The value each changed column held at the last commit, by column."""
    _dirty: list[Record]
    """The loading store's list of its records with changes (this one added on its first)."""

    @classmethod
    def loaded(cls, values: Any, dirty: list[Record]) -> Self:
        """The record of a row read as ``values`` (its columns in :attr:`COLUMNS` order).

        Its :attr:`SHARED` texts are interned (:func:`sys.intern`): the same few names
        (hosts, clusters, regions) and JSON lists recur in thousands of rows, and the driver
        makes a new string for each. With one object per distinct text, the executor's
        lookups by name (its limits are counted by source, destination, cluster and region,
        and asked at every start, end and look at a drain) find an identical key without
        comparing characters, and read a few shared objects that stay in the processor's
        cache instead of one copy per row (an enterprise run: 1–6 % less CPU, the more the
        busier the machine's caches)."""
        record = object.__new__(cls)
        put = object.__setattr__
        for name, value in zip(cls.COLUMNS, values, strict=True):
            put(record, name, value)
        for name in cls.SHARED:
            value = getattr(record, name)
            if type(value) is str:
                put(record, name, intern(value))
        put(record, "_changes", {})
        put(record, "_dirty", dirty)
        return record

    if not TYPE_CHECKING:  # mypy checks assignments against the columns' annotations
        def __setattr__(self, name: str, value: Any) -> None:
            changes = self._changes
            if name not in changes:
                if not changes:
                    self._dirty.append(self)
                changes[name] = getattr(self, name)
            object.__setattr__(self, name, value)

    def changed(self) -> dict[str, Any]:
        """The changed columns' values at the last commit, by column (empty: unchanged)."""
        return self._changes

    def undo(self) -> None:
        """Back to the values of the last commit (a rollback)."""
        for name, value in self._changes.items():
            object.__setattr__(self, name, value)
        self._changes.clear()

    def __repr__(self) -> str:
        columns = ", ".join(f"{c}={getattr(self, c)!r}" for c in self.COLUMNS)
        return f"{type(self).__name__}({columns})"


def _columns(row: type[Base]) -> tuple[str, ...]:
    return tuple(c.key for c in row.__table__.columns)


class StepRecord(Record):
    """A :class:`StepRow` as the executor holds it (:class:`Record`)."""

    COLUMNS = _columns(StepRow)
    __slots__ = COLUMNS
    SHARED = ("host", "cluster", "region", "target", "unreachable_before")
    id: int
    wave: int
    position: int
    host: str
    cluster: str
    region: str
    target: str
    canary: bool
    reinstall: bool
    receives: bool
    state: HostStepState
    error: str
    unreachable_before: str
    reinstall_job: str | None
    reinstall_attempts: int
    started_s: float | None
    finished_s: float | None


class MigrationRecord(Record):
    """A :class:`MigrationRow` as the executor holds it (:class:`Record`)."""

    COLUMNS = _columns(MigrationRow)
    __slots__ = COLUMNS
    SHARED = ("cluster", "region", "source", "dest", "planned_dest", "kind", "workarounds",
              "applied", "rungs")
    id: int
    step_id: int | None
    wave: int
    position: int
    cluster: str
    region: str
    vm: str
    source: str
    dest: str
    planned_dest: str
    kind: str
    is_return: bool
    workarounds: str
    applied: str
    state: MigrationState
    rung: Rung
    rungs: str
    attempts: int
    job: str | None
    estimate_s: float
    started_s: float | None
    finished_s: float | None
    elapsed_s: float | None
    sent_mib: float | None
    iterations: int | None
    downtime_ms: float | None
    dirty_rate_mib_s: float | None
    error: str


class AttemptRow(Base):
    """One try of one migration on one rung of the ladder."""

    __tablename__ = "attempt"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    migration_id: Mapped[int] = mapped_column(ForeignKey("migration.id"))
    number: Mapped[int] = mapped_column(Integer)
    rung: Mapped[Rung] = mapped_column(_enum(Rung))
    job: Mapped[str] = mapped_column(String(128))
    options: Mapped[str] = mapped_column(Text, default="{}")
    started_s: Mapped[float] = mapped_column(Float)
    finished_s: Mapped[float | None] = mapped_column(Float, default=None)
    phase: Mapped[str] = mapped_column(String(16), default="running")
    elapsed_s: Mapped[float | None] = mapped_column(Float, default=None)
    sent_mib: Mapped[float | None] = mapped_column(Float, default=None)
    iterations: Mapped[int | None] = mapped_column(Integer, default=None)
    downtime_ms: Mapped[float | None] = mapped_column(Float, default=None)
    error: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_attempt_migration", "migration_id"),)


@dataclass(slots=True)
class Attempt:
    """An attempt as the executor writes it: a plain record, not a row of the session. The
    store inserts new ones and writes the outcome of ended ones at its next commit, keyed by
    (migration, number), with Core executemany (:meth:`hvroll.store.Store.add_attempt`,
    :meth:`~hvroll.store.Store.attempt_ended`); the database gives each its ``id`` (a
    sequence on PostgreSQL, so region executors writing one campaign never collide)."""

    migration_id: int
    number: int
    rung: Rung
    job: str
    options: str
    started_s: float
    finished_s: float | None = None
    phase: str = "running"
    elapsed_s: float | None = None
    sent_mib: float | None = None
    iterations: int | None = None
    downtime_ms: float | None = None
    error: str = ""

    @classmethod
    def of(cls, row: AttemptRow) -> Attempt:
        """The record of a stored attempt (a run that adopts its job after a restart)."""
        return cls(**{name: getattr(row, name) for name in ATTEMPT_COLUMNS})

    def values(self) -> dict[str, object]:
        """Its columns as written (the rung as its value)."""
        out: dict[str, object] = {name: getattr(self, name) for name in ATTEMPT_COLUMNS}
        out["rung"] = self.rung.value
        return out


ATTEMPT_COLUMNS = ("migration_id", "number", "rung", "job", "options", "started_s",
                   "finished_s", "phase", "elapsed_s", "sent_mib", "iterations",
                   "downtime_ms", "error")
"""The columns of :class:`AttemptRow` an :class:`Attempt` holds (every one but ``id``)."""


class EventRow(Base):
    """A structured event of the campaign (what the dashboard and the report show)."""

    __tablename__ = "event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    t_s: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(48))
    host: Mapped[str | None] = mapped_column(String(255), default=None)
    vm: Mapped[str | None] = mapped_column(String(255), default=None)
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[str] = mapped_column(Text, default="{}")

    __table_args__ = (Index("ix_event_rare", "kind", sqlite_where=RARE_KIND,
                            postgresql_where=RARE_KIND),)


class ControlRow(Base):
    """An operator's request (pause, resume, abort), taken at the next safe point."""

    __tablename__ = "control"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[ControlAction] = mapped_column(_enum(ControlAction))
    requested_at: Mapped[float] = mapped_column(Float)
    """Wall-clock time (epoch seconds) of the request."""
    handled: Mapped[bool] = mapped_column(default=False)


class TransitionRow(Base):
    """One state change of the campaign, a host step or a migration, with its reason: written
    in the transaction that changes the state (:meth:`Store.transition`)."""

    __tablename__ = "transition"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    t_s: Mapped[float] = mapped_column(Float)
    entity: Mapped[str] = mapped_column(String(16))
    """``campaign``, ``host_step`` or ``migration``."""
    entity_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    """The host or VM (``campaign`` for the campaign)."""
    source: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")


class _LeaseColumns:
    """The columns of a lease row, taken and renewed by conditional UPDATEs
    (:mod:`hvroll.store.lease`). ``holder`` is empty when nobody holds it."""

    holder: Mapped[str] = mapped_column(String(64), default="")
    """A random id of the holding process; the fencing check compares it with ``fence``."""
    fence: Mapped[int] = mapped_column(Integer, default=0)
    """Incremented on every take: a writer whose token is stale has lost the lease."""
    host: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    since: Mapped[float] = mapped_column(Float, default=0.0)
    """Wall-clock time (epoch seconds) the holder took the lease."""
    heartbeat: Mapped[float] = mapped_column(Float, default=0.0)
    expires: Mapped[float] = mapped_column(Float, default=0.0)


class LeaseRow(_LeaseColumns, Base):
    """Who runs the campaign: one row."""

    __tablename__ = "lease"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)


class RegionLeaseRow(_LeaseColumns, Base):
    """Who runs one region's part of the campaign (``hvroll run --region R``): one row per
    region, taken and renewed the same way as :class:`LeaseRow`."""

    __tablename__ = "region_lease"
    region: Mapped[str] = mapped_column(String(255), primary_key=True)


class RegionRunRow(Base):
    """One region's part of a campaign driven by its own executor: the region's own state
    (the campaign's lifecycle and transition table), its go after the canary wave, and the
    operator's requests it has taken (every region takes each of them)."""

    __tablename__ = "region_run"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region: Mapped[str] = mapped_column(String(255), unique=True)
    state: Mapped[CampaignState] = mapped_column(_enum(CampaignState))
    approved: Mapped[bool] = mapped_column(default=False)
    started_s: Mapped[float | None] = mapped_column(Float, default=None)
    finished_s: Mapped[float | None] = mapped_column(Float, default=None)
    clock_s: Mapped[float] = mapped_column(Float, default=0.0)
    """The region executor's clock, written as the campaign's ``clock_s``."""
    audit: Mapped[str] = mapped_column(Text, default="{}")
    """The end-of-run audit of the region's VMs (JSON)."""
    controls_seen: Mapped[int] = mapped_column(Integer, default=0)
    """The id of the last operator request (``control`` row) this region has taken."""


_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)
"""What ``json.dumps(value, separators=(",", ":"), sort_keys=True)`` builds on each call, built
once (an event's data, a migration's workarounds: tens of thousands per run)."""


def dumps(value: Any) -> str:
    """``value`` as compact JSON with its keys sorted."""
    return _ENCODER.encode(value)


def loads(text: str) -> Any:
    return json.loads(text) if text else None


@functools.lru_cache(maxsize=4096)
def loads_items(text: str) -> tuple[Any, ...]:
    """The items of a JSON list column (empty for an empty one), parsed once per distinct
    text: a run reads the same few texts again and again (``[]``, a drain's workarounds, a
    ladder's rungs), 131,741 parses per enterprise run on every look. A tuple: what is read
    this way is never changed in place."""
    return tuple(loads(text) or ())


def pack(text: str | bytes, level: int = 6) -> bytes:
    """A large text column (the plan, the inventory) as stored: zlib-compressed (``level``
    1–9: faster or smaller); bytes are the text in UTF-8."""
    return zlib.compress(text.encode() if isinstance(text, str) else text, level)


def unpack(blob: bytes) -> str:
    """The text of a :func:`pack` ed column; a damaged one is an ``InputError``."""
    try:
        return zlib.decompress(blob).decode()
    except (zlib.error, UnicodeDecodeError, TypeError) as exc:
        raise InputError(f"the state file holds a damaged record ({exc}; expected "
                         f"zlib-compressed UTF-8 text as 'hvroll run' writes it)") from None
