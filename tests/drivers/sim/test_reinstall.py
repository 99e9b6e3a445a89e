"""Reinstalling a host: only when empty, about 30 minutes, then the new profile."""

from __future__ import annotations

import statistics

import pytest

from hvroll.drivers.base import JobPhase, MigrationOptions
from hvroll.drivers.sim import SimCloud
from hvroll.drivers.sim.model import REINSTALL_MIN_S, reinstall_duration_s
from hvroll.errors import DriverError, SafetyError

from .conftest import fleet, run_until_final, vm


def test_reinstall_refuses_a_host_that_holds_a_vm() -> None:
    cloud = SimCloud(fleet(vm("a", "hv0")))
    with pytest.raises(SafetyError,
                       match=r"hv0: refusing to reinstall, it still holds 1 VM\(s\): a"):
        cloud.reinstall("r", "hv0", "CPv2")
    assert cloud.jobs() == []


def test_a_shut_off_vm_holds_its_host() -> None:
    cloud = SimCloud(fleet(vm("a", "hv0", power="shutoff")))
    assert cloud.host("hv0").vms == ("a",)
    with pytest.raises(SafetyError):
        cloud.reinstall("r", "hv0", "CPv2")


def test_reinstall_refuses_a_host_a_migration_is_heading_to() -> None:
    cloud = SimCloud(fleet(vm("a", "hv0")))
    cloud.migrate("m", "a", "hv1", MigrationOptions())
    with pytest.raises(SafetyError, match="migration m to or from it"):
        cloud.reinstall("r", "hv1", "CPv2")


def test_reinstall_changes_the_profile_after_about_half_an_hour() -> None:
    cloud = SimCloud(fleet(vm("a", "hv0")), seed=3)
    cloud.reinstall("r", "hv1", "CPv2")
    assert cloud.host_profile("hv1") == "CPv1"
    assert cloud.hosts()[1].up is False
    (done,) = run_until_final(cloud, "r")
    assert done.phase is JobPhase.COMPLETED
    assert done.elapsed_s == reinstall_duration_s(3, "r")
    assert 20 * 60 <= done.elapsed_s <= 40 * 60
    assert cloud.host_profile("hv1") == "CPv2"
    assert cloud.hosts()[1].up is True


def test_a_host_being_reinstalled_takes_no_migration() -> None:
    cloud = SimCloud(fleet(vm("a", "hv0")))
    cloud.reinstall("r", "hv1", "CPv2")
    with pytest.raises(DriverError, match=r"hv1: cannot migrate a: destination host is down "
                                          r"\(being reinstalled by r\)"):
        cloud.migrate("m", "a", "hv1", MigrationOptions())


def test_reinstall_to_an_unknown_profile_is_refused() -> None:
    cloud = SimCloud(fleet())
    with pytest.raises(DriverError, match="no such profile"):
        cloud.reinstall("r", "hv1", "CPv9")


def test_reinstall_durations_are_about_30_minutes_and_never_under_20() -> None:
    durations = [reinstall_duration_s(1, f"r{i}") for i in range(2000)]
    assert min(durations) >= REINSTALL_MIN_S
    assert statistics.mean(durations) == pytest.approx(1800.0, abs=15.0)
    assert statistics.stdev(durations) == pytest.approx(180.0, rel=0.1)


def test_the_reinstall_seconds_are_each_hosts_reinstalls_as_drawn() -> None:
    """Those that ended, summed per host; one still running is not counted."""
    cloud = SimCloud(fleet(hosts=3), seed=3)
    cloud.reinstall("r1", "hv1", "CPv2")
    cloud.reinstall("r2", "hv2", "CPv2")
    run_until_final(cloud, "r1", "r2")
    cloud.reinstall("r3", "hv1", "CPv2")
    assert cloud.reinstall_seconds() == {"hv1": reinstall_duration_s(3, "r1"),
                                         "hv2": reinstall_duration_s(3, "r2")}
    run_until_final(cloud, "r3")
    assert cloud.reinstall_seconds()["hv1"] == pytest.approx(
        reinstall_duration_s(3, "r1") + reinstall_duration_s(3, "r3"))
