"""Injected faults: failing migrations and reinstalls, crashing hosts, known issues."""

from __future__ import annotations

import pytest

from hvroll.domain import Devices, PowerState
from hvroll.drivers.base import JobPhase, MigrationOptions, VmState
from hvroll.drivers.sim import Faults, SimCloud
from hvroll.errors import InputError

from .conftest import fleet, run_until_final, vm, windows

PLAIN = MigrationOptions()


def test_a_failing_migration_ends_failed_with_the_vm_on_its_source() -> None:
    cloud = SimCloud(fleet(vm("a", dirty=2000.0)), faults=Faults(migration_failure_rate=1.0))
    cloud.migrate("m", "a", "hv1", PLAIN)
    (p,) = run_until_final(cloud, "m")
    assert p.phase is JobPhase.FAILED
    assert p.error is not None and "injected fault" in p.error
    assert 0 <= p.iteration <= 3
    assert cloud.placement()["a"] == "hv0"
    assert cloud.inspect_vm("a").power is PowerState.RUNNING


def test_a_doomed_migration_fails_no_later_than_it_would_have_converged() -> None:
    cloud = SimCloud(fleet(vm("a", dirty=0.0)), faults=Faults(migration_failure_rate=1.0))
    cloud.migrate("m", "a", "hv1", PLAIN)
    (p,) = run_until_final(cloud, "m")
    assert (p.phase, p.iteration) == (JobPhase.FAILED, 0)


def test_the_failure_rate_is_the_share_of_failing_migrations() -> None:
    vms = [vm(f"v{i}", f"hv{i % 4}") for i in range(200)]
    cloud = SimCloud(fleet(*vms, ram_mib=2_000_000), faults=Faults(migration_failure_rate=0.3))
    for i in range(200):
        cloud.migrate(f"m{i}", f"v{i}", f"hv{(i + 1) % 4}", PLAIN)
    done = run_until_final(cloud, *(f"m{i}" for i in range(200)))
    failed = sum(p.phase is JobPhase.FAILED for p in done)
    assert 40 <= failed <= 80


def test_a_failing_cold_migration_leaves_the_vm_on_its_source_in_its_power_state() -> None:
    cloud = SimCloud(fleet(vm("a")), faults=Faults(migration_failure_rate=1.0))
    cloud.cold_migrate("c", "a", "hv1")
    (p,) = run_until_final(cloud, "c")
    assert p.phase is JobPhase.FAILED
    assert (cloud.placement()["a"], cloud.inspect_vm("a").power) == ("hv0", PowerState.RUNNING)


def test_a_failing_reinstall_keeps_the_old_profile_and_brings_the_host_back() -> None:
    cloud = SimCloud(fleet(), faults=Faults(reinstall_failure_rate=1.0))
    cloud.reinstall("r", "hv1", "CPv2")
    (p,) = run_until_final(cloud, "r")
    assert p.phase is JobPhase.FAILED
    assert p.error is not None and "still runs CPv1" in p.error
    assert cloud.host_profile("hv1") == "CPv1"
    assert cloud.hosts()[1].up is True


def test_a_crashed_host_goes_down_and_ha_restarts_its_vms_in_its_cluster() -> None:
    vms = (vm("a", "hv00", power=PowerState.PAUSED,
              history={"live_migrations_since_power_cycle": 2}),
           vm("b", "hv00"), vm("c", "hv01"))
    cloud = SimCloud(fleet(*vms, hosts=3, clusters=2),
                     faults=Faults(host_crashes=(("hv00", 50.0),)))
    cloud.clock.sleep(60.0)
    assert [h.name for h in cloud.hosts() if not h.up] == ["hv00"]
    placed = cloud.placement()
    assert placed["a"] in ("hv01", "hv02") and placed["b"] in ("hv01", "hv02")
    a = cloud.inspect_vm("a")
    assert (a.power, a.migrations_since_power_cycle) == (PowerState.RUNNING, 0)


def test_ha_picks_the_host_with_most_free_memory() -> None:
    vms = (vm("a", "hv0"), vm("big", "hv1", ram_mib=30000))
    cloud = SimCloud(fleet(*vms, hosts=3), faults=Faults(host_crashes=(("hv0", 1.0),)))
    cloud.clock.sleep(2.0)
    assert cloud.placement()["a"] == "hv2"


def test_a_vm_without_room_elsewhere_is_left_crashed() -> None:
    cloud = SimCloud(fleet(vm("a", "hv0", ram_mib=60000), vm("b", "hv1", ram_mib=60000),
                           hosts=2),
                     faults=Faults(host_crashes=(("hv0", 1.0),)))
    cloud.clock.sleep(2.0)
    assert cloud.vms()[0].power is PowerState.CRASHED
    assert cloud.probe("a") is False


def test_migrations_touching_a_crashed_host_fail() -> None:
    cloud = SimCloud(fleet(vm("a", "hv0", dirty=2000.0), vm("b", "hv2", dirty=2000.0)),
                     faults=Faults(host_crashes=(("hv1", 5.0),)))
    cloud.migrate("out", "a", "hv3", PLAIN)
    cloud.migrate("in", "b", "hv1", PLAIN)
    cloud.clock.sleep(6.0)
    assert cloud.job("in").phase is JobPhase.FAILED
    assert cloud.job("out").phase is JobPhase.RUNNING
    assert cloud.placement()["b"] == "hv2"


def test_a_post_copy_whose_source_crashes_loses_the_guest() -> None:
    cloud = SimCloud(fleet(vm("a", "hv0", dirty=2000.0)),
                     faults=Faults(host_crashes=(("hv0", 5.0),)))
    cloud.migrate("m", "a", "hv1", MigrationOptions(post_copy=True))
    cloud.clock.sleep(4.0)
    cloud.start_post_copy("m")
    cloud.clock.sleep(2.0)
    assert cloud.job("m").phase is JobPhase.FAILED
    assert cloud.vm("a") == VmState("a", ("hv1",), PowerState.CRASHED)
    assert cloud.host("hv1").vms == ("a",)


def test_a_reinstall_brings_a_crashed_host_back() -> None:
    cloud = SimCloud(fleet(hosts=2), faults=Faults(host_crashes=(("hv0", 1.0),)))
    cloud.clock.sleep(2.0)
    cloud.reinstall("r", "hv0", "CPv2")
    run_until_final(cloud, "r")
    assert cloud.hosts()[0].up is True


def test_a_crash_rate_crashes_hosts_at_seeded_times() -> None:
    faults = Faults(host_crash_rate_per_h=1.0)
    first = SimCloud(fleet(hosts=4), seed=5, faults=faults)
    second = SimCloud(fleet(hosts=4), seed=5, faults=faults)
    for cloud in (first, second):
        cloud.clock.sleep(3600.0)
    down = [h.name for h in first.hosts() if not h.up]
    assert 0 < len(down) < 4
    assert down == [h.name for h in second.hosts() if not h.up]
    first.clock.sleep(100 * 3600.0)
    assert not any(h.up for h in first.hosts())


def test_faults_naming_an_unknown_host_are_refused() -> None:
    with pytest.raises(InputError, match="'hv9', which is not in the fleet"):
        SimCloud(fleet(), faults=Faults(host_crashes=(("hv9", 1.0),)))


@pytest.mark.parametrize("faults", [
    {"migration_failure_rate": 1.5}, {"reinstall_failure_rate": -0.1},
    {"host_crash_rate_per_h": -1.0}, {"crash_after_events": 0},
    {"host_crashes": (("hv0", -1.0),)},
])
def test_invalid_faults_are_refused(faults: dict[str, object]) -> None:
    with pytest.raises(InputError, match="Faults"):
        Faults(**faults)  # type: ignore[arg-type]


# --- known issues ---------------------------------------------------------------------------

KNOWN = Faults(known_issues=True)


def test_known_issue_local_disk_needs_block_migration() -> None:
    cloud = SimCloud(fleet(vm("a", local_gib=10)), faults=KNOWN)
    cloud.migrate("m", "a", "hv1", PLAIN)
    p = cloud.job("m")
    assert p.phase is JobPhase.FAILED
    assert p.error == ("unsafe migration of a: it has local disks and no shared storage; "
                       "use block migration")
    assert cloud.wait(1.0) == ["m"]
    cloud.migrate("m2", "a", "hv1", MigrationOptions(block=True))
    assert run_until_final(cloud, "m2")[0].phase is JobPhase.COMPLETED


def test_known_issue_passthrough_cannot_live_migrate() -> None:
    cloud = SimCloud(fleet(vm("a", devices=Devices(passthrough=("gpu",)))), faults=KNOWN)
    cloud.migrate("m", "a", "hv1", PLAIN)
    assert cloud.job("m").phase is JobPhase.FAILED
    cloud.cold_migrate("c", "a", "hv1")
    assert run_until_final(cloud, "c")[0].phase is JobPhase.COMPLETED


def test_known_issue_iso_config_drive_needs_a_copy_first() -> None:
    cloud = SimCloud(fleet(vm("a", devices=Devices(config_drive="iso9660"))), faults=KNOWN)
    cloud.migrate("m", "a", "hv1", PLAIN)
    assert cloud.job("m").phase is JobPhase.FAILED
    cloud.apply_workaround("a", "copy_config_drive")
    cloud.migrate("m2", "a", "hv1", PLAIN)
    assert run_until_final(cloud, "m2")[0].phase is JobPhase.COMPLETED


def test_known_issue_windows_balloon_fails_at_switch_over_from_old_qemu() -> None:
    cloud = SimCloud(fleet(windows("w")), faults=KNOWN)
    cloud.migrate("m", "w", "hv1", PLAIN)
    (p,) = run_until_final(cloud, "m")
    assert p.phase is JobPhase.FAILED
    assert p.error is not None and "balloon" in p.error
    assert cloud.placement()["w"] == "hv0"


@pytest.mark.parametrize("fix", ["remove_balloon", "reboot_guest"])
def test_known_issue_windows_balloon_is_lifted_by_its_workarounds(fix: str) -> None:
    cloud = SimCloud(fleet(windows("w")), faults=KNOWN)
    cloud.apply_workaround("w", fix)
    cloud.migrate("m", "w", "hv1", PLAIN)
    assert run_until_final(cloud, "m")[0].phase is JobPhase.COMPLETED


def test_known_issue_windows_balloon_spares_newer_qemu_and_fresh_guests() -> None:
    cloud = SimCloud(fleet(windows("w"), profile="CPv2"), faults=KNOWN)
    cloud.migrate("m", "w", "hv1", PLAIN)
    assert run_until_final(cloud, "m")[0].phase is JobPhase.COMPLETED
    cloud = SimCloud(fleet(windows("w", migrated=0)), faults=KNOWN)
    cloud.migrate("m", "w", "hv1", PLAIN)
    assert run_until_final(cloud, "m")[0].phase is JobPhase.COMPLETED


def test_known_issues_are_off_by_default() -> None:
    cloud = SimCloud(fleet(vm("a", local_gib=10), windows("w")))
    cloud.migrate("m1", "a", "hv1", PLAIN)
    cloud.migrate("m2", "w", "hv2", PLAIN)
    assert {p.phase for p in run_until_final(cloud, "m1", "m2")} == {JobPhase.COMPLETED}
