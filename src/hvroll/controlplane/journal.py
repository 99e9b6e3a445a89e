"""The durable state of a control-plane run (``--state FILE``): the plan, the runbook, each
step's state and result, events, operator requests and the runner's lease.

It uses the campaign store's engine (SQLite in WAL mode by default, or any SQLAlchemy URL) with
its own tables: a run's state file is not a campaign's. One runner per file: the campaigns'
lease (:mod:`hvroll.store.lease`, its ``lease`` table in this file), taken by compare-and-set
and renewed, fenced, in every commit, so a runner that lost the file to another writes nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Boolean, Float, Integer, String, Table, Text, inspect, select
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from hvroll.controlplane.runbook import Action, Phase, Runbook, Step
from hvroll.domain.states import (
    TERMINAL_UPGRADE_RUN,
    UPGRADE_RUN,
    UPGRADE_STEP,
    UpgradeRunState,
    UpgradeStepState,
    check,
)
from hvroll.errors import InputError
from hvroll.store.lease import TTL_S, Lease
from hvroll.store.models import LeaseRow
from hvroll.store.read import first_line
from hvroll.store.store import create_tables, engine_for

SCHEMA = "1"


class Base(DeclarativeBase):
    pass


class MetaRow(Base):
    __tablename__ = "cp_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RunRow(Base):
    __tablename__ = "cp_run"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    plan: Mapped[str] = mapped_column(Text)
    """The plan document (JSON)."""
    runbook: Mapped[str] = mapped_column(Text)
    """The runbook (JSON), fixed when the run was created."""
    deployment: Mapped[str] = mapped_column(Text)
    """The deployment file (JSON) the runbook was built from."""
    failed_hop: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str] = mapped_column(Text, default="")
    created_s: Mapped[float] = mapped_column(Float)
    finished_s: Mapped[float | None] = mapped_column(Float, default=None)


class StepRow(Base):
    __tablename__ = "cp_step"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    hop: Mapped[int] = mapped_column(Integer)
    phase: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    runs: Mapped[int] = mapped_column(Integer, default=0)
    """Times the command was started (a repeated step runs until done)."""
    job: Mapped[str] = mapped_column(String(160), default="")
    exit_code: Mapped[int | None] = mapped_column(Integer, default=None)
    output: Mapped[str] = mapped_column(Text, default="")
    """What the step keeps: the snapshot (servers and log offsets) of a snapshot step."""
    error: Mapped[str] = mapped_column(Text, default="")
    started_s: Mapped[float | None] = mapped_column(Float, default=None)
    finished_s: Mapped[float | None] = mapped_column(Float, default=None)


class EventRow(Base):
    __tablename__ = "cp_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    t_s: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(48))
    step: Mapped[str | None] = mapped_column(String(128), default=None)
    message: Mapped[str] = mapped_column(Text, default="")


class ControlRow(Base):
    __tablename__ = "cp_control"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(16))
    requested_at: Mapped[float] = mapped_column(Float)
    handled: Mapped[bool] = mapped_column(Boolean, default=False)


class Journal:
    """A run's state file, opened for reading and writing."""

    def __init__(self, target: str | os.PathLike[str], *, create: bool = False) -> None:
        self.target = os.fspath(target)
        if not create and "://" not in self.target and not Path(self.target).exists():
            raise InputError(f"{self.target}: no such state file (expected one written by "
                             f"'hvroll controlplane run PLAN --state {self.target}')")
        self.engine = engine_for(self.target)
        try:
            self._refuse_foreign_tables()
            # one creator at a time: two runs started at once meet at the lease
            create_tables(self.engine, Base.metadata, [cast(Table, LeaseRow.__table__)])
            self.session = Session(self.engine, expire_on_commit=False, autoflush=False)
            if self.session.get(MetaRow, "schema") is None:
                self.session.add(MetaRow(key="schema", value=SCHEMA))
                try:
                    self.session.commit()
                except IntegrityError:  # the other run wrote it first
                    self.session.rollback()
        except OperationalError as exc:
            if "://" not in self.target:  # SQLite: a file that is not a database
                raise InputError(f"{self.target}: not a control-plane state file "
                                 f"({exc.orig})") from None
            raise InputError(f"{self.target}: cannot be read ({first_line(exc.orig)})") from None
        except DatabaseError as exc:
            raise InputError(f"{self.target}: not a control-plane state file "
                             f"({exc.orig})") from None
        self.before_commit: Callable[[], None] | None = None
        """The lease's fenced renewal while this process holds it (:meth:`acquire`)."""
        self.lease: Lease | None = None

    def _refuse_foreign_tables(self) -> None:
        """A database holding tables of something else (a campaign's state, say) is refused
        before any table is added to it."""
        with self.engine.connect() as conn:
            foreign = set(inspect(conn).get_table_names()) - set(Base.metadata.tables) - {
                cast(Table, LeaseRow.__table__).name}
        if foreign:
            raise InputError(f"{self.target}: not a control-plane state file (it holds other "
                             f"tables: {', '.join(sorted(foreign)[:4])}"
                             f"{', …' if len(foreign) > 4 else ''}; expected an empty database "
                             f"or one written by 'hvroll controlplane run PLAN --state "
                             f"{self.target}')")

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> RunRow | None:
        return self.session.get(RunRow, 1)

    def require_run(self) -> RunRow:
        row = self.run()
        if row is None:
            raise InputError(f"{self.target}: holds no run (expected one started with "
                             f"'hvroll controlplane run PLAN --state {self.target}')")
        return row

    def create(self, plan: dict[str, Any], book: Runbook, deployment: dict[str, Any],
               now_s: float) -> RunRow:
        row = RunRow(id=1, state=UpgradeRunState.PENDING.value, plan=json.dumps(plan),
                     runbook=json.dumps(book.data()), deployment=json.dumps(deployment),
                     created_s=now_s)
        self.session.add(row)
        for position, step in enumerate(book.steps):
            self.session.add(StepRow(id=step.id, position=position, hop=step.hop,
                                     phase=step.phase.value, name=step.name,
                                     state=UpgradeStepState.PENDING.value))
        self.event(now_s, "run_created", f"{len(book.hops)} hops, {len(book.steps)} steps")
        self.commit()
        return row

    def set_state(self, new: UpgradeRunState, now_s: float, why: str = "") -> None:
        row = self.require_run()
        check(UPGRADE_RUN, UpgradeRunState(row.state), new, "control-plane run")
        row.state = new.value
        if new in TERMINAL_UPGRADE_RUN:
            row.finished_s = now_s
        self.event(now_s, f"run_{new.value}", why)

    def steps(self) -> list[StepRow]:
        return list(self.session.scalars(select(StepRow).order_by(StepRow.position)))

    def step_state(self, row: StepRow, new: UpgradeStepState, now_s: float) -> None:
        check(UPGRADE_STEP, UpgradeStepState(row.state), new, f"step {row.id}")
        row.state = new.value
        if new is UpgradeStepState.RUNNING and row.started_s is None:
            row.started_s = now_s
        if new in (UpgradeStepState.DONE, UpgradeStepState.FAILED, UpgradeStepState.SKIPPED):
            row.finished_s = now_s

    def event(self, t_s: float, kind: str, message: str = "", step: str | None = None) -> None:
        self.session.add(EventRow(t_s=t_s, kind=kind, message=message, step=step))

    def events(self) -> list[EventRow]:
        return list(self.session.scalars(select(EventRow).order_by(EventRow.id)))

    # -- operator requests -----------------------------------------------------------------

    def request(self, action: str) -> None:
        for _ in range(50):
            try:
                self.session.add(ControlRow(action=action, requested_at=time.time()))
                self.session.commit()
                return
            except DatabaseError:
                self.session.rollback()
                time.sleep(0.1)
        raise InputError(f"{self.target}: the state file stays locked")

    def take_requests(self) -> list[str]:
        rows = list(self.session.scalars(select(ControlRow).where(
            ControlRow.handled.is_(False)).order_by(ControlRow.id)))
        for row in rows:
            row.handled = True
        return [r.action for r in rows]

    # -- the lease -------------------------------------------------------------------------

    def acquire(self, wall: Callable[[], float] = time.time, ttl_s: float = TTL_S) -> None:
        """Take the file for this process (the one lease of :mod:`hvroll.store.lease`), or
        LeaseHeldError naming who holds it. A holder on this machine whose process is gone, or
        whose lease expired, is replaced; from now on every commit renews it, fenced."""
        self.lease = Lease(self, ttl_s=ttl_s, wall=wall, subject="control-plane upgrade",
                           runner="hvroll controlplane run", regions=False)
        self.lease.acquire()

    def release(self) -> None:
        if self.lease is not None:
            self.lease.release()
            self.lease = None

    def commit(self) -> None:
        """Commit, renewing the lease in the same transaction when this process holds it;
        LeaseLostError (nothing written) when another runner took it."""
        if self.before_commit is not None:
            self.before_commit()
        self.session.commit()

    def close(self) -> None:
        self.session.close()
        self.engine.dispose()


def step_of(book: dict[str, Any], step_id: str) -> Step:
    """A runbook step back from the run's JSON."""
    for hop in book["hops"]:
        for data in (*hop["steps"], *hop["rollback"]):
            if data["id"] == step_id:
                return Step(data["id"], data["hop"], Phase(data["phase"]), data["name"],
                            data["title"], Action(data["action"]), data["command"],
                            gate=data["gate"], done_exit=data.get("done_exit", 0),
                            again_exit=data.get("again_exit"),
                            max_runs=data.get("max_runs", 1),
                            after_point_of_no_return=data["after_point_of_no_return"])
    raise KeyError(step_id)
