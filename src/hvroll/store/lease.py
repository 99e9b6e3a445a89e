"""One runner per campaign: a lease row taken by compare-and-set and renewed by fenced UPDATEs.

The same lease guards a control-plane upgrade run's state file
(:class:`hvroll.controlplane.journal.Journal`): anything with a session, a target name, a
``before_commit`` hook and ``commit()`` (:class:`Leased`) can hold one.

The ``lease`` table holds one row: the holder's random id, a fencing token (``fence``,
incremented on every take), its host, pid, since when it holds the campaign, its last
heartbeat and when the lease expires. It is plain SQL — a row and conditional UPDATEs — so it
works unchanged on SQLite and PostgreSQL, and across machines sharing a database.

* **Take** (:meth:`Lease.acquire`): read the row and judge it (:func:`judge`, pure). A free
  row, an expired lease, or a holder on this machine whose process is gone is taken with
  ``UPDATE … SET holder=me, fence=fence+1 … WHERE holder=:seen AND fence=:seen_fence``; the
  first writer wins, the others see a row count of 0. A missing row is INSERTed; a concurrent
  INSERT fails on the primary key. A live holder is refused with :class:`LeaseHeldError`
  naming it.
* **Renew and fence**: every commit of the store runs
  ``UPDATE lease SET heartbeat, expires WHERE holder=me AND fence=my_fence`` in its own
  transaction first (:attr:`Store.before_commit`). A row count of 0 means another runner took
  the campaign: :class:`LeaseLostError`, and the transaction — the intents of the next side
  effects — is rolled back, so nothing is started. The executor also commits when a renewal
  is due (:meth:`Lease.tick`, every turn), so an idle campaign keeps its lease.
* **Before each irreversible step** (start a migration, reinstall, enable scheduling) the
  executor calls :meth:`Lease.verify`: the lease committed by this process has not expired.
  Nobody else can have taken it before that time, so no database round trip is needed.

* **Per region** (``Lease(store, region="r1")``, ``hvroll run --region r1``): the same row,
  keyed by region, in the ``region_lease`` table; runners of different regions hold theirs at
  once. A runner of the whole campaign and a runner of a region exclude each other: each
  takes its own row first, then looks at the other kind and gives its row back (LeaseHeldError
  naming the other) when a live holder is there. Whichever looks second sees the first's
  committed row, so two of them never both go on.

Wall-clock time is injected (``wall``); the simulator's virtual clock plays no part here.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol, cast

from sqlalchemy import ColumnElement, Table, Update, bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from hvroll.errors import HvrollError
from hvroll.store.models import LeaseRow, RegionLeaseRow
from hvroll.store.rawsql import execute
from hvroll.store.ttl import RENEW_EVERY_S as RENEW_EVERY_S
from hvroll.store.ttl import TTL_S as TTL_S


class Leased(Protocol):
    """What a lease is held on: the campaign store, or a control-plane run's journal. Its
    ``commit`` must call ``before_commit`` (the fenced renewal) first."""

    target: str
    session: Session
    before_commit: Callable[[], None] | None

    def commit(self) -> None: ...

_ROW = 1
_TABLE = cast(Table, LeaseRow.__table__)
"""Statements go to the table itself (Core): nothing in the session to synchronize."""
_REGIONS = cast(Table, RegionLeaseRow.__table__)
"""One row per region (``hvroll run --region``)."""
_COLUMNS = ("holder", "fence", "host", "pid", "since", "heartbeat", "expires")


def _key(region: str | None) -> tuple[Table, ColumnElement[bool], dict[str, object]]:
    """The table, the WHERE clause and the key values of the campaign's or a region's row."""
    if region is None:
        return _TABLE, _TABLE.c.id == _ROW, {"id": _ROW}
    return _REGIONS, _REGIONS.c.region == region, {"region": region}


def _renew_statement(region: str | None) -> Update:
    table, where, _ = _key(region)
    return (update(table)
            .where(where, table.c.holder == bindparam("b_holder"),
                   table.c.fence == bindparam("b_fence"))
            .values(heartbeat=bindparam("b_now"), expires=bindparam("b_expires")))


_RENEW = _renew_statement(None)
"""The fenced renewal, built once: it runs with every commit of the holder."""


class LeaseHeldError(HvrollError):
    """Another runner holds the campaign; retrying helps once it has finished."""

    retryable = True


class LeaseLostError(HvrollError):
    """This runner no longer holds the campaign (it expired and was taken over)."""


@dataclass(frozen=True, slots=True)
class Holder:
    """The lease row as read."""

    holder: str
    fence: int
    host: str
    pid: int
    since: float
    heartbeat: float
    expires: float


class Verdict(StrEnum):
    FREE = "free"
    """Nobody holds it (never taken, or released)."""
    EXPIRED = "expired"
    """The holder stopped renewing it."""
    DEAD = "dead"
    """The holder ran on this machine and its process is gone."""
    HELD = "held"


def judge(row: Holder | None, *, host: str, now: float, alive: bool) -> Verdict:
    """May a runner on ``host`` take the lease at ``now``? ``alive`` says whether the holder's
    pid runs on this machine (only consulted when the holder's host is ``host``)."""
    if row is None or not row.holder:
        return Verdict.FREE
    if now >= row.expires:
        return Verdict.EXPIRED
    if row.host == host and not alive:
        return Verdict.DEAD
    return Verdict.HELD


def read_holder(db: Connection | Session, region: str | None = None) -> Holder | None:
    """The campaign's (or ``region``'s) lease row as a connection or session sees it (None
    when there is none yet)."""
    table, where, _ = _key(region)
    try:
        row = db.execute(select(*(table.c[c] for c in _COLUMNS)).where(where)).first()
    except DatabaseError:  # a file written before the lease table existed
        return None
    return None if row is None else Holder(*row)


def region_holders(db: Connection | Session) -> dict[str, Holder]:
    """Every region's lease row, by region (empty for a file without the table)."""
    try:
        rows = db.execute(select(_REGIONS.c.region, *(_REGIONS.c[c] for c in _COLUMNS))
                          .order_by(_REGIONS.c.region)).all()
    except DatabaseError:
        return {}
    return {row[0]: Holder(*row[1:]) for row in rows}


def creating_message(target: str, row: Holder | None, *, host: str, now: float,
                     alive: bool) -> str:
    """For a state file without a campaign: one line saying it is being created when a live
    runner holds its lease (the creator takes it before it writes the campaign, which
    commits at once with its steps and migrations), else ``""``."""
    if row is None or judge(row, host=host, now=now, alive=alive) is not Verdict.HELD:
        return ""
    return (f"{target}: the campaign is being created by hvroll run (host {row.host}, pid "
            f"{row.pid}) since {_utc(row.since)}; look again in a moment")


def creating(target: str, db: Connection | Session) -> str:
    """:func:`creating_message` for the lease row ``db`` sees now, on this machine."""
    row = read_holder(db)
    host = socket.gethostname()
    alive = row is not None and row.host == host and pid_alive(row.pid)
    return creating_message(target, row, host=host, now=time.time(), alive=alive)


def held_message(target: str, row: Holder, now: float, subject: str = "campaign",
                 runner: str = "hvroll run") -> str:
    """One line naming the holder and since when."""
    return (f"{target}: the {subject} is run by another {runner} (host {row.host}, pid "
            f"{row.pid}) since {_utc(row.since)}, last heartbeat {now - row.heartbeat:.0f} s "
            f"ago; wait for it to end, or stop it (a dead holder is taken over at once)")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


@dataclass(frozen=True, slots=True)
class Taken:
    """How the lease was taken: ``previous`` is who held it before (None when it was free)."""

    verdict: Verdict
    previous: Holder | None


class Lease:
    """This process's claim on the campaign in ``store``."""

    def __init__(self, store: Leased, *, ttl_s: float = TTL_S,
                 renew_every_s: float = RENEW_EVERY_S, wall: Callable[[], float] = time.time,
                 host: str | None = None, pid: int | None = None,
                 alive: Callable[[int], bool] = pid_alive, subject: str = "campaign",
                 runner: str = "hvroll run", region: str | None = None,
                 regions: bool = True) -> None:
        self.store = store
        self.region = region
        """The region whose part of the campaign this lease guards (None: the whole of it)."""
        self.regions = regions
        """Whether the store has region leases that exclude the whole campaign's (and back)."""
        self._renew_sql = _RENEW if region is None else _renew_statement(region)
        self.subject = subject
        """What the lease guards, in messages: ``campaign``, ``control-plane run``."""
        self.runner = runner
        self.ttl_s = ttl_s
        self.renew_every_s = renew_every_s
        self.wall = wall
        self.host = host if host is not None else socket.gethostname()
        self.pid = pid if pid is not None else os.getpid()
        self.alive = alive
        self.holder = uuid.uuid4().hex
        self.fence = 0
        self.expires = 0.0
        self._renewed = 0.0
        self.taken: Taken | None = None

    def takeover(self) -> Taken | None:
        """How the lease was taken, once (to record it with the campaign's events)."""
        taken, self.taken = self.taken, None
        return taken

    @property
    def held(self) -> bool:
        return self.fence > 0

    def read(self) -> Holder | None:
        """The lease row as it is in the database now."""
        return read_holder(self.store.session, self.region)

    @property
    def what(self) -> str:
        """What the lease guards, in messages: ``campaign`` or ``campaign's region r1``."""
        return self.subject if self.region is None else f"{self.subject}'s region {self.region}"

    def acquire(self) -> Taken:
        """Take the lease, or raise LeaseHeldError naming its live holder."""
        session = self.store.session
        table, where, key = _key(self.region)
        for _ in range(5):
            seen = self.read()
            now = self.wall()
            alive = seen is not None and seen.host == self.host and self.alive(seen.pid)
            verdict = judge(seen, host=self.host, now=now, alive=alive)
            if verdict is Verdict.HELD:
                assert seen is not None
                raise LeaseHeldError(held_message(self.store.target, seen, now, self.what,
                                                  self.runner))
            values = {"holder": self.holder, "host": self.host, "pid": self.pid, "since": now,
                      "heartbeat": now, "expires": now + self.ttl_s}
            try:
                if seen is None:
                    session.execute(insert(table).values(**key, fence=1, **values))
                    fence = 1
                else:
                    result = session.execute(
                        update(table)
                        .where(where, table.c.holder == seen.holder,
                               table.c.fence == seen.fence)
                        .values(fence=seen.fence + 1, **values))
                    if result.rowcount != 1:  # type: ignore[attr-defined]
                        session.rollback()
                        continue  # someone else was faster: judge again
                    fence = seen.fence + 1
                session.commit()
            except (IntegrityError, OperationalError):
                session.rollback()  # a concurrent take (or the file is locked): judge again
                continue
            self.fence, self.expires, self._renewed = fence, now + self.ttl_s, now
            self.taken = Taken(verdict, seen if verdict is not Verdict.FREE else None)
            self.store.before_commit = self.renew
            if self.regions:
                self._exclusive(now)
            return self.taken
        seen = self.read()
        if seen is not None and seen.holder:
            raise LeaseHeldError(held_message(self.store.target, seen, self.wall(),
                                              self.what, self.runner))
        raise LeaseHeldError(f"{self.store.target}: could not take the {self.what}'s lease "
                             f"(other runners keep taking it)")

    def _exclusive(self, now: float) -> None:
        """Once this lease is committed: a live runner of the other kind (the whole campaign
        for a region's runner, any region's for the whole campaign's) makes it give the lease
        back, and LeaseHeldError names that runner."""
        session = self.store.session
        if self.region is None:
            others = [(f"region {r}", h) for r, h in region_holders(session).items()]
        else:
            whole = read_holder(session)
            others = [] if whole is None else [("campaign", whole)]
        for what, row in others:
            alive = row.host == self.host and self.alive(row.pid)
            if judge(row, host=self.host, now=now, alive=alive) is Verdict.HELD:
                self.release()
                by = "the whole campaign" if self.region is not None else what
                raise LeaseHeldError(
                    f"{self.store.target}: {by} is run by another {self.runner} (host "
                    f"{row.host}, pid {row.pid}) since {_utc(row.since)}, last heartbeat "
                    f"{now - row.heartbeat:.0f} s ago; a runner of the whole campaign and "
                    f"runners of its regions exclude each other")

    def renew(self) -> None:
        """Renew the lease inside the current transaction, fenced by holder and token;
        LeaseLostError (and nothing of the transaction written) if another runner took it."""
        now = self.wall()
        renewed = execute(self.store.session.connection(), self._renew_sql, {
            "b_holder": self.holder, "b_fence": self.fence, "b_now": now,
            "b_expires": now + self.ttl_s})
        if renewed != 1:
            self.store.session.rollback()
            self.store.before_commit = None
            self.fence = 0
            seen = self.read()
            who = (f"host {seen.host}, pid {seen.pid} since {_utc(seen.since)}"
                   if seen is not None and seen.holder else "nobody")
            raise LeaseLostError(f"{self.store.target}: this run lost the {self.what}'s lease "
                                 f"(now held by {who}); stopped before any further step")
        self.expires, self._renewed = now + self.ttl_s, now

    def tick(self) -> bool:
        """Once per turn of the executor: commit (which renews) when a renewal is due; True
        when it did (the executor then also reads the operator's controls)."""
        if self.held and self.wall() - self._renewed >= self.renew_every_s:
            self.store.commit()
            return True
        return False

    def verify(self) -> None:
        """Before an irreversible step: the lease this process committed is still valid."""
        if not self.held:
            raise LeaseLostError(f"{self.store.target}: this run does not hold the "
                                 f"{self.what}'s lease; stopped before an irreversible step")
        if self.wall() >= self.expires:
            self.store.commit()  # renews, or raises LeaseLostError

    def release(self) -> None:
        """Give the lease up (the end of ``hvroll run``); a no-op when not held."""
        if not self.held:
            return
        self.store.before_commit = None
        session = self.store.session
        session.rollback()  # what was not committed is not written (as if the process ended)
        try:
            table, where, _ = _key(self.region)
            session.execute(update(table)
                            .where(where, table.c.holder == self.holder,
                                   table.c.fence == self.fence)
                            .values(holder="", expires=0.0))
            session.commit()
        except OperationalError:
            session.rollback()  # it expires on its own
        self.fence = 0


def _utc(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
