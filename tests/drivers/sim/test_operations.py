"""Scheduling, suspend/resume, workarounds, probes, and the live views that show them."""

from __future__ import annotations

import pytest

from hvroll.domain import PowerState, SchedulingState
from hvroll.drivers.base import VmState
from hvroll.drivers.sim import WORKAROUNDS, Faults, SimCloud
from hvroll.drivers.sim.model import UNREACHABLE_SHARE
from hvroll.errors import DriverError

from .conftest import fleet, run_until_final, vm, windows
from .scenario import FAULTS, campaign, small_fleet


def test_scheduling_shows_in_the_host_view_and_is_idempotent() -> None:
    cloud = SimCloud(fleet())
    cloud.set_scheduling("hv1", False)
    cloud.set_scheduling("hv1", False)
    assert [h.scheduling for h in cloud.hosts()[:2]] == [SchedulingState.ENABLED,
                                                         SchedulingState.DISABLED]
    cloud.set_scheduling("hv1", True)
    assert cloud.hosts()[1].scheduling is SchedulingState.ENABLED
    with pytest.raises(DriverError, match="unknown host 'hv9'"):
        cloud.set_scheduling("hv9", True)


def test_ha_does_not_restart_vms_on_a_host_closed_to_scheduling() -> None:
    cloud = SimCloud(fleet(vm("a", "hv0"), hosts=3), faults=Faults(host_crashes=(("hv0", 1.0),)))
    cloud.set_scheduling("hv1", False)
    cloud.clock.sleep(2.0)
    assert cloud.placement()["a"] == "hv2"


def test_suspend_and_resume_change_the_power_state() -> None:
    cloud = SimCloud(fleet(vm("a")))
    cloud.suspend("a")
    cloud.suspend("a")
    assert cloud.vms()[0].power is PowerState.PAUSED
    assert cloud.hosts()[0].vms == ("a",)  # a paused VM is still on its host
    assert cloud.probe("a") is False
    cloud.resume("a")
    assert cloud.vms()[0].power is PowerState.RUNNING
    assert cloud.probe("a") is True


def test_a_shut_off_vm_cannot_be_suspended() -> None:
    cloud = SimCloud(fleet(vm("a", power=PowerState.SHUTOFF)))
    with pytest.raises(DriverError, match="hv0: cannot suspend a: it is shutoff"):
        cloud.suspend("a")


def test_remove_balloon_unplugs_it_until_the_next_power_cycle() -> None:
    cloud = SimCloud(fleet(windows("w")))
    cloud.apply_workaround("w", "remove_balloon")
    view = cloud.inspect_vm("w")
    assert (view.balloon, view.workarounds) == (False, ("remove_balloon",))
    cloud.cold_migrate("c", "w", "hv1")
    run_until_final(cloud, "c")
    assert cloud.inspect_vm("w").balloon is True


def test_reboot_guest_clears_the_migration_history() -> None:
    cloud = SimCloud(fleet(windows("w", migrated=3)))
    cloud.apply_workaround("w", "reboot_guest")
    assert cloud.inspect_vm("w").migrations_since_power_cycle == 0


def test_guest_workarounds_need_a_running_guest_the_others_do_not() -> None:
    cloud = SimCloud(fleet(vm("a", power=PowerState.SHUTOFF)))
    with pytest.raises(DriverError, match="cannot apply remove_balloon to a: it is shutoff"):
        cloud.apply_workaround("a", "remove_balloon")
    cloud.apply_workaround("a", "copy_config_drive")
    assert cloud.inspect_vm("a").workarounds == ("copy_config_drive",)


def test_unknown_workaround_is_an_error() -> None:
    cloud = SimCloud(fleet(vm("a")))
    with pytest.raises(DriverError, match="unknown workaround 'defrag'"):
        cloud.apply_workaround("a", "defrag")
    assert "remove_balloon" in WORKAROUNDS


def test_a_seeded_few_vms_never_answer_probes() -> None:
    f = fleet(*(vm(f"v{i}", f"hv{i % 4}", ram_mib=512) for i in range(2000)), ram_mib=10**6)
    cloud, again = SimCloud(f, seed=2), SimCloud(f, seed=2)
    silent = [v.name for v in f.vms if not cloud.probe(v.name)]
    assert 0.5 * UNREACHABLE_SHARE * 2000 <= len(silent) <= 2 * UNREACHABLE_SHARE * 2000
    assert all(cloud.inspect_vm(name).unreachable for name in silent)
    assert silent == [v.name for v in f.vms if not again.probe(v.name)]


def test_views_follow_each_change() -> None:
    cloud = SimCloud(fleet(vm("a", "hv0"), hosts=3), faults=Faults(host_crashes=(("hv2", 10.0),)))
    before = cloud.hosts()
    assert cloud.hosts() == before
    cloud.reinstall("r", "hv1", "CPv2")
    assert cloud.hosts()[1].up is False
    cloud.clock.sleep(11.0)
    assert cloud.hosts()[2].up is False
    run_until_final(cloud, "r")
    assert (cloud.hosts()[1].up, cloud.hosts()[1].profile) == (True, "CPv2")
    cloud.suspend("a")
    assert cloud.vms()[0].power is PowerState.PAUSED


def test_views_agree_with_the_state_throughout_a_campaign() -> None:
    """The cached host and VM lists never lag behind placements, power states and hosts."""
    f = small_fleet()
    cloud = SimCloud(f, seed=4, faults=FAULTS)
    for _ in campaign(lambda: cloud, f):
        views = [cloud.inspect_vm(name) for name in cloud.placement()]
        expected = [VmState(v.name, (v.host,), v.power) for v in views]
        assert cloud.vms() == expected
        assert [cloud.vm(v.name) for v in views] == expected
        for host in cloud.hosts():
            assert host.vms == tuple(sorted(v.name for v in views if v.host == host.name))
            assert host.profile == cloud.host_profile(host.name)
            assert cloud.host(host.name) == host
