"""The simulator carries the CPU each guest runs with: the one it started with, until a power
cycle (a cold migration, an HA restart, a reboot) starts it with its new host's; with the
known issues on, a live migration to a host that cannot provide that CPU is refused as libvirt
refuses it (seed 001: ``guest CPU doesn't match specification: missing features: …``)."""

from __future__ import annotations

from hvroll.drivers.base import JobPhase, MigrationOptions
from hvroll.drivers.sim import Faults, SimCloud
from seed000 import seed000_fleet, started_cpu


def finish(cloud: SimCloud, job: str) -> JobPhase:
    while not cloud.job(job).final:
        cloud.wait(60.0)
    return cloud.job(job).phase


def test_a_skylake_guest_cannot_live_migrate_to_haswell() -> None:
    cloud = SimCloud(seed000_fleet(), seed=1, faults=Faults(known_issues=True))
    cloud.migrate("m1", "app-sky", "hsw-u4", MigrationOptions())
    progress = cloud.job("m1")
    assert progress.phase is JobPhase.FAILED
    assert progress.error is not None and progress.error.startswith(
        "cannot live-migrate app-sky to hsw-u4: guest CPU doesn't match specification: "
        "missing features: ")
    assert cloud.placement()["app-sky"] == "sky-u1"


def test_without_known_issues_the_cpu_is_not_checked() -> None:
    cloud = SimCloud(seed000_fleet(), seed=1)
    cloud.migrate("m1", "app-sky", "hsw-u4", MigrationOptions())
    assert finish(cloud, "m1") is JobPhase.COMPLETED


def test_a_cold_migration_starts_the_guest_with_its_new_hosts_cpu() -> None:
    cloud = SimCloud(seed000_fleet(), seed=1, faults=Faults(known_issues=True))
    assert cloud.inspect_vm("app-sky").cpu == started_cpu("sky-u1")
    cloud.cold_migrate("c1", "app-sky", "hsw-u4")
    assert finish(cloud, "c1") is JobPhase.COMPLETED
    assert cloud.inspect_vm("app-sky").cpu == started_cpu("hsw-u4")
    cloud.migrate("m2", "app-sky", "sky-u2", MigrationOptions())  # Haswell's CPU: a subset
    assert finish(cloud, "m2") is JobPhase.COMPLETED
    assert cloud.inspect_vm("app-sky").cpu == started_cpu("hsw-u4")  # live: unchanged


def test_a_live_migration_keeps_the_cpu_the_guest_started_with() -> None:
    cloud = SimCloud(seed000_fleet(), seed=1, faults=Faults(known_issues=True))
    cloud.migrate("m1", "app-bu1", "bdw-u4", MigrationOptions())
    assert finish(cloud, "m1") is JobPhase.COMPLETED
    assert cloud.inspect_vm("app-bu1").cpu == started_cpu("bdw-u1")
