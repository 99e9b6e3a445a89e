"""The nova driver against a real Nova (the lab; marker ``nova``): scheduling, live migration
followed to Nova's ``completed``, abort, force-complete, failure, a refused move, adoption
after a crash, reinstall through the lab's hook."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from hvroll.drivers.base import JobPhase, JobProgress, MigrationOptions
from hvroll.drivers.nova.cloud import DISABLED_REASON, NovaCloud
from hvroll.drivers.nova.connect import connect
from hvroll.drivers.nova.discovery import fleet_from_cloud
from hvroll.drivers.nova.facts import load_facts
from hvroll.drivers.nova.read import read_cloud
from hvroll.errors import SafetyError
from hvroll.lab import nova

pytestmark = pytest.mark.nova
LAB_COMPUTES = 3
LAB_SERVERS = 6
TIMEOUT_S = 180.0


@pytest.fixture(scope="module")
def conn(nova_lab: Any) -> Any:
    return connect("hvroll-lab", config_file=nova_lab.clouds_yaml)


@pytest.fixture(scope="module")
def facts(nova_lab: Any) -> Any:
    return load_facts(nova_lab.workdir / "host-facts.yaml")


@pytest.fixture
def cloud(nova_lab: Any, conn: Any, facts: Any, tmp_path: Path) -> Any:
    fleet = fleet_from_cloud(read_cloud(conn), facts).fleet
    hook = lambda host, profile: nova.reinstall(nova_lab.workdir, host, profile)  # noqa: E731
    driver = NovaCloud(conn, fleet, facts, journal=tmp_path / "nova.jsonl",
                       reinstall_hook=hook, poll_s=0.5)
    nova.set_knob(nova_lab.workdir, "lm_seconds", "2")
    for knob in ("lm_fail", "lm_stall"):
        nova.set_knob(nova_lab.workdir, knob, None)
    yield driver
    driver.close()


def follow(driver: NovaCloud, job: str) -> tuple[JobProgress, list[JobProgress]]:
    seen = []
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        progress = driver.job(job)
        seen.append(progress)
        if progress.final:
            return progress, seen
        driver.wait(1.0)
    raise AssertionError(f"{job} did not end: {seen[-1]}")


def other_host(driver: NovaCloud, vm: str) -> tuple[str, str]:
    """The VM's host and another (the tests move VMs outside the anti-affinity group, whose
    members vm-01 and vm-02 Nova rightly refuses to put together)."""
    source = driver.vm(vm).hosts[0]
    dest = next(h.name for h in driver.fleet.hosts if h.name != source)
    return source, dest


def migrations_of(conn: Any, uuid: str) -> list[Any]:
    return list(conn.compute.migrations(server_id=uuid, migration_type="live-migration"))


def test_scheduling_is_the_compute_service_disabled_with_a_reason(cloud: NovaCloud,
                                                                   conn: Any) -> None:
    cloud.set_scheduling("compute2", False)
    svc = next(iter(conn.compute.services(binary="nova-compute", host="compute2")))
    assert (svc.status, svc.disabled_reason) == ("disabled", DISABLED_REASON)
    assert cloud.host("compute2").scheduling.value == "disabled"
    cloud.set_scheduling("compute2", True)
    svc = next(iter(conn.compute.services(binary="nova-compute", host="compute2")))
    assert svc.status == "enabled"


def test_a_live_migration_completes_when_nova_says_so_with_progress(nova_lab: Any, cloud: NovaCloud,
                                                                    conn: Any) -> None:
    vm = "vm-03"
    source, dest = other_host(cloud, vm)
    nova.set_knob(nova_lab.workdir, "lm_seconds", "10")
    cloud.migrate("j-live", vm, dest, MigrationOptions())
    final, seen = follow(cloud, "j-live")
    assert final.phase is JobPhase.COMPLETED, final
    server = conn.compute.get_server(cloud._uuid[vm])
    assert (server.compute_host, server.status) == (dest, "ACTIVE")
    migs = migrations_of(conn, server.id)
    assert [m.status for m in migs] == ["completed"]
    totals = [p.total_mib for p in seen if p.total_mib]
    assert totals, "no progress was observed while the migration ran"
    assert any(p.remaining_mib < p.total_mib for p in seen if p.total_mib)
    assert vm in cloud.host(dest).vms
    assert vm not in cloud.host(source).vms


def test_abort_cancels_and_the_vm_stays_on_its_source(nova_lab: Any, cloud: NovaCloud) -> None:
    vm = "vm-04"
    source, dest = other_host(cloud, vm)
    nova.set_knob(nova_lab.workdir, "lm_stall", "1")
    cloud.migrate("j-abort", vm, dest, MigrationOptions())
    deadline = time.monotonic() + TIMEOUT_S
    while cloud.job("j-abort").extra.get("nova_status") != "running":
        assert time.monotonic() < deadline
        cloud.wait(0.5)
    cloud.abort("j-abort")
    final, _ = follow(cloud, "j-abort")
    assert final.phase is JobPhase.CANCELLED, final
    assert cloud.vm(vm).hosts == (source,)


def test_force_complete_finishes_a_stalled_migration(nova_lab: Any, cloud: NovaCloud) -> None:
    vm = "vm-05"
    _, dest = other_host(cloud, vm)
    nova.set_knob(nova_lab.workdir, "lm_stall", "1")
    cloud.migrate("j-force", vm, dest, MigrationOptions())
    deadline = time.monotonic() + TIMEOUT_S
    while cloud.job("j-force").extra.get("nova_status") != "running":
        assert time.monotonic() < deadline
        cloud.wait(0.5)
    cloud.start_post_copy("j-force")
    final, _ = follow(cloud, "j-force")
    assert final.phase is JobPhase.COMPLETED, final
    assert cloud.vm(vm).hosts == (dest,)


def test_a_migration_nova_fails_is_failed_and_the_vm_stays(nova_lab: Any, cloud: NovaCloud) -> None:
    vm = "vm-06"
    source, dest = other_host(cloud, vm)
    nova.set_knob(nova_lab.workdir, "lm_fail", "1")
    cloud.migrate("j-fail", vm, dest, MigrationOptions())
    final, _ = follow(cloud, "j-fail")
    assert final.phase is JobPhase.FAILED, final
    assert final.error
    assert cloud.vm(vm).hosts == (source,)


def test_a_move_nova_refuses_fails_with_novas_reason(cloud: NovaCloud) -> None:
    vm = "vm-03"
    _, dest = other_host(cloud, vm)
    cloud.set_scheduling(dest, False)
    try:
        cloud.migrate("j-novalid", vm, dest, MigrationOptions())
        final, _ = follow(cloud, "j-novalid")
    finally:
        cloud.set_scheduling(dest, True)
    assert final.phase is JobPhase.FAILED, final
    assert final.error is not None
    assert "No valid host" in final.error or "NoValidHost" in final.error, final.error


def test_after_a_crash_a_running_migration_is_adopted_not_started_again(
        nova_lab: Any, conn: Any, facts: Any, tmp_path: Path) -> None:
    fleet = fleet_from_cloud(read_cloud(conn), facts).fleet
    journal = tmp_path / "crash.jsonl"
    nova.set_knob(nova_lab.workdir, "lm_seconds", "6")
    nova.set_knob(nova_lab.workdir, "lm_stall", None)
    nova.set_knob(nova_lab.workdir, "lm_fail", None)
    first = NovaCloud(conn, fleet, facts, journal=journal, poll_s=0.5)
    vm = "vm-04"
    _, dest = other_host(first, vm)
    uuid = fleet.vm_by_name[vm].uuid
    before = len(migrations_of(conn, uuid))
    first.migrate("j-crash", vm, dest, MigrationOptions())
    first.close()  # the process dies here; Nova goes on
    second = NovaCloud(conn, fleet, facts, journal=journal, poll_s=0.5)
    try:
        assert [j.job for j in second.jobs()] == ["j-crash"]
        second.migrate("j-crash", vm, dest, MigrationOptions())  # the executor retries
        final, _ = follow(second, "j-crash")
    finally:
        second.close()
    assert final.phase is JobPhase.COMPLETED, final
    assert len(migrations_of(conn, uuid)) == before + 1  # one migration for this job, not two


def test_reinstall_refuses_a_host_that_nova_says_holds_servers(cloud: NovaCloud) -> None:
    host = next(h.name for h in cloud.hosts() if h.vms)
    with pytest.raises(SafetyError, match="refusing to reinstall"):
        cloud.reinstall("j-unsafe", host, "CPv2")


def test_reinstall_of_an_empty_host_runs_the_hook_and_nova_shows_the_profile(
        cloud: NovaCloud) -> None:
    host = "compute3"
    for vm in cloud.host(host).vms:
        siblings = {"vm-01", "vm-02"} - {vm}
        dest = next(h for h in ("compute1", "compute2")
                    if vm not in siblings | {"vm-01", "vm-02"}
                    or not siblings & set(cloud.host(h).vms))
        job = f"j-empty-{vm}"
        cloud.migrate(job, vm, dest, MigrationOptions())
        assert follow(cloud, job)[0].phase is JobPhase.COMPLETED
    assert cloud.host(host).vms == ()
    cloud.reinstall("j-reinstall", host, "CPv2")
    final, _ = follow(cloud, "j-reinstall")
    assert final.phase is JobPhase.COMPLETED, final
    assert cloud.host_profile(host) == "CPv2"
