"""Requests the simulated cloud refuses, and calls that are idempotent."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hvroll.domain import PowerState
from hvroll.drivers.base import Capability, Driver, JobKind, MigrationOptions
from hvroll.drivers.sim import SimCloud
from hvroll.errors import DriverError

from .conftest import fleet, vm

PLAIN = MigrationOptions()


def test_the_sim_is_a_driver_with_every_capability() -> None:
    cloud = SimCloud(fleet())
    driver: Driver = cloud  # the type checker agrees
    assert isinstance(driver, Driver)
    assert cloud.name == "sim"
    assert cloud.capabilities == frozenset(Capability) - {Capability.POST_COPY_BLOCK}


@pytest.mark.parametrize(("vm_name", "dest", "message"), [
    ("nope", "hv1", r"^unknown VM 'nope'$"),
    ("a", "hv9", r"^unknown host 'hv9'$"),
    ("a", "hv0", r"^hv0: a is already on this host$"),
    ("off", "hv1", r"^hv0: cannot live-migrate off: it is shutoff, not running or paused$"),
])
def test_bad_migration_requests(vm_name: str, dest: str, message: str) -> None:
    cloud = SimCloud(fleet(vm("a"), vm("off", power=PowerState.SHUTOFF)))
    with pytest.raises(DriverError, match=message):
        cloud.migrate("m", vm_name, dest, PLAIN)
    assert cloud.jobs() == []


def test_a_second_concurrent_job_for_one_vm_is_refused() -> None:
    cloud = SimCloud(fleet(vm("a")))
    cloud.migrate("m1", "a", "hv1", PLAIN)
    with pytest.raises(DriverError, match=r"^hv0: a is already being migrated by job m1$"):
        cloud.migrate("m2", "a", "hv2", PLAIN)
    with pytest.raises(DriverError, match="already being migrated"):
        cloud.cold_migrate("c", "a", "hv2")


def test_starting_a_job_again_with_the_same_key_is_a_no_op() -> None:
    cloud = SimCloud(fleet(vm("a")))
    cloud.migrate("m", "a", "hv1", PLAIN)
    cloud.clock.sleep(1.0)
    cloud.migrate("m", "a", "hv1", PLAIN)
    assert [(j.job, j.kind, j.started_s) for j in cloud.jobs()] == [
        ("m", JobKind.LIVE_MIGRATION, 0.0)]


def test_a_job_key_used_for_something_else_is_refused() -> None:
    cloud = SimCloud(fleet(vm("a"), vm("b")))
    cloud.migrate("m", "a", "hv1", PLAIN)
    with pytest.raises(DriverError, match="already used by a live_migration of a"):
        cloud.migrate("m", "b", "hv1", PLAIN)


@pytest.mark.parametrize(("ask", "message"), [
    (lambda c: c.job("x"), "unknown job 'x'"),
    (lambda c: c.host("x"), "unknown host 'x'"),
    (lambda c: c.vm("x"), "unknown VM 'x'"),
    (lambda c: c.probe("x"), "unknown VM 'x'"),
    (lambda c: c.host_profile("x"), "unknown host 'x'"),
])
def test_unknown_names_are_errors(ask: Callable[[SimCloud], object], message: str) -> None:
    with pytest.raises(DriverError, match=message):
        ask(SimCloud(fleet()))


def test_operations_on_a_job_of_another_kind_are_refused() -> None:
    cloud = SimCloud(fleet(vm("a")))
    cloud.cold_migrate("c", "a", "hv1")
    with pytest.raises(DriverError, match="it is a cold_migration, not a live migration"):
        cloud.set_max_downtime("c", 1000)


def test_wait_with_nothing_scheduled_moves_time_by_the_timeout() -> None:
    cloud = SimCloud(fleet())
    assert cloud.wait(30.0) == []
    assert cloud.clock.now() == 30.0


def test_sleep_processes_events_and_wait_then_reports_them() -> None:
    cloud = SimCloud(fleet(vm("a")))
    cloud.migrate("m", "a", "hv1", PLAIN)
    cloud.clock.sleep(100.0)
    assert cloud.clock.now() == 100.0
    assert cloud.job("m").final
    assert cloud.wait(10.0) == ["m"]
    assert cloud.clock.now() == 100.0
