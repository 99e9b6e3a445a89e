"""A campaign's state file opened read-only: what ``hvroll serve``, ``hvroll report`` and the
metrics read through, while an executor may be writing it.

SQLite is opened with ``mode=ro`` (the store runs in WAL mode, so reading never blocks the
writer) and every transaction is a real ``BEGIN``, so that the queries of one
:meth:`StateReader.transaction` see one state of the file. Another URL (``postgresql://…``)
is used as given. The schema version is checked once, on open, as :class:`~hvroll.store.Store`
checks it; the file is never created and never changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError, OperationalError

from hvroll.errors import InputError
from hvroll.store.models import SCHEMA_VERSION, Meta


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
        with self.transaction() as conn:
            version = conn.scalar(select(Meta.value).where(Meta.key == "schema_version"))
        if version != str(SCHEMA_VERSION):
            self.close()
            raise InputError(f"{self.target}: state file schema {version} is not supported "
                             f"(expected {SCHEMA_VERSION})")

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One read transaction (a consistent view of every table)."""
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except OperationalError as exc:
            if "no such table" in str(exc.orig):
                raise InputError(f"{self.target}: not a hvroll state file ({exc.orig})") from None
            raise InputError(f"{self.target}: cannot be read ({exc.orig})") from None
        except DatabaseError as exc:
            raise InputError(f"{self.target}: not a hvroll state file ({exc.orig})") from None

    def close(self) -> None:
        self.engine.dispose()


def readonly_engine(target: str) -> Engine:
    """An engine that only reads: SQLite opened with ``mode=ro``, each transaction a real
    ``BEGIN``; a URL as given."""
    if "://" in target:
        return create_engine(target)
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
