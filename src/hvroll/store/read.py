"""A campaign's state file opened read-only: what ``hvroll serve``, ``hvroll report`` and the
metrics read through, while an executor may be writing it.

SQLite is opened with ``mode=ro`` (the store runs in WAL mode, so reading never blocks the
writer) and every transaction is a real ``BEGIN``, so that the queries of one
:meth:`StateReader.transaction` see one state of the file. PostgreSQL (``postgresql://…``)
is opened with ``default_transaction_read_only`` and ``REPEATABLE READ``: the server refuses
any write, and one transaction sees one snapshot while executors go on writing (MVCC: readers
and writers never wait for each other). The schema version is checked once, on open: any
version a reader reads (:data:`~hvroll.store.models.READABLE_SCHEMAS`; a version 1 or 2
file is read as it is, only a writer moves it to version 3); the database is never created
and never changed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, InternalError, OperationalError

from hvroll.errors import InputError
from hvroll.store.models import READABLE_NAMED, READABLE_SCHEMAS, Meta


class StateReader:
    """A state file (a path, or a SQLAlchemy URL), read-only; thread-safe (each transaction
    takes its own connection from the pool).

    Raises ``InputError`` naming the file if it does not exist, is not a state file, or has a
    schema this version does not read.
    """

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.target = os.fspath(target)
        if "://" not in self.target and not Path(self.target).is_file():
            raise InputError(f"{self.target}: no such state file (expected one written by "
                             f"'hvroll run PLAN --state {self.target}')")
        self.engine = readonly_engine(self.target)
        try:
            with self.transaction() as conn:
                version = conn.scalar(select(Meta.value).where(Meta.key == "schema_version"))
        except BaseException:
            self.close()  # no connection left behind for the garbage collector
            raise
        if version not in READABLE_SCHEMAS:
            self.close()
            raise InputError(f"{self.target}: state file schema {version} is not supported "
                             f"(expected {READABLE_NAMED})")

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One read transaction (a consistent view of every table)."""
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except (OperationalError, InternalError) as exc:
            if "no such table" in str(exc.orig):
                raise InputError(f"{self.target}: not a hvroll state file ({exc.orig})") from None
            raise InputError(f"{self.target}: cannot be read ({first_line(exc.orig)})") from None
        except DatabaseError as exc:
            raise InputError(f"{self.target}: not a hvroll state file "
                             f"({first_line(exc.orig)})") from None

    def close(self) -> None:
        self.engine.dispose()


def first_line(error: BaseException | None) -> str:
    """A database error's message without the server's detail lines."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def database_url(target: str) -> str:
    """The SQLAlchemy URL of a state target: a path is a SQLite file; ``postgresql://`` (or
    ``postgres://``) without a driver name means psycopg (version 3), the driver hvroll
    installs; any other URL is used as given."""
    if "://" not in target:
        return f"sqlite:///{Path(target).resolve()}"
    scheme, rest = target.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return target


def url_engine(url: str, **kwargs: Any) -> Engine:
    """``create_engine`` for a URL, a malformed one refused as bad input."""
    try:
        make_url(url)
        return create_engine(url, **kwargs)
    except (ArgumentError, ValueError) as exc:
        raise InputError(f"{url}: not a database URL ({exc}; expected a path, "
                         f"sqlite:///FILE or postgresql://USER@HOST:PORT/DB)") from None
    except ModuleNotFoundError as exc:
        raise InputError(f"{url}: no database driver for it ({exc}; hvroll ships SQLite "
                         f"and PostgreSQL through psycopg)") from None


def is_postgres(target: str) -> bool:
    return database_url(target).startswith("postgresql")


def readonly_engine(target: str) -> Engine:
    """An engine that only reads: SQLite opened with ``mode=ro``, each transaction a real
    ``BEGIN``; PostgreSQL in read-only, repeatable-read transactions; another URL as given."""
    if "://" in target:
        url = database_url(target)
        if url.startswith("postgresql"):
            return url_engine(url, isolation_level="REPEATABLE READ", connect_args={
                "options": "-c default_transaction_read_only=on"})
        return url_engine(url)
    path = Path(target).resolve()
    engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")

    @event.listens_for(engine, "connect")
    def _connect(conn: Any, _record: Any) -> None:
        conn.isolation_level = None  # transactions are begun below, not by the driver
        cursor = conn.cursor()
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine


DIGESTED = {"events": "event", "transitions": "transition", "migrations": "migration",
            "host steps": "host_step", "attempts": "attempt"}
"""The tables a campaign's run writes, by the name :func:`table_digests` gives them."""


def table_digests(target: str | os.PathLike[str]) -> dict[str, str]:
    """The SHA-256 (first 16 hex digits) of each table a run writes (:data:`DIGESTED`): the
    rows in id order, the ``repr`` of each as stored (read with plain SQL: a state as its
    string). Two states give the same digests when they hold the same rows, column by
    column: the proof that a change to the executor or the store writes the same rows."""
    engine = readonly_engine(os.fspath(target))
    try:
        out = {}
        with engine.connect() as conn:
            for name, table in DIGESTED.items():
                h = hashlib.sha256()
                for row in conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY id"):
                    h.update(repr(tuple(row)).encode())
                out[name] = h.hexdigest()[:16]
        return out
    finally:
        engine.dispose()
