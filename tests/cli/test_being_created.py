"""While ``hvroll run`` creates a campaign (its lease taken, the campaign's transaction not
committed yet), ``hvroll status`` and the dashboard say it is being created — exit 0, a
status field — never "no campaign" or 503."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from hvroll.domain import Fleet
from hvroll.planner.build import Targets, plan, with_profiles
from hvroll.store import Store
from hvroll.store.lease import Lease
from hvroll.telemetry.snapshot import StateSource
from hvroll.web import create_app

from .conftest import Cli

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


class NotCommittedError(Exception):
    """Stands for the moment before the creating transaction commits."""


@pytest.fixture
def creating(tiny: Fleet, tmp_path: Path) -> Iterator[tuple[Path, Store, Lease]]:
    """A state file whose campaign is written (steps, migrations) but not committed, by a
    runner that holds the lease: as ``hvroll run`` leaves it during a large creation."""
    path = tmp_path / "c.db"
    store = Store(path, create=True)
    lease = Lease(store)
    lease.acquire()
    result = plan(tiny, Targets(default=tiny.profile_by_name["CPv2"]))
    commit = store.session.commit

    def not_yet() -> None:
        raise NotCommittedError

    store.session.commit = not_yet  # type: ignore[method-assign]
    with pytest.raises(NotCommittedError):
        store.create_campaign(result, with_profiles(tiny, result.targets), "sim", 0.0)
    store.session.commit = commit  # type: ignore[method-assign]
    yield path, store, lease
    lease.release()
    store.close()


def test_status_says_being_created_with_exit_0(cli: Cli,
                                               creating: tuple[Path, Store, Lease]) -> None:
    path, _, _ = creating
    result = cli("status", "--state", str(path), "--json")
    assert result.code == 0
    data = json.loads(result.stdout)
    assert data["state"] == "being_created"
    assert data["detail"].startswith(f"{path}: the campaign is being created by hvroll run "
                                     f"(host {os.uname().nodename}, pid {os.getpid()}) since ")
    human = cli("status", "--state", str(path))
    assert (human.code, human.stdout.splitlines()[0]) == (0, "state  being_created")


def test_pause_waits_for_the_campaign_with_exit_1(cli: Cli,
                                                  creating: tuple[Path, Store, Lease]) -> None:
    path, _, _ = creating
    result = cli("pause", "--state", str(path))
    assert result.code == 1
    assert result.stderr.startswith(f"error: {path}: the campaign is being created by hvroll "
                                    f"run (host ")
    assert result.stderr.endswith("; look again in a moment\n")


def test_the_dashboard_says_being_created_not_503(creating: tuple[Path, Store, Lease]) -> None:
    path, _, _ = creating
    source = StateSource(path)
    with TestClient(create_app(source, "t" * 24), base_url="http://127.0.0.1") as client:
        api = client.get("/api/status")
        assert api.status_code == 200
        assert api.json()["state"] == "being_created"
        page = client.get("/")
        assert page.status_code == 200
        assert "campaign being created" in page.text
    source.close()


def test_once_committed_the_campaign_is_shown(cli: Cli,
                                              creating: tuple[Path, Store, Lease]) -> None:
    path, store, _ = creating
    store.commit()
    result = cli("status", "--state", str(path), "--json")
    assert (result.code, json.loads(result.stdout)["state"]) == (0, "pending")


def test_a_creation_that_ended_without_campaign_is_no_campaign(
        cli: Cli, creating: tuple[Path, Store, Lease]) -> None:
    path, store, lease = creating
    store.session.rollback()  # the run failed before its commit, and gave its lease back
    lease.release()
    result = cli("status", "--state", str(path), "--json")
    assert result.code == 2
    assert result.stderr == (f"error: {path}: holds no campaign (expected one started with "
                             f"'hvroll run PLAN --state {path}')\n")
