"""Aborting a live migration: the guest stays where it was."""

from __future__ import annotations

import pytest

from hvroll.drivers.base import JobPhase, MigrationOptions
from hvroll.drivers.sim import SimCloud
from hvroll.drivers.sim.model import SWITCHOVER_FIXED_MS
from hvroll.errors import DriverError

from .conftest import LINK, fleet, run_until_final, vm


def test_abort_cancels_the_job_and_leaves_the_vm_on_its_source() -> None:
    cloud = SimCloud(fleet(vm("a", dirty=2000.0)))
    cloud.migrate("m", "a", "hv1", MigrationOptions())
    cloud.wait(3600.0)
    cloud.abort("m")
    p = cloud.job("m")
    assert (p.phase, p.final) == (JobPhase.CANCELLED, True)
    assert cloud.placement()["a"] == "hv0"
    assert cloud.vms()[0].power.value == "running"
    assert "m" in cloud.wait(0.0)


def test_abort_frees_the_link_for_the_other_migrations() -> None:
    cloud = SimCloud(fleet(vm("a"), vm("b")))
    cloud.migrate("ma", "a", "hv1", MigrationOptions())
    cloud.migrate("mb", "b", "hv2", MigrationOptions())
    cloud.clock.sleep(1.0)
    cloud.abort("ma")
    (b,) = run_until_final(cloud, "mb")
    sent = LINK / 2
    assert b.elapsed_s == pytest.approx(1.0 + (4096 - sent) / LINK + SWITCHOVER_FIXED_MS / 1000,
                                        rel=1e-12)


def test_after_an_abort_the_vm_can_migrate_again() -> None:
    cloud = SimCloud(fleet(vm("a")))
    cloud.migrate("m1", "a", "hv1", MigrationOptions())
    cloud.abort("m1")
    cloud.migrate("m2", "a", "hv1", MigrationOptions())
    (done,) = run_until_final(cloud, "m2")
    assert done.phase is JobPhase.COMPLETED


def test_abort_of_a_finished_job_is_refused() -> None:
    cloud = SimCloud(fleet(vm("a")))
    cloud.migrate("m", "a", "hv1", MigrationOptions())
    run_until_final(cloud, "m")
    with pytest.raises(DriverError, match="already ended completed"):
        cloud.abort("m")
