"""Conformance: what every backend declares and refuses — capabilities, lifecycle, errors
translated into hvroll's, idempotent job keys, and no reinstall of a host that holds a VM."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from drivers.contract.backends import Backend
from hvroll.drivers.base import (
    Capability,
    Driver,
    MigrationOptions,
    declaration_problems,
    has,
    require,
)
from hvroll.errors import CapabilityError, DriverError, HvrollError, SafetyError


def test_the_backend_implements_what_it_declares(backend: Backend) -> None:
    driver = backend.driver()
    assert isinstance(driver, Driver)
    assert declaration_problems(driver) == []
    assert driver.name == backend.name
    assert Capability.LIVE_MIGRATION in driver.capabilities


def test_with_releases_the_journal_for_the_next_driver(backend: Backend) -> None:
    with backend.opener(backend.journal) as driver:
        driver.set_scheduling(backend.source, False)
    with backend.opener(backend.journal) as again:
        assert again.host(backend.source).scheduling.value == "disabled"


@pytest.mark.parametrize(("what", "ask"), [
    ("host", lambda d: d.host("no-such-host")),
    ("host", lambda d: d.host_profile("no-such-host")),
    ("host", lambda d: d.set_scheduling("no-such-host", False)),
    ("VM", lambda d: d.vm("no-such-vm")),
    ("job", lambda d: d.job("no-such-job")),
])
def test_unknown_names_are_hvroll_errors_naming_them(
        backend: Backend, what: str, ask: Callable[[Driver], object]) -> None:
    driver = backend.driver()
    with pytest.raises(DriverError, match=rf"unknown {what} 'no-such-"):
        ask(driver)


def test_moves_that_cannot_start_are_refused_and_change_nothing(backend: Backend) -> None:
    driver = backend.driver()
    name = backend.vm()
    mover = require(driver, Capability.LIVE_MIGRATION)
    with pytest.raises(DriverError, match="unknown VM 'no-such-vm'"):
        mover.migrate("m1", "no-such-vm", backend.dest, MigrationOptions())
    with pytest.raises(DriverError, match="unknown host 'no-such-host'"):
        mover.migrate("m2", name, "no-such-host", MigrationOptions())
    with pytest.raises(DriverError, match=rf"{name} is already on this host"):
        mover.migrate("m3", name, backend.source, MigrationOptions())
    with pytest.raises(DriverError, match="max_downtime_ms must be >= 0"):
        mover.migrate("m4", name, backend.dest, MigrationOptions(max_downtime_ms=-1))
    with pytest.raises(DriverError, match="unknown job 'm9'"):
        mover.abort("m9")
    assert driver.jobs() == []
    assert driver.vm(name).hosts == (backend.source,)


def test_errors_are_hvrolls_never_the_backends_own(backend: Backend) -> None:
    driver = backend.driver()
    calls: list[Callable[[], object]] = [
        lambda: driver.host("no-such-host"), lambda: driver.vm("no-such-vm"),
        lambda: require(driver, Capability.LIVE_MIGRATION).migrate(
            "x", "no-such-vm", backend.dest, MigrationOptions())]
    for call in calls:
        with pytest.raises(Exception) as caught:
            call()
        assert isinstance(caught.value, HvrollError), repr(caught.value)


def test_a_job_key_is_idempotent_and_never_reused_for_another_move(backend: Backend) -> None:
    driver = backend.driver()
    a, b = backend.vm(), backend.vm(running=False)  # b is refused by its key alone
    mover = require(driver, Capability.LIVE_MIGRATION)
    mover.migrate("k", a, backend.dest, MigrationOptions())
    mover.migrate("k", a, backend.dest, MigrationOptions())
    with pytest.raises(DriverError, match="job id 'k' is already used by a live_migration"):
        mover.migrate("k", b, backend.dest, MigrationOptions())
    assert [p.job for p in driver.jobs()] == ["k"]
    backend.until_final(driver, "k")


def test_a_host_that_holds_a_vm_is_never_reinstalled(backend: Backend) -> None:
    driver = backend.driver()
    name = backend.vm(running=False)  # any power state counts
    if not has(driver, Capability.REINSTALL):
        with pytest.raises(CapabilityError, match="cannot do reinstall"):
            require(driver, Capability.REINSTALL)
        return
    with pytest.raises(SafetyError, match=rf"{backend.source}: refusing to reinstall.*{name}"):
        require(driver, Capability.REINSTALL).reinstall("r", backend.source, backend.profile)
    assert "r" not in [p.job for p in driver.jobs()]
    assert name in driver.host(backend.source).vms
    assert driver.host(backend.source).up
