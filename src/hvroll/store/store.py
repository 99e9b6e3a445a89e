"""The durable state of a campaign: one SQLite file by default (``--state campaign.db``),
or a PostgreSQL database (``--state postgresql://USER@HOST:PORT/DB``, through psycopg) when
a fleet outgrows one machine: the same tables, the same code, the same lease.

Writes are grouped by the executor into one transaction per step of its loop: the intents of
a batch of side effects are committed before any of them is performed. SQLite runs in WAL mode
so that ``hvroll status`` and the dashboard can read while a campaign writes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from pydantic import BaseModel
from sqlalchemy import (
    MetaData,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError
from sqlalchemy.orm import InstanceState, Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql import ColumnElement, Select, TextClause
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from hvroll.bulk import paused_gc
from hvroll.domain import Fleet
from hvroll.domain.states import (
    CAMPAIGN,
    HOST,
    MIGRATION,
    TERMINAL_CAMPAIGN,
    CampaignState,
    ControlAction,
    HostStepState,
    MigrationState,
    check,
)
from hvroll.errors import CampaignExistsError, InputError
from hvroll.inventory import Format, parse_fleet, serialized
from hvroll.planner.model import Migration, Plan, SkippedHost, Strategy, Summary
from hvroll.store.lease import (
    LeaseHeldError,
    Verdict,
    held_message,
    judge,
    pid_alive,
    read_holder,
    region_holders,
)
from hvroll.store.models import (
    ATTEMPT_COLUMNS,
    RARE_EVENTS,
    RARE_KIND,
    READABLE_NAMED,
    READABLE_SCHEMAS,
    SCHEMA_VERSION,
    Attempt,
    AttemptRow,
    Base,
    CampaignInputRow,
    CampaignRow,
    ControlRow,
    EventRow,
    Meta,
    MigrationRecord,
    MigrationRow,
    Record,
    RegionRunRow,
    StepRecord,
    StepRow,
    TransitionRow,
    campaign_input,
    dumps,
    pack,
    unpack,
)
from hvroll.store.rawsql import commit as commit_driver
from hvroll.store.rawsql import executemany as _executemany
from hvroll.store.rawsql import executemany_rows
from hvroll.store.read import (
    StateReader,
    database_url,
    first_line,
    readonly_engine,
    url_engine,
)

State = CampaignState | HostStepState | MigrationState
_R = TypeVar("_R", bound=Record)
_VALUE: dict[State, str] = {
    s: s.value for states in (CampaignState, HostStepState, MigrationState) for s in states}
"""Each state's value, as a transition records it (a dictionary lookup instead of the enum's
``value`` property, a Python call, twice per transition)."""
_INSERT_TRANSITIONS = insert(cast(Table, TransitionRow.__table__))
"""Transitions are inserted into the table itself (Core executemany, no ORM bookkeeping)."""
_INSERT_EVENTS = insert(cast(Table, EventRow.__table__))
"""Events too: written at the commit, in the order they were recorded."""
_TRANSITION_COLUMNS = ("t_s", "entity", "entity_id", "name", "source", "target", "reason")
"""A transition's values as :meth:`Store.transition` records them (the table's order)."""
_EVENT_COLUMNS = ("t_s", "kind", "host", "vm", "message", "data")
"""An event's values as :meth:`Store.event` records them (the table's order)."""
_ATTEMPTS = cast(Table, AttemptRow.__table__)
_INSERT_ATTEMPTS = insert(_ATTEMPTS)
"""New attempts: the database numbers them (``id``) in the order they were added."""
_ATTEMPT_VALUES = attrgetter(*ATTEMPT_COLUMNS)
"""A new attempt's values, in the order of :data:`~hvroll.store.models.ATTEMPT_COLUMNS`."""
_END_ATTEMPTS = (update(_ATTEMPTS)
                 .where(_ATTEMPTS.c.migration_id == bindparam("b_migration"),
                        _ATTEMPTS.c.number == bindparam("b_number"))
                 .values({name: bindparam(f"v_{name}") for name in ATTEMPT_COLUMNS[6:]}))
"""An ended attempt's outcome, by its key (migration, number)."""
_END_NAMES = (*(f"v_{name}" for name in ATTEMPT_COLUMNS[6:]), "b_migration", "b_number")
_END_VALUES = attrgetter(*ATTEMPT_COLUMNS[6:], "migration_id", "number")
"""An ended attempt's parameters (:data:`_END_NAMES`): its outcome, then its key."""
_CORE_UPDATED: dict[type[Base], Table] = {
    cls: cast(Table, cls.__table__) for cls in (CampaignRow, StepRow, MigrationRow, AttemptRow)}
_UPDATE_BY_ID = {table: update(table).where(table.c.id == bindparam("b_id"))
                 for table in _CORE_UPDATED.values()}
"""Built once; the columns set are those of the parameters."""
"""Rows whose changes a commit writes itself, one executemany per table and set of changed
columns, instead of the ORM's one UPDATE per row."""
_RECORD_TABLES: dict[type[Record], Table] = {
    StepRecord: cast(Table, StepRow.__table__),
    MigrationRecord: cast(Table, MigrationRow.__table__)}
"""The tables of the records the executor holds (:class:`~hvroll.store.models.Record`)."""


def _insert_many(conn: Connection, table: Table, names: tuple[str, ...],
                 rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (values in the order of ``names``) as one executemany of the driver
    (:func:`~hvroll.store.rawsql.executemany_rows`), each column they leave out given its
    scalar default, as SQLAlchemy's own insert would: the rows stored are the same, without
    SQLAlchemy building and converting each row's parameters in Python (a third of creating
    the enterprise campaign), nor a dictionary per row (public preset: 183,061 rows)."""
    missing = {c.key: c.default.arg for c in table.columns
               if c.key not in names and isinstance(c.default, ScalarElementColumnDefault)}
    if missing:
        defaults = tuple(missing.values())
        rows = [(*row, *defaults) for row in rows]
    executemany_rows(conn, _insert_of(table), (*names, *missing), rows)


_STEP_COLUMNS = ("id", "wave", "position", "host", "cluster", "region", "target", "canary",
                 "reinstall", "receives", "state")
"""The host step columns :meth:`Store.create_campaign` gives, in the order of its rows."""
_MIGRATION_COLUMNS = ("step_id", "wave", "position", "cluster", "region", "vm", "source",
                      "dest", "planned_dest", "kind", "is_return", "workarounds", "state",
                      "estimate_s")
"""The migration columns :meth:`Store.create_campaign` gives, in the order of its rows."""


def _json(model: BaseModel) -> bytes:
    """``model.model_dump_json()`` as UTF-8, taken from pydantic's serializer as it makes it
    (``model_dump_json`` decodes those bytes to a string, which :func:`pack` then encoded
    again: 0.25 s for the public preset's 215 MB)."""
    return model.__pydantic_serializer__.to_json(model)


@functools.cache
def _insert_of(table: Table) -> Insert:
    """One INSERT statement per table, so :func:`executemany_rows` compiles it once."""
    return insert(table)


BUSY_TIMEOUT_MS = 10_000


def _set_wal(cursor: Any) -> None:
    """WAL mode, once the database lets the mode change: on a file another process is
    creating at this moment SQLite answers "database is locked" at once, without waiting
    for the busy timeout (a mode change takes an exclusive lock; once the file is in WAL mode
    the pragma changes nothing and always succeeds)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _bind_none_as_is() -> None:
    """Have Python's SQLite driver bind ``None`` through a registered adapter that gives it
    back: NULL, as it binds it without one. A parameter not of an exact base type (``None``
    among them) is first looked up in the driver's adapters, then, none found, as an
    ``__adapt__`` attribute of the driver's protocol class, a failed attribute lookup on a
    class that on Python 3.11 formats an AttributeError's message before dropping it: about
    2,000 machine instructions per ``None`` written (every NULL column of an attempt, an
    event's missing host or VM), 8 % of a simulated run's commits. Only ``None``'s adapter is
    registered (the driver's adapters are its own, per process): the values bound are the
    same."""
    sqlite3.register_adapter(type(None), _NONE_AS_IS.get)


_NONE_AS_IS: dict[None, None] = {None: None}
"""Gives ``None`` back (:func:`_bind_none_as_is`): a lookup, no Python call."""


def engine_for(target: str | os.PathLike[str],
               synchronous: Callable[[], str] = lambda: "NORMAL") -> Engine:
    """An engine for a path (SQLite) or a SQLAlchemy URL (``postgresql://`` through
    psycopg). A SQLite connection syncs its writes to disk as ``synchronous()`` says when it
    connects (``NORMAL``: at each WAL checkpoint; see :meth:`Store.sync_to_disk`)."""
    url = database_url(os.fspath(target))
    engine = url_engine(url) if "://" in os.fspath(target) else create_engine(url)
    if url.startswith("sqlite"):
        _bind_none_as_is()

        @event.listens_for(engine, "connect")
        def _pragmas(conn: Any, _record: Any) -> None:
            cursor = conn.cursor()
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            _set_wal(cursor)
            cursor.execute(f"PRAGMA synchronous={synchronous()}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
    return engine


SCHEMA_LOCK_KEY = 0x6876726F6C6C
"""PostgreSQL advisory lock taken while the tables are created (\"hvroll\" in ASCII)."""


def create_tables(engine: Engine, metadata: MetaData | None = None,
                  extra: Sequence[Table] = ()) -> None:
    """Create the missing tables in one transaction that holds the database's write lock
    from its start (SQLite ``BEGIN IMMEDIATE``; PostgreSQL an advisory lock): two processes
    opening a new state file at once then create its tables one after the other, and the
    second finds them all, instead of both creating them table by table and one failing on
    a table the other has just made. A state file that has them all is only read (a runner
    holding a long write transaction does not hold up 'hvroll pause' or 'status').

    ``metadata``: the state file's tables by default; ``extra``: tables of another metadata
    created with them (the control-plane journal's lease)."""
    metadata = metadata or Base.metadata
    wanted = {*metadata.tables, *(t.name for t in extra)}
    with engine.connect() as conn:
        if wanted <= set(inspect(conn).get_table_names()):
            return
        conn.rollback()
        _write_lock(conn)
        metadata.create_all(conn)
        for table in extra:
            table.create(conn, checkfirst=True)
        conn.commit()


def _write_lock(conn: Connection) -> None:
    """Begin ``conn``'s transaction holding the database's write lock (SQLite ``BEGIN
    IMMEDIATE``, waiting up to the busy timeout; PostgreSQL the schema's advisory lock)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))


V1_INDEXES = ("ix_migration_state", "ix_event_kind")
"""The indexes of a version 1 state file that version 2 drops (:func:`upgrade_schema`)."""
OLDER_SCHEMAS = ("1", "2")
"""The versions a writer moves to :data:`~hvroll.store.models.SCHEMA_VERSION` on opening."""


def upgrade_schema(engine: Engine, target: str = "", *,
                   wall: Callable[[], float] = time.time) -> None:
    """Move a version 1 or 2 state file to version 3 (:data:`~hvroll.store.models.
    SCHEMA_VERSION`), in one transaction that holds the write lock from its start (as
    :func:`create_tables`), so that of two writers opening the file at once the second finds
    it moved; then the version is written.

    From version 1 to 2: drop the indexes on a migration's state and an event's kind
    (:data:`V1_INDEXES`) and create the index of the rare event kinds. From version 2 to 3:
    copy the campaign's plan and inventory into their own table
    (:class:`~hvroll.store.models.CampaignInputRow`) and drop their columns from the campaign
    row (on SQLite that rewrites the row once, as every one of its updates did before). No
    other table and no other row changes. A file of another version, or of none yet (a new
    one), is left as it is.

    A file whose campaign (or one of its regions) a live runner holds is not moved: that
    runner is an older hvroll (this one would have moved the file when it opened it), and it
    could not read its campaign row once the plan and inventory left it.
    :class:`~hvroll.store.lease.LeaseHeldError` names it, at wall time ``wall()``; the file
    is left as it is."""
    with engine.connect() as conn:
        if _schema_version(conn) not in OLDER_SCHEMAS:
            return
        conn.rollback()
        _write_lock(conn)
        version = _schema_version(conn)
        if version in OLDER_SCHEMAS:
            _refuse_live_runner(conn, target or str(engine.url), version, wall())
        if version == "1":
            for name in V1_INDEXES:
                conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
            for index in cast(Table, EventRow.__table__).indexes:
                index.create(conn, checkfirst=True)
        if version in OLDER_SCHEMAS:
            _move_campaign_input(conn, version)
            conn.execute(update(cast(Table, Meta.__table__))
                         .where(Meta.key == "schema_version")
                         .values(value=str(SCHEMA_VERSION)))
        conn.commit()


def _refuse_live_runner(conn: Connection, target: str, version: str, now: float) -> None:
    """Raise :class:`~hvroll.store.lease.LeaseHeldError` when a live runner holds the
    campaign or a region of it (a holder on this machine whose process is gone, or whose
    lease expired, is not one)."""
    host = socket.gethostname()
    held = [("campaign", read_holder(conn)), *(
        (f"region {region}", row) for region, row in region_holders(conn).items())]
    for subject, row in held:
        alive = row is not None and row.host == host and pid_alive(row.pid)
        if row is not None and judge(row, host=host, now=now,
                                     alive=alive) is Verdict.HELD:
            raise LeaseHeldError(
                f"{held_message(target, row, now, subject, 'hvroll run')} (this hvroll "
                f"would move the file from schema version {version} to {SCHEMA_VERSION}, "
                f"which that one cannot read: let it end, or pause it with the hvroll that "
                f"runs it, then open the file again)")


def _move_campaign_input(conn: Connection, version: str) -> None:
    """Version 2 to 3: the campaign row's plan and inventory (if it has a campaign) copied into
    :class:`~hvroll.store.models.CampaignInputRow`, their columns dropped from the campaign
    table (an empty file's too: a campaign created later gives neither)."""
    moved = cast(Table, CampaignInputRow.__table__)
    moved.create(conn, checkfirst=True)  # a writer's create_tables may have made it already
    held = campaign_input(version)
    conn.execute(insert(moved).from_select(
        ["id", "plan", "inventory"], select(held.c.id, held.c.plan, held.c.inventory)))
    for name in ("plan", "inventory"):
        conn.exec_driver_sql(f"ALTER TABLE campaign DROP COLUMN {name}")


def _schema_version(conn: Connection) -> str | None:
    return conn.scalar(select(Meta.value).where(Meta.key == "schema_version"))


def check_target(target: str, *, create: bool, readonly: bool) -> None:
    """Refuse, before anything is opened for writing, what is not a hvroll state file: a
    directory, a foreign database, an empty file where a campaign is expected, or a file that
    cannot be written where it must be. A new (or empty) file is accepted only with ``create``.
    The target is left exactly as it was."""
    if "://" in target:
        if not create:
            StateReader(target).close()
        elif not _hvroll_or_empty(target):
            raise InputError(f"{target}: not a hvroll state file (the database holds other "
                             f"tables; expected an empty database or one written by 'hvroll "
                             f"run PLAN --state {target}')")
        return
    path = Path(target)
    if path.is_dir():
        raise InputError(f"{target}: is a directory (expected a state file written by "
                         f"'hvroll run PLAN --state FILE')")
    if not path.exists() or (create and path.stat().st_size == 0):
        where = path.parent if str(path.parent) else Path()
        if not readonly and not os.access(where, os.W_OK):
            raise InputError(f"{target}: its directory is not writable (expected a writable "
                             f"place for a new state file)")
        return
    try:
        StateReader(target).close()
    except InputError:
        # Another run creating this file at the same moment: still at it, or done since
        # the look above (its tables and schema version written in between).
        if not (create and (_being_created(target) or _readable(target))):
            raise
    if not readonly and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        raise InputError(f"{target}: is read-only (expected a writable state file and "
                         f"directory; 'hvroll status' and 'hvroll report' read it as it is)")


def _hvroll_or_empty(target: str) -> bool:
    """A database (URL) that holds no table, or only a state file's tables; one that cannot
    be reached is refused with the server's reason."""
    engine = readonly_engine(target)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names()) <= set(Base.metadata.tables)
    except DatabaseError as exc:
        raise InputError(f"{target}: cannot be opened ({first_line(exc.orig)})") from None
    finally:
        engine.dispose()


def _readable(target: str) -> bool:
    """Whether ``target`` opens now as a state file (:class:`StateReader`)."""
    try:
        StateReader(target).close()
    except InputError:
        return False
    return True


def _being_created(target: str) -> bool:
    """A state file another ``hvroll run`` is creating at this moment: only tables of a state
    file, its schema version not written yet (the two runs then meet at the campaign's
    lease)."""
    engine = readonly_engine(target)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            if not tables <= set(Base.metadata.tables):
                return False  # someone else's database
            return "meta" not in tables or conn.scalar(
                select(func.count()).select_from(Meta)) == 0
    except DatabaseError:
        return False
    finally:
        engine.dispose()


FLEETS_KEPT = 2
"""Parsed inventories (and plans) a process keeps (:func:`shared_fleet`, :func:`shared_plan`)."""
_parsed: OrderedDict[tuple[str, str, bytes], Any] = OrderedDict()
_parsed_lock = threading.Lock()


def _shared(kind: str, target: str, blob: bytes, parse: Callable[[], Any]) -> Any:
    """``parse()`` of the ``kind`` stored as ``blob`` in ``target``, once per process (the
    others wait while the first parses); the last :data:`FLEETS_KEPT` of each kind are kept."""
    key = (kind, target, hashlib.sha256(blob).digest())
    with _parsed_lock:
        found = _parsed.get(key)
        if found is None:
            found = parse()
            _parsed[key] = found
            while sum(k[0] == kind for k in _parsed) > FLEETS_KEPT:
                del _parsed[next(k for k in _parsed if k[0] == kind)]
        _parsed.move_to_end(key)
        return found


def _already(kind: str, target: str, blob: bytes) -> Any:
    """What :func:`_shared` kept of ``kind`` for ``blob``, or None: nothing is parsed."""
    with _parsed_lock:
        return _parsed.get((kind, target, hashlib.sha256(blob).digest()))


PLAN_OUTLINE = "plan_outline"
"""The ``meta`` key under which :meth:`Store.create_campaign` writes the plan's outline (what
:class:`PlanOutline` holds, as the plan's JSON has it, and the digest of the stored plan)."""
INVENTORY_OUTLINE = "inventory_outline"
"""The ``meta`` key under which :meth:`Store.create_campaign` writes the inventory's outline
(its regions, its number of VMs and the digest of the stored inventory they describe)."""


@dataclass(frozen=True, slots=True)
class PlanOutline:
    """What a campaign's summary needs of its plan (:meth:`Store.plan_outline`)."""

    strategy: Strategy
    target: str
    skipped: tuple[SkippedHost, ...]
    summary: Summary


@dataclass(frozen=True, slots=True)
class InventoryOutline:
    """What a campaign's summary needs of its inventory (:meth:`Store.inventory_outline`):
    its regions' names in its order and its number of VMs."""

    regions: tuple[str, ...]
    vms: int


def shared_fleet(target: str, blob: bytes) -> Fleet:
    """The inventory stored as ``blob`` in ``target``, parsed once per process: the region
    executors of one worker (a thread each, a store each) share one frozen model instead of
    one copy each (public preset: about 1 GiB per copy). The others wait while the first
    parses. Keyed by the blob's digest: another campaign in the same database is parsed
    anew."""
    fleet: Fleet = _shared("fleet", target, blob, lambda: parse_fleet(
        unpack(blob), f"{target}#inventory", Format.JSON))
    return fleet


def shared_plan(target: str, blob: bytes) -> Plan:
    """The plan stored as ``blob`` in ``target``, parsed once per process as the inventory
    is (:func:`shared_fleet`): every region executor read the whole plan (public preset:
    about 400 MiB per copy, 5 GiB for a worker's 13 regions)."""
    plan: Plan = _shared("plan", target, blob,
                         lambda: Plan.model_validate_json(unpack(blob)))
    return plan


class Store:
    """A campaign's state file, opened for reading and writing (``readonly``: reading only,
    the file is never changed). A file that is not a hvroll state file is refused untouched."""

    def __init__(self, target: str | os.PathLike[str], *, create: bool = False,
                 readonly: bool = False) -> None:
        self.target = os.fspath(target)
        if not create and "://" not in self.target and not Path(self.target).exists():
            raise InputError(f"{self.target}: no such state file (expected one written by "
                             f"'hvroll run PLAN --state {self.target}')")
        check_target(self.target, create=create, readonly=readonly)
        self._synchronous = "NORMAL"
        self.engine = (readonly_engine(self.target) if readonly
                       else engine_for(self.target, lambda: self._synchronous))
        self._transitions: list[tuple[Any, ...]] = []
        """State changes since the last commit, written with it (:data:`_TRANSITION_COLUMNS`)."""
        self._events: list[tuple[Any, ...]] = []
        """Events since the last commit, written with it (:data:`_EVENT_COLUMNS`)."""
        self._new_attempts: list[Attempt] = []
        """Attempts added since the last commit, inserted with it."""
        self._ended_attempts: dict[tuple[int, int], Attempt] = {}
        """Attempts ended since the last commit, their outcome written with it."""
        self._held: dict[type[Record], dict[int, Record]] = {k: {} for k in _RECORD_TABLES}
        """The records loaded, by kind and id: loading a row again gives the same record."""
        self._dirty: dict[type[Record], list[Record]] = {k: [] for k in _RECORD_TABLES}
        """The records changed since the last commit, by kind, in the order of their first
        change."""
        self._plan: Plan | None = None
        self._fleet: Fleet | None = None
        self._packed: dict[str, bytes] = {}
        """The stored plan and inventory, by column, once read (:meth:`packed`)."""
        self._schema = str(SCHEMA_VERSION)
        """The file's schema version (an older one: a reading store's file)."""
        self._inventory_outline: InventoryOutline | None = None
        self.before_commit: Callable[[], None] | None = None
        """Called inside each commit's transaction before it ends (the lease's fenced renewal:
        it raises when this process no longer holds the campaign, and nothing is written)."""
        self._readonly = readonly
        self.session = Session(self.engine, expire_on_commit=False, autoflush=False)
        event.listen(self.session, "after_soft_rollback", self._forget)
        try:
            self._open(readonly)
        except BaseException:
            self.close()  # no connection left behind for the garbage collector
            raise

    def _open(self, readonly: bool) -> None:
        for attempt in range(3):
            try:
                if not readonly:  # tables added since a file was written appear on first write
                    create_tables(self.engine)
                    upgrade_schema(self.engine, self.target)
                self._check_schema()
                break
            except IntegrityError:  # another process created the file at the same time
                self.session.rollback()
            except DatabaseError as exc:
                self.session.rollback()
                if attempt == 2 or "already exists" not in str(exc.orig):
                    raise InputError(f"{self.target}: not a hvroll state file "
                                     f"({first_line(exc.orig)})") from exc

    def _check_schema(self) -> None:
        row = self.session.get(Meta, "schema_version")
        if row is None:
            self.session.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
            self.session.commit()
        elif row.value != str(SCHEMA_VERSION) and not (
                self._readonly and row.value in READABLE_SCHEMAS):
            expected = READABLE_NAMED if self._readonly else SCHEMA_VERSION
            raise InputError(f"{self.target}: state file schema {row.value} is not supported "
                             f"(expected {expected})")
        else:
            self._schema = row.value

    # -- the campaign ----------------------------------------------------------------------

    def campaign(self) -> CampaignRow | None:
        return self.session.get(CampaignRow, 1)

    def require_campaign(self) -> CampaignRow:
        row = self.campaign()
        if row is None:
            raise InputError(f"{self.target}: holds no campaign (expected one started with "
                             f"'hvroll run PLAN --state {self.target}')")
        return row

    def create_campaign(self, plan: Plan, fleet: Fleet, driver: str, now_s: float,
                        plan_file: str = "") -> CampaignRow:
        """Write the campaign, its host steps and migrations from ``plan`` (all PENDING).

        The inventory is kept as the fleet's JSON with every field (pydantic's own
        serializer: 0.4 s for 35,000 VMs where the canonical file format, defaults left out,
        takes 1.9 s), compressed fast; :meth:`fleet` reads it back as the same fleet. It is
        :func:`~hvroll.inventory.serialized` of the fleet: the one made when the fleet was
        planned or its plan checked in this process, if it was.

        The cyclic collector is paused meanwhile: the rows made here are freed as soon as
        they are written, and a collection started by making them walked the whole heap, the
        fleet's and the plan's objects with it (public preset: 6.4 s of 11.8 s CPU). This
        process's stores then share ``plan`` and ``fleet`` as they would share them parsed
        from what was stored (:func:`shared_plan`, :func:`shared_fleet`: equal models)."""
        if self.campaign() is not None:
            raise CampaignExistsError(f"{self.target}: already holds a campaign (expected a "
                                      f"new state file, or the same plan to resume it)")
        with paused_gc():
            row, packed = self._write_campaign(plan, fleet, driver, now_s, plan_file)
        self._packed = {"plan": packed.plan, "inventory": packed.inventory}
        self._plan = _shared("plan", self.target, packed.plan, lambda: plan)
        self._fleet = _shared("fleet", self.target, packed.inventory, lambda: fleet)
        return row

    def _write_campaign(self, plan: Plan, fleet: Fleet, driver: str, now_s: float,
                        plan_file: str) -> tuple[CampaignRow, CampaignInputRow]:
        row = CampaignRow(id=1, state=CampaignState.PENDING, driver=driver,
                          plan_file=plan_file, approved=not plan.policy.hold_after_canary,
                          created_s=now_s, clock_s=now_s)
        packed = CampaignInputRow(id=1, plan=pack(_json(plan), 1),
                                  inventory=serialized(fleet).compressed)
        self.session.add(row)
        self.session.flush()  # the campaign row first: its input row refers to it
        self.session.add(packed)
        self.session.add(Meta(key=PLAN_OUTLINE, value=json.dumps({
            "digest": hashlib.sha256(packed.plan).hexdigest(), "strategy": plan.strategy.value,
            "target": plan.target,
            "skipped": [h.model_dump(mode="json") for h in plan.skipped],
            "summary": plan.summary.model_dump(mode="json")})))
        self.session.add(Meta(key=INVENTORY_OUTLINE, value=json.dumps({
            "digest": hashlib.sha256(packed.inventory).hexdigest(),
            "regions": [r.name for r in fleet.regions], "vms": len(fleet.vms)})))
        self.session.flush()
        step_rows: list[tuple[Any, ...]] = []
        mig_rows: list[tuple[Any, ...]] = []
        # A return's cluster is its source's, which may hold no step (a host the plan skipped).
        where = {h.name: (h.cluster, fleet.cluster_by_name[h.cluster].region)
                 for h in fleet.hosts if h.cluster in fleet.cluster_by_name}
        where.update({s.host: (s.cluster, s.region) for w in plan.waves for s in w.steps})
        workarounds: dict[tuple[str, ...], str] = {}
        step_state, state = HostStepState.PENDING, MigrationState.PENDING
        position = 0

        def migration(m: Migration, wave: int, pos: int, step_id: int | None, cluster: str,
                      region: str) -> tuple[Any, ...]:
            return (step_id, wave, pos, cluster, region, m.vm, m.source, m.dest, m.dest,
                    m.kind.value, m.returning, workarounds.get(m.workarounds)
                    or workarounds.setdefault(m.workarounds, dumps(list(m.workarounds))),
                    state, m.estimate.seconds)

        for wave in plan.waves:
            receivers = {m.dest for s in wave.steps for m in s.drain}
            for step in wave.steps:
                position += 1
                step_rows.append((position, wave.index, position, step.host, step.cluster,
                                  step.region, step.target, step.canary, step.reinstall,
                                  step.host in receivers, step_state))
                mig_rows += [migration(m, wave.index, i, position, step.cluster, step.region)
                             for i, m in enumerate(step.drain)]
            mig_rows += [migration(m, wave.index, 10_000 + i, None,
                                   *where.get(m.source, ("", "")))
                         for i, m in enumerate(wave.returns)]
        conn = self.session.connection()
        for table, names, rows in ((StepRow.__table__, _STEP_COLUMNS, step_rows),
                                   (MigrationRow.__table__, _MIGRATION_COLUMNS, mig_rows)):
            if rows:
                _insert_many(conn, cast(Table, table), names, rows)
        self.session.commit()
        return row, packed

    def packed(self, column: Literal["plan", "inventory"]) -> bytes:
        """The campaign's stored plan or inventory (:func:`~hvroll.store.models.pack` ed
        JSON), read once: neither ever changes. In its own table since schema version 3
        (:func:`~hvroll.store.models.campaign_input`); a reading store reads an older file's
        from its campaign row."""
        found = self._packed.get(column)
        if found is None:
            self.require_campaign()
            table = campaign_input(self._schema)
            found = self.session.scalar(select(table.c[column]).where(table.c.id == 1))
            if found is None:
                raise InputError(f"{self.target}: holds no {column} for its campaign "
                                 f"(expected one written by 'hvroll run PLAN --state "
                                 f"{self.target}')")
            self._packed[column] = found
        return found

    def plan(self) -> Plan:
        """The campaign's plan (read once: it never changes; the model is frozen). The
        stores of one process share it (:func:`shared_plan`)."""
        if self._plan is None:
            self._plan = shared_plan(self.target, self.packed("plan"))
        return self._plan

    def fleet(self) -> Fleet:
        """The campaign's inventory (read once: it never changes; the model is frozen). The
        stores of one process share it (:func:`shared_fleet`)."""
        if self._fleet is None:
            self._fleet = shared_fleet(self.target, self.packed("inventory"))
        return self._fleet

    def plan_outline(self) -> PlanOutline:
        """The plan's strategy, target, skipped hosts and summary: from the parsed plan when
        this process has it, else as the campaign's creation wrote them, else (a state file
        written before they were) read from the stored JSON without validating the whole
        plan (public preset: decoding its 45 MB of JSON took 1.5 s)."""
        plan = self._plan
        blob = self.packed("plan")
        if plan is None:
            plan = _already("plan", self.target, blob)
        if plan is not None:
            return PlanOutline(plan.strategy, plan.target, plan.skipped, plan.summary)
        written = self.session.get(Meta, PLAN_OUTLINE)
        noted: dict[str, Any] = json.loads(written.value) if written is not None else {}
        fresh = noted.get("digest") == hashlib.sha256(blob).hexdigest()
        data: dict[str, Any] = noted if fresh else json.loads(unpack(blob))
        return PlanOutline(Strategy(data["strategy"]), data["target"],
                           tuple(SkippedHost.model_validate(h) for h in data.get("skipped", ())),
                           Summary.model_validate(data["summary"]))

    def inventory_outline(self) -> InventoryOutline:
        """The inventory's regions and number of VMs: from the parsed inventory when this
        process has it, else as the campaign's creation wrote them, else (a state file
        written before they were) counted in the stored JSON (written from the model, so its
        lists are the model's); never by building the model (public preset: about 1 GiB and
        20 s; the JSON alone 5 s)."""
        if self._inventory_outline is not None:
            return self._inventory_outline
        blob = self.packed("inventory")
        fleet = self._fleet
        if fleet is None:
            fleet = _already("fleet", self.target, blob)
        written = self.session.get(Meta, INVENTORY_OUTLINE) if fleet is None else None
        noted = json.loads(written.value) if written is not None else None
        if noted is not None and noted.get("digest") == hashlib.sha256(blob).hexdigest():
            out = InventoryOutline(tuple(noted["regions"]), int(noted["vms"]))
        elif fleet is not None:
            out = InventoryOutline(tuple(r.name for r in fleet.regions), len(fleet.vms))
        else:
            data = json.loads(unpack(blob))
            out = InventoryOutline(tuple(r["name"] for r in data.get("regions", ())),
                                   len(data.get("vms", ())))
        self._inventory_outline = out
        return out

    # -- rows -----------------------------------------------------------------------------

    def steps(self, region: str | None = None) -> list[StepRecord]:
        """The host steps in plan order (``region``: that region's only), as records this
        store writes (:class:`~hvroll.store.models.Record`)."""
        table = _RECORD_TABLES[StepRecord]
        query = select(table).order_by(table.c.position)
        if region is not None:
            query = query.where(table.c.region == region)
        return self._records(StepRecord, query)

    def migrations(self, region: str | None = None) -> list[MigrationRecord]:
        """The migrations in plan order (``region``: that region's only), as records this
        store writes (:class:`~hvroll.store.models.Record`).

        Read with the cyclic collector paused, as the steps are: the collections that
        making the public preset's 170,394 rows (then ORM objects) started walked the heap six
        times over, the fleet and the plan with it (half of the load's 9.3 s profiled)."""
        table = _RECORD_TABLES[MigrationRecord]
        query = select(table).order_by(table.c.wave, table.c.step_id, table.c.position)
        if region is not None:
            query = query.where(table.c.region == region)
        return self._records(MigrationRecord, query)

    def _records(self, kind: type[_R], query: Select[Any]) -> list[_R]:
        """The rows of ``query`` as records of ``kind``: one record per row for the store's
        life (a row loaded again is the record already held, with its changes, as the
        session's identity map gave the same object)."""
        held, dirty = self._held[kind], self._dirty[kind]
        out: list[_R] = []
        with paused_gc():
            for values in self.session.execute(query):
                record = held.get(values[0])
                if record is None:
                    record = held[values[0]] = kind.loaded(values, dirty)
                out.append(cast(_R, record))
        return out

    # -- regions (one executor per region) ----------------------------------------------------

    def regions(self) -> list[str]:
        """The campaign's regions: those of its inventory, in its order."""
        return [r.name for r in self.fleet().regions]

    def region_runs(self) -> list[RegionRunRow]:
        """The regions driven by their own executor so far (``hvroll run --region``)."""
        return list(self.session.scalars(select(RegionRunRow).order_by(RegionRunRow.region)))

    def region_run(self, region: str) -> RegionRunRow:
        """``region``'s run row, created (pending, with the campaign's go after the canary
        wave) on its first run; written at the next commit (by the region's lease holder)."""
        row = self.session.scalar(select(RegionRunRow).where(RegionRunRow.region == region))
        if row is None:
            row = RegionRunRow(region=region, state=CampaignState.PENDING,
                               approved=self.require_campaign().approved, clock_s=0.0,
                               controls_seen=0)
            self.session.add(row)
        return row

    def region_ends(self) -> dict[str, CampaignState] | None:
        """How each region with work ended, read afresh from the database (what other
        executors committed); None while one of them has not ended (or never ran)."""
        runs = cast(Table, RegionRunRow.__table__)
        states = {r: CampaignState(v) for r, v in self.session.execute(
            select(runs.c.region, runs.c.state))}
        with_work = set(self.session.scalars(select(StepRow.region).distinct()))
        with_work |= set(self.session.scalars(select(MigrationRow.region).distinct()))
        ends = {r: states[r] for r in with_work if states.get(r) in TERMINAL_CAMPAIGN}
        return ends if len(ends) == len(with_work) else None

    def failed_hosts(self, *, besides: str) -> int:
        """Hosts with a failed step outside region ``besides`` (the campaign's failed-host
        tolerance counts every region's)."""
        return int(self.session.scalar(
            select(func.count(func.distinct(StepRow.host)))
            .where(StepRow.state == HostStepState.FAILED, StepRow.region != besides)) or 0)

    def campaign_moved(self, new: CampaignState, when: Iterable[CampaignState], t_s: float,
                       reason: str) -> bool:
        """Move the campaign row to ``new`` if its state in the database is one of ``when``:
        one conditional UPDATE, so that of several region executors exactly one moves it
        (recorded as a transition, written at the next :meth:`commit`). True if this one
        did."""
        camp = self.require_campaign()
        table = _CORE_UPDATED[CampaignRow]
        result = self.session.connection().execute(
            update(table).where(table.c.id == camp.id, table.c.state.in_(list(when)))
            .values(state=new, **({"finished_s": t_s} if new in TERMINAL_CAMPAIGN else {})))
        if result.rowcount != 1:
            return False
        old = self.session.scalar(select(TransitionRow.target).where(
            TransitionRow.entity == "campaign").order_by(TransitionRow.id.desc()).limit(1))
        self._transitions.append((float(t_s), "campaign", camp.id, "campaign",
                                  old or camp.state.value, new.value, reason))
        set_committed_value(camp, "state", new)
        return True

    def attempts(self, migration_ids: Iterable[int] | None = None) -> list[AttemptRow]:
        query = select(AttemptRow).order_by(AttemptRow.migration_id, AttemptRow.number)
        if migration_ids is not None:
            query = query.where(AttemptRow.migration_id.in_(list(migration_ids)))
        return list(self.session.scalars(query))

    def add(self, row: Base) -> None:
        self.session.add(row)

    def add_attempt(self, attempt: Attempt) -> None:
        """A new attempt, inserted at the next :meth:`commit` (as it is then)."""
        self._new_attempts.append(attempt)

    def drop_attempt(self, migration_id: int, number: int) -> None:
        """Forget a migration's attempt whose intent never reached the cloud (reconciliation:
        it is started again under the same number); gone at the next :meth:`commit`."""
        self.session.execute(delete(AttemptRow).where(AttemptRow.migration_id == migration_id,
                                                      AttemptRow.number == number))

    def attempt_ended(self, attempt: Attempt) -> None:
        """``attempt``'s outcome (its fields after ``started_s``), written at the next
        :meth:`commit`."""
        self._ended_attempts[(attempt.migration_id, attempt.number)] = attempt

    def event(self, t_s: float, kind: str, message: str = "", *, host: str | None = None,
              vm: str | None = None, **data: Any) -> None:
        self._events.append((float(t_s), kind, host, vm, message, dumps(data)))

    def events(self, kind: str | None = None, limit: int | None = None) -> list[EventRow]:
        query = select(EventRow).order_by(EventRow.id.desc())
        if kind is not None:
            query = query.where(*kind_is(kind))
        if limit is not None:
            query = query.limit(limit)
        return list(self.session.scalars(query))

    def count_events(self, kind: str) -> int:
        return int(self.session.scalar(
            select(func.count()).select_from(EventRow).where(*kind_is(kind))) or 0)

    # -- state changes -----------------------------------------------------------------------

    def transition(self, row: CampaignRow | RegionRunRow | StepRecord | MigrationRecord,
                   new: State, t_s: float, reason: str = "") -> None:
        """Move ``row`` to ``new`` if its lifecycle's table allows it (else
        IllegalTransitionError, nothing changed), and record the move with ``reason`` in the
        same transaction (written at the next :meth:`commit`)."""
        old: State
        if isinstance(row, MigrationRecord):  # a record's state is always its enum's member
            assert isinstance(new, MigrationState)
            old, entity, name = row.state, "migration", row.vm
            if new not in MIGRATION[old]:  # the message is built only for a refusal
                check(MIGRATION, old, new, f"vm {name}")
            row.state = new
        elif isinstance(row, StepRecord):
            assert isinstance(new, HostStepState)
            old, entity, name = row.state, "host_step", row.host
            if new not in HOST[old]:
                check(HOST, old, new, f"host {name}")
            row.state = new
        elif isinstance(row, RegionRunRow):
            assert isinstance(new, CampaignState)
            old, entity, name = row.state, "region", row.region
            row.state = check(CAMPAIGN, CampaignState(old), new, f"region {name}")
        else:
            assert isinstance(new, CampaignState)
            old, entity, name = row.state, "campaign", "campaign"
            row.state = check(CAMPAIGN, CampaignState(old), new, "campaign")
        self._transitions.append((float(t_s), entity, row.id, name, _VALUE[old], _VALUE[new],
                                  reason))

    def transitions(self) -> list[TransitionRow]:
        """Every recorded state change, oldest first."""
        return list(self.session.scalars(select(TransitionRow).order_by(TransitionRow.id)))

    def commit(self) -> None:
        """End the transaction: the state changes, their records and everything else written
        since the last commit become durable together."""
        if self.before_commit is not None:
            self.before_commit()
        self._write_changes()
        if (any(self._dirty.values()) or self._new_attempts or self._ended_attempts
                or self._transitions or self._events):
            self._write_all(self.session.connection())
        if not self._commit_on_driver():
            self.session.commit()
        for dirty in self._dirty.values():
            for changes in map(_CHANGES, dirty):
                changes.clear()
            dirty.clear()

    def _commit_on_driver(self) -> bool:
        """Commit on the driver's connection, the session's transaction left open, when the
        session holds nothing of its own in it: no row added, deleted or changed but not
        written (:meth:`_write_changes` wrote the loaded rows' changes), none added or
        deleted since that transaction began (a rollback would forget them), one connection
        and no savepoint. What the session's commit then does besides the driver's commit
        is nothing a later commit or rollback needs: its transaction's begin, the pool's
        check-in and reset of the connection, its events (about 5 % of a simulated run, once
        per commit). A later rollback rolls back what was written since this commit, as it
        would, and expires the loaded rows, which then read what was committed. False (nothing
        done) otherwise, and for a reading store (its driver's transaction is begun by the
        session's: ``readonly_engine``).

        The session and its transaction record what they hold (``_new``, ``_deleted``,
        ``_key_switches``, the identity map's ``_modified``, the connections: SQLAlchemy 2.0's,
        no public view of them); should a SQLAlchemy lack one of them, the session commits."""
        session = self.session
        trans = session.get_transaction()
        if (self._readonly or trans is None or session.in_nested_transaction()
                or getattr(session, "_new", True) or getattr(session, "_deleted", True)
                or getattr(session.identity_map, "_modified", True)
                or getattr(trans, "_new", True) or getattr(trans, "_deleted", True)
                or getattr(trans, "_key_switches", True)):
            return False
        held = getattr(trans, "_connections", None)  # by engine and by connection
        conns = {conn for conn, *_ in held.values()} if held else set()
        if len(conns) != 1:
            return False
        commit_driver(conns.pop())
        return True

    def _forget(self, *_: Any) -> None:
        """A rollback drops what was recorded since the last commit (as the session drops
        its pending rows)."""
        self._transitions = []
        self._events = []
        self._new_attempts = []
        self._ended_attempts = {}
        for dirty in self._dirty.values():
            for record in dirty:
                record.undo()
            dirty.clear()

    def _write_all(self, conn: Connection) -> None:
        """Write what was recorded since the last commit on ``conn``, the session's connection
        asked once (``Session.connection()`` is a Python call of some depth: 29,203 calls,
        2.1 s of a 72 s profile of the enterprise run when asked per statement)."""
        self._write_records(conn)
        if self._new_attempts:
            executemany_rows(conn, _INSERT_ATTEMPTS, ATTEMPT_COLUMNS,
                             list(map(_ATTEMPT_VALUES, self._new_attempts)))
            self._new_attempts = []
        if self._ended_attempts:
            executemany_rows(conn, _END_ATTEMPTS, _END_NAMES,
                             list(map(_END_VALUES, self._ended_attempts.values())))
            self._ended_attempts = {}
        if self._transitions:
            executemany_rows(conn, _INSERT_TRANSITIONS, _TRANSITION_COLUMNS, self._transitions)
            self._transitions = []
        if self._events:
            executemany_rows(conn, _INSERT_EVENTS, _EVENT_COLUMNS, self._events)
            self._events = []

    def _write_records(self, conn: Connection) -> None:
        """Write the changed columns of the records changed since the last commit: one
        executemany UPDATE by id per table and set of changed columns, each row setting only
        the columns it changed (:func:`_by_columns`). They are marked unchanged once the
        commit has ended (a rollback before puts their last committed values back)."""
        for kind, dirty in self._dirty.items():
            if not dirty:
                continue
            stmt = _UPDATE_BY_ID[_RECORD_TABLES[kind]]
            for changed, records in _by_columns(dirty).items():
                names, values = _record_columns(kind, changed)
                executemany_rows(conn, stmt, names, list(map(values, records)))

    def _write_changes(self) -> None:
        """Write the changed columns of the campaign's loaded rows with Core: rows changing
        one table share one executemany UPDATE by primary key (:func:`_same_columns`). The rows
        are then marked unchanged, so the session's flush only inserts new rows. Without the
        identity map's record of modified rows (another SQLAlchemy), the flush writes them."""
        session = self.session
        modified = getattr(session.identity_map, "_modified", None)
        commit_states = getattr(InstanceState, "_commit_all_states", None)
        if not modified or commit_states is None:
            return
        changed: dict[Table, list[tuple[set[str], dict[str, Any]]]] = {}
        written = []
        for state in list(modified):
            table = _CORE_UPDATED.get(state.class_)
            if table is None or state.key is None or state.deleted or state.expired_attributes:
                continue
            values = state.dict
            columns = {k for k in state.committed_state if k != "id"}
            if columns:
                changed.setdefault(table, []).append((columns, values))
            written.append((state, values))
        if changed:
            conn = session.connection()
            for table, rows in changed.items():
                for params in _same_columns(rows):
                    _executemany(conn, _UPDATE_BY_ID[table], params)
        commit_states(written, session.identity_map)

    def close(self) -> None:
        self.session.close()
        self.engine.dispose()

    def sync_to_disk(self, durable: bool) -> None:
        """Whether a SQLite state file's commits wait for the disk (SQLite's ``synchronous``:
        ``NORMAL``, the default, syncs at each WAL checkpoint; ``OFF`` hands the writes to the
        operating system and goes on). Either way a commit survives the process being killed;
        only a crash of the machine may lose the last ones with ``OFF``. A campaign on the
        simulator, whose world lives only in its own journal (written without a sync), needs
        no more than that (:attr:`~hvroll.drivers.base.Driver.durable`); the rehearsal then
        spends no time waiting for the disk. On PostgreSQL: nothing changes."""
        if self.engine.dialect.name != "sqlite":
            return
        self._synchronous = "NORMAL" if durable else "OFF"
        self.session.connection().exec_driver_sql(f"PRAGMA synchronous={self._synchronous}")

    # -- operator controls ------------------------------------------------------------------

    def request(self, action: ControlAction | str) -> None:
        """Ask the running (or next) executor to pause, resume or abort."""
        for _ in range(50):
            try:
                self.session.add(ControlRow(action=ControlAction(action),
                                            requested_at=time.time()))
                self.session.commit()
                return
            except OperationalError:
                self.session.rollback()
                time.sleep(0.1)
        raise InputError(f"{self.target}: the state file stays locked; is it on a network "
                         f"file system?")

    def pending_controls(self, after: int | None = None) -> list[ControlRow]:
        """The operator's requests not handled yet; with ``after`` (a region's executor),
        every request whose id is above it, handled elsewhere or not: each region takes
        each request."""
        where = ControlRow.handled.is_(False) if after is None else ControlRow.id > after
        return list(self.session.scalars(select(ControlRow).where(where)
                                          .order_by(ControlRow.id)))


_CHANGES = attrgetter("_changes")
"""A record's changed columns (:meth:`~hvroll.store.models.Record.changed` without a call)."""


_RecordColumns = tuple[tuple[str, ...], Callable[[Record], tuple[Any, ...]]]
_record_columns_made: dict[tuple[type[Record], frozenset[str]], _RecordColumns] = {}


def _record_columns(kind: type[Record], changed: frozenset[str]) -> _RecordColumns:
    """The parameters of the UPDATE of ``kind``'s records whose changes are ``changed``: the
    changed columns in the table's order, then ``b_id``; and what takes their values from a
    record. Built once per set of columns (a run's commits change a few dozen sets), not per
    commit; at most 1,024 kept."""
    found = _record_columns_made.get((kind, changed))
    if found is None:
        if len(_record_columns_made) >= 1024:
            _record_columns_made.clear()
        names = tuple(c for c in kind.COLUMNS[1:] if c in changed)
        found = _record_columns_made[(kind, changed)] = ((*names, "b_id"),
                                                         attrgetter(*names, "id"))
    return found


def _by_columns(records: list[Record]) -> dict[frozenset[str], list[Record]]:
    """``records`` grouped by the set of columns each changed, in the order of each set's
    first record and each record's order within its set.

    >>> from types import SimpleNamespace as R
    >>> groups = _by_columns([R(id=1, _changes={"state": 0, "dest": 0}),
    ...                       R(id=2, _changes={"state": 0}),
    ...                       R(id=3, _changes={"dest": 0, "state": 0})])
    >>> [(sorted(k), [r.id for r in v]) for k, v in groups.items()]
    [(['dest', 'state'], [1, 3]), (['state'], [2])]
    """
    groups: dict[frozenset[str], list[Record]] = {}
    for record in records:
        changed = frozenset(record._changes)
        found = groups.get(changed)
        if found is None:
            groups[changed] = [record]
        else:
            found.append(record)
    return groups


def kind_is(kind: str) -> tuple[ColumnElement[bool] | TextClause, ...]:
    """The conditions of the events of ``kind``: with the index's own condition for a rare
    kind (:data:`~hvroll.store.models.RARE_KIND`), which lets the query use the index (else
    it reads the table, as it would for a kind most events have)."""
    where = EventRow.kind == kind
    return (RARE_KIND, where) if kind in RARE_EVENTS else (where,)


def _same_columns(rows: list[tuple[set[str], dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    """The parameters of one table's UPDATEs: every row sets the union of the columns any of
    them changed (a column a row did not change is set to the value it holds), so a commit
    issues one executemany per table instead of one per set of changed columns; a row
    missing one of those columns in its loaded values keeps a group of its own.

    >>> rows = [({"state"}, {"id": 1, "state": "a", "job": None}),
    ...         ({"job"}, {"id": 2, "state": "b", "job": "j"}), ({"job"}, {"id": 3, "job": "k"})]
    >>> _same_columns(rows)  # doctest: +NORMALIZE_WHITESPACE
    [[{'job': None, 'state': 'a', 'b_id': 1}, {'job': 'j', 'state': 'b', 'b_id': 2}],
     [{'job': 'k', 'b_id': 3}]]
    """
    every = set().union(*(columns for columns, _ in rows))
    union = tuple(sorted(every))
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for columns, values in rows:
        keys = union if every <= values.keys() else tuple(sorted(columns))
        params = {k: values[k] for k in keys}
        params["b_id"] = values["id"]
        groups.setdefault(keys, []).append(params)
    return list(groups.values())
