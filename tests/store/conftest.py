"""Fixtures: campaigns on the simulated cloud, stored on every backend (SQLite and a real
PostgreSQL: the ``backend`` parameter)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from campaigns import Campaign, campaign_factory
from hvroll.drivers.sim import SimCloud
from hvroll.planner.model import Plan
from hvroll.store import Store
from targets import BACKENDS, state_target


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def target(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty state target: a file path, or a fresh PostgreSQL database's URL."""
    return state_target(backend, request, tmp_path)


@pytest.fixture
def campaign(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Campaign]:
    """``campaign(fleet, policy=…, faults=…)``: a stored plan and a journaled simulated cloud
    (the stores are closed at the end of the test)."""
    names: dict[str, str] = {}
    stores: list[Store] = []

    def where(name: str) -> str:
        if name not in names:
            names[name] = state_target(backend, request, tmp_path, name)
        return names[name]

    factory = campaign_factory(tmp_path, where)

    def make(*args: Any, **kwargs: Any) -> tuple[Store, SimCloud, Plan]:
        made = factory(*args, **kwargs)
        stores.append(made[0])
        return made

    yield make
    for store in stores:
        store.close()

