"""Fixtures of the compatibility tests: the seed 000 fleet and a checker for it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hvroll.compat.verdict import Checker
from hvroll.domain import Fleet, Host, Vm

from .fleets import make_fleet


@pytest.fixture(scope="session")
def seed_fleet() -> Fleet:
    return make_fleet()


@pytest.fixture
def checker(seed_fleet: Fleet) -> Checker:
    return Checker(seed_fleet)


@pytest.fixture(scope="session")
def host_of(seed_fleet: Fleet) -> Callable[[str], Host]:
    return lambda name: seed_fleet.host_by_name[name]


@pytest.fixture(scope="session")
def vm_of(seed_fleet: Fleet) -> Callable[[str], Vm]:
    return lambda name: seed_fleet.vm_by_name[name]
