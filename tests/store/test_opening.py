"""Opening a state file or database: one that is not hvroll's is refused untouched; read-only
opening never changes it (SQLite files, and PostgreSQL databases through ``target``)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from hvroll.domain import Fleet
from hvroll.errors import InputError
from hvroll.planner.build import Targets, plan, with_profiles
from hvroll.planner.model import Policy
from hvroll.store import Store
from hvroll.store.models import SCHEMA_VERSION, pack, unpack
from pgserver import PostgresServer
from races import open_at_once
from targets import contents, execute, state_target


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def _write_campaign(target: str | Path, fleet: Fleet) -> None:
    result = plan(fleet, Targets(default=fleet.profile_by_name["CPv2"]),
                  Policy(hold_after_canary=False))
    store = Store(target, create=True)
    store.create_campaign(result, with_profiles(fleet, result.targets), "sim", 0.0)
    store.close()


@pytest.fixture
def state(tmp_path: Path, tiny: Fleet) -> Path:
    path = tmp_path / "s.db"
    _write_campaign(path, tiny)
    return path


@pytest.fixture
def stored(target: str, tiny: Fleet) -> str:
    """A campaign on either backend."""
    _write_campaign(target, tiny)
    return target


@pytest.fixture
def foreign(tmp_path: Path) -> Path:
    path = tmp_path / "notes.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.close()
    return path


@pytest.mark.parametrize("create", [False, True])
def test_a_foreign_sqlite_file_is_refused_untouched(foreign: Path, create: bool) -> None:
    before = files(foreign.parent)
    with pytest.raises(InputError, match=r"notes\.db: not a hvroll state file \(no such "
                                         r"table: meta\)"):
        Store(foreign, create=create)
    assert files(foreign.parent) == before


def test_an_empty_file_is_not_a_campaign(tmp_path: Path) -> None:
    empty = tmp_path / "e.db"
    empty.touch()
    with pytest.raises(InputError, match="not a hvroll state file"):
        Store(empty)
    assert empty.read_bytes() == b""


@pytest.mark.parametrize("content", [b"garbage" * 100, bytes(range(256)) * 20])
def test_a_garbage_file_is_refused_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "g.db"
    path.write_bytes(content)
    for create in (False, True):
        with pytest.raises(InputError, match="not a hvroll state file"):
            Store(path, create=create)
    assert files(tmp_path) == {"g.db": content}


def test_a_directory_is_not_a_state_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        Store(tmp_path, create=True)


def test_reading_only_changes_no_file(state: Path) -> None:
    """SQLite may add its -wal/-shm companions; every file there before is unchanged."""
    before = files(state.parent)
    store = Store(state, readonly=True)
    assert store.require_campaign().id == 1
    assert store.plan().waves
    store.close()
    after = files(state.parent)
    assert {name: after[name] for name in before} == before


def test_reading_only_changes_no_row(stored: str) -> None:
    before = contents(stored)
    store = Store(stored, readonly=True)
    assert store.require_campaign().id == 1
    assert store.plan().waves
    store.close()
    assert contents(stored) == before


@pytest.mark.parametrize("create", [False, True])
def test_a_foreign_database_is_refused_untouched(target: str, create: bool) -> None:
    Store(target, create=True).close()  # make the database (a file for SQLite) exist
    execute(target, "CREATE TABLE notes (body TEXT)")
    execute(target, "INSERT INTO notes VALUES ('mine')")
    for table in ("meta", "attempt", "migration", "host_step", "campaign_input", "campaign",
                  "event", "control", "transition", "lease", "region_lease", "region_run"):
        execute(target, f"DROP TABLE {table}")
    before = contents(target)
    with pytest.raises(InputError, match="not a hvroll state file"):
        Store(target, create=create)
    assert contents(target) == before == {"notes": [("mine",)]}


def test_a_new_database_becomes_a_state_file_on_first_write(target: str) -> None:
    store = Store(target, create=True)
    assert store.campaign() is None
    store.close()
    assert contents(target)["meta"] == [("schema_version", str(SCHEMA_VERSION))]


def test_a_read_only_file_is_read_but_not_run(state: Path) -> None:
    state.chmod(0o444)
    try:
        store = Store(state, readonly=True)
        assert store.campaign() is not None
        store.close()
        if not os.access(state, os.W_OK):  # root may write any file
            with pytest.raises(InputError, match="is read-only"):
                Store(state, create=True)
    finally:
        state.chmod(0o644)


def test_a_damaged_record_is_an_input_error() -> None:
    assert unpack(pack("plan")) == "plan"
    with pytest.raises(InputError, match="the state file holds a damaged record"):
        unpack(b"not zlib at all")


def test_a_url_opens_the_same_file(state: Path) -> None:
    store = Store(f"sqlite:///{state}", readonly=True)
    assert store.require_campaign().id == 1
    store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_every_spelling_of_a_postgresql_url_opens_it_with_psycopg(
        postgres: PostgresServer, tiny: Fleet, scheme: str) -> None:
    url = postgres.create_database()
    _write_campaign(url, tiny)
    store = Store(url.replace("postgresql", scheme, 1), readonly=True)
    assert (store.engine.dialect.driver, store.require_campaign().id) == ("psycopg", 1)
    store.close()


@pytest.mark.postgres
def test_an_unreachable_database_is_one_line_naming_it(postgres: PostgresServer) -> None:
    url = postgres.url("no_such_database")
    for create, readonly in ((True, False), (False, False), (False, True)):
        with pytest.raises(InputError, match=r"no_such_database: cannot be (opened|read) "
                                             r"\(.*does not exist\)$"):
            Store(url, create=create, readonly=readonly)


def test_a_malformed_url_is_bad_input() -> None:
    with pytest.raises(InputError, match="not a database URL"):
        Store("postgresql://host:notaport/db", create=True)



def test_runs_opening_a_new_state_at_once_all_open_it(
        backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Operators starting runs on one new state at the same moment all get it opened (the
    campaign's lease then decides who runs), never 'not a hvroll state file': its tables are
    created by one opener in one transaction while the others wait. (When each opener
    created the tables one by one, one of three failed on a table another had just made in
    about a quarter of such rounds; each opener here has its own engine and connections,
    as a process has.)"""
    for attempt in range(20):
        target = state_target(backend, request, tmp_path, f"c{attempt}")
        outcomes = open_at_once(lambda t=target: Store(t, create=True).close())
        assert outcomes == ["opened"] * 3
        assert contents(target)["meta"] == [("schema_version", str(SCHEMA_VERSION))]


def test_a_state_another_run_finished_creating_meanwhile_is_opened(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race's last window, made to happen every time: this opener finds the file without
    its tables, and the other run finishes creating it (tables and schema version) before
    this one asks whether it is being created. It is no longer 'being created', but it is a
    state file now: opened, not refused as 'not a hvroll state file'."""
    from hvroll.store import store as module

    target = tmp_path / "c.db"
    with sqlite3.connect(target) as db:  # a file that exists, with no table yet
        db.execute("CREATE TABLE t (x)")
        db.execute("DROP TABLE t")
    being_created = module._being_created
    calls: list[str] = []

    def the_other_run_finishes_first(t: str) -> bool:
        calls.append(t)
        if len(calls) == 1:
            Store(t, create=True).close()
        return being_created(t)

    monkeypatch.setattr(module, "_being_created", the_other_run_finishes_first)
    Store(target, create=True).close()
    assert len(calls) == 2  # this opener's look and the other run's own
    assert not being_created(os.fspath(target))


def test_a_state_file_waits_for_the_disk_unless_its_cloud_need_not(target: str,
                                                                    backend: str) -> None:
    """SQLite's ``synchronous``: NORMAL (1) by default; OFF (0) once told the cloud's state
    does not outlive a machine crash either, on the store's connection and on any it opens
    later; NORMAL again when told so. Nothing to change on PostgreSQL."""
    store = Store(target, create=True)
    try:
        if backend != "sqlite":
            store.sync_to_disk(False)
            store.commit()
            return

        def level() -> object:
            return store.session.connection().exec_driver_sql("PRAGMA synchronous").scalar()

        assert level() == 1
        store.sync_to_disk(False)
        assert level() == 0
        with store.engine.connect() as later:  # a connection the pool opens afterwards
            assert later.exec_driver_sql("PRAGMA synchronous").scalar() == 0
        store.commit()
        assert level() == 0
        store.sync_to_disk(True)
        assert level() == 1
    finally:
        store.close()
