"""State targets for tests that run on every backend of the store: a SQLite file, or a
database of the session's real PostgreSQL (``postgres`` fixture, tests/pgserver.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from hvroll.store.read import database_url
from pgserver import PostgresServer

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
"""The store's backends, for ``@pytest.fixture(params=BACKENDS)``."""


def state_target(backend: str, request: pytest.FixtureRequest, tmp_path: Path,
                 name: str = "c") -> str:
    """A new, empty state target on ``backend``: a file in ``tmp_path``, or a database of the
    session's server (the ``postgres`` fixture)."""
    if backend == "sqlite":
        return str(tmp_path / f"{name}.db")
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()


def execute(target: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Run ``sql`` on a state target behind the store's back (a foreign writer); its rows."""
    engine = create_engine(database_url(target))
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def contents(target: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: what 'unchanged' means for a database."""
    engine = create_engine(database_url(target))
    try:
        with engine.connect() as conn:
            return {t: sorted(map(tuple, conn.execute(text(f'SELECT * FROM "{t}"'))), key=repr)
                    for t in sorted(inspect(conn).get_table_names())}
    finally:
        engine.dispose()
