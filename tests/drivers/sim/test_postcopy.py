"""Post-copy: the guest moves at the switch, its pages follow at link rate."""

from __future__ import annotations

import pytest

from hvroll.drivers.base import JobPhase, MigrationOptions
from hvroll.drivers.sim import SimCloud
from hvroll.drivers.sim.model import POSTCOPY_SWITCH_MS
from hvroll.errors import DriverError

from .conftest import LINK, fleet, run_until_final, vm

POSTCOPY = MigrationOptions(post_copy=True)


def _noisy_after_two_passes() -> SimCloud:
    cloud = SimCloud(fleet(vm("a", ram_mib=4096, dirty=2000.0)))
    cloud.migrate("m", "a", "hv1", POSTCOPY)
    while cloud.job("m").iteration < 2:
        cloud.wait(3600.0)
    return cloud


def test_the_vm_runs_on_the_destination_from_the_switch() -> None:
    cloud = _noisy_after_two_passes()
    cloud.start_post_copy("m")
    assert cloud.job("m").phase is JobPhase.POSTCOPY
    assert cloud.placement()["a"] == "hv1"
    assert cloud.vms()[0].hosts == ("hv1",)
    assert [h.vms for h in cloud.hosts()[:2]] == [(), ("a",)]
    assert "m" in cloud.wait(0.0)


def test_post_copy_completes_after_pulling_the_rest_at_link_rate() -> None:
    cloud = _noisy_after_two_passes()
    switched_at = cloud.clock.now()
    cloud.start_post_copy("m")
    (done,) = run_until_final(cloud, "m")
    assert done.phase is JobPhase.COMPLETED
    assert cloud.clock.now() == pytest.approx(switched_at + 4096 / LINK, rel=1e-12)
    assert done.downtime_ms == POSTCOPY_SWITCH_MS
    assert done.processed_mib == pytest.approx(3 * 4096, rel=1e-12)
    assert cloud.inspect_vm("a").migrations_since_power_cycle == 1


def test_post_copy_cannot_be_aborted() -> None:
    cloud = _noisy_after_two_passes()
    cloud.start_post_copy("m")
    with pytest.raises(DriverError, match="post-copy"):
        cloud.abort("m")


def test_post_copy_needs_the_option_at_start() -> None:
    cloud = SimCloud(fleet(vm("a", dirty=2000.0)))
    cloud.migrate("m", "a", "hv1", MigrationOptions())
    with pytest.raises(DriverError, match="without post_copy=True"):
        cloud.start_post_copy("m")
