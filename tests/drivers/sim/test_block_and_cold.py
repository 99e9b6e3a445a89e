"""Block migration copies local disks before RAM; cold migration moves a VM powered off."""

from __future__ import annotations

import pytest

from hvroll.domain import PowerState
from hvroll.drivers.base import JobPhase, MigrationOptions, VmState
from hvroll.drivers.sim import SimCloud
from hvroll.drivers.sim.model import COLD_OVERHEAD_S, SWITCHOVER_FIXED_MS

from .conftest import LINK, fleet, run_until_final, vm


def test_block_migration_adds_the_disk_copy_at_link_rate() -> None:
    cloud = SimCloud(fleet(vm("a", ram_mib=4096, local_gib=10)))
    cloud.migrate("m", "a", "hv1", MigrationOptions(block=True))
    cloud.clock.sleep(1.0)
    copying = cloud.job("m")
    assert copying.extra["step"] == "disk"
    assert copying.remaining_mib == pytest.approx(4096 + 10240 - LINK, rel=1e-12)
    assert (copying.total_mib, copying.processed_mib, copying.expected_downtime_ms) == (
        4096 + 10240, LINK, 4096 / LINK * 1000)
    (done,) = run_until_final(cloud, "m")
    assert (done.downtime_ms, done.error) == (SWITCHOVER_FIXED_MS, None)
    assert done.elapsed_s == pytest.approx((10240 + 4096) / LINK + SWITCHOVER_FIXED_MS / 1000,
                                           rel=1e-12)
    assert (done.total_mib, done.processed_mib) == (4096 + 10240, 4096 + 10240)


def test_cold_migration_takes_the_overhead_plus_the_disk_copy() -> None:
    cloud = SimCloud(fleet(vm("a", local_gib=10,
                              history={"live_migrations_since_power_cycle": 3})))
    cloud.cold_migrate("c", "a", "hv1")
    (done,) = run_until_final(cloud, "c")
    assert done.phase is JobPhase.COMPLETED
    assert done.elapsed_s == pytest.approx(10240 / LINK + COLD_OVERHEAD_S, rel=1e-12)
    view = cloud.inspect_vm("a")
    assert (view.host, view.power, view.migrations_since_power_cycle) == (
        "hv1", PowerState.RUNNING, 0)


def test_a_cold_migrated_vm_is_off_meanwhile() -> None:
    cloud = SimCloud(fleet(vm("a")))
    cloud.cold_migrate("c", "a", "hv1")
    assert cloud.vm("a") == VmState("a", ("hv0",), PowerState.SHUTOFF)
    assert cloud.host("hv0").vms == ("a",)  # still defined there
    assert cloud.probe("a") is False
    run_until_final(cloud, "c")
    assert cloud.vm("a") == VmState("a", ("hv1",), PowerState.RUNNING)
    assert (cloud.host("hv0").vms, cloud.host("hv1").vms) == ((), ("a",))
    assert cloud.probe("a") is True


@pytest.mark.parametrize("power", [PowerState.PAUSED, PowerState.SHUTOFF])
def test_cold_migration_restores_the_previous_power_state(power: PowerState) -> None:
    cloud = SimCloud(fleet(vm("a", power=power)))
    cloud.cold_migrate("c", "a", "hv1")
    run_until_final(cloud, "c")
    assert cloud.vms()[0].power is power
    assert cloud.placement()["a"] == "hv1"
