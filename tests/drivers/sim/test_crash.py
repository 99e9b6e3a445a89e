"""``SimulatedCrash``: the orchestrator dies after N events, and cannot catch it."""

from __future__ import annotations

import pytest

from hvroll.drivers.base import MigrationOptions
from hvroll.drivers.sim import Faults, SimCloud, SimulatedCrash

from .conftest import fleet, vm


def _cloud(n: int) -> SimCloud:
    cloud = SimCloud(fleet(vm("a", dirty=2000.0)), faults=Faults(crash_after_events=n))
    cloud.migrate("m", "a", "hv1", MigrationOptions())
    return cloud


def test_wait_raises_after_n_events() -> None:
    cloud = _cloud(3)
    cloud.wait(3600.0)
    cloud.wait(3600.0)
    with pytest.raises(SimulatedCrash, match="after 3 events"):
        cloud.wait(3600.0)
    assert cloud.events_processed == 3


def test_sleep_raises_too() -> None:
    cloud = _cloud(2)
    with pytest.raises(SimulatedCrash):
        cloud.clock.sleep(3600.0)
    assert cloud.events_processed == 2


def test_the_crash_is_not_an_exception_the_executor_could_swallow() -> None:
    cloud = _cloud(1)
    with pytest.raises(SimulatedCrash):
        try:
            cloud.wait(3600.0)
        except Exception:  # what a careless executor would write
            pytest.fail("SimulatedCrash was caught as an Exception")


def test_a_crashed_cloud_refuses_every_further_call() -> None:
    cloud = _cloud(1)
    with pytest.raises(SimulatedCrash):
        cloud.wait(3600.0)
    with pytest.raises(SimulatedCrash, match="open a new one from its journal"):
        cloud.job("m")
