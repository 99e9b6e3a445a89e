"""The nova driver's ``wait``: a job that ends in the journal while the executor sleeps (a
reinstall hook returning, a call Nova refuses) is reported once more, so the executor learns
how it ended. Nova is a small in-memory fake here; tests/drivers/nova/test_cloud_lab.py runs
the same driver against a real Nova."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from openstack import exceptions as sdk_exc

from hvroll.drivers.base import JobPhase, MigrationOptions
from hvroll.drivers.nova.cloud import READ_RETRIES, NovaCloud
from hvroll.drivers.nova.discovery import RawCloud, RawHost, RawServer, fleet_from_cloud
from hvroll.drivers.nova.facts import parse_facts
from hvroll.errors import ConnectionLostError

FACTS = parse_facts("""
version: 1
profiles:
  - {name: CPv1, os_name: ubuntu, os_version: "22.04", qemu_version: 2.0.0,
     libvirt_version: 1.2.2, rank: 1,
     match: {hypervisor_type: QEMU, hypervisor_version: 2000000}}
  - {name: CPv2, os_name: ubuntu, os_version: "24.04", qemu_version: 2.11.1,
     libvirt_version: 4.0.0, rank: 2,
     match: {hypervisor_type: QEMU, hypervisor_version: 2011001}}
""", "facts.yaml")
UUID = "00000001-0000-4000-8000-000000000001"


def raw_host(name: str) -> RawHost:
    return RawHost(name=name, zone="az1", state="up", status="enabled", disabled_reason=None,
                   hypervisor_type="QEMU", hypervisor_version=2000000,
                   cpu_info={"model": "Broadwell-noTSX", "vendor": "Intel",
                             "features": ["vmx"]},
                   inventories={"VCPU": {"total": 32, "allocation_ratio": 4.0},
                                "MEMORY_MB": {"total": 65536, "allocation_ratio": 1.0},
                                "DISK_GB": {"total": 400, "allocation_ratio": 1.0}})


FLEET = fleet_from_cloud(RawCloud(region="r1", hosts=[raw_host("c1"), raw_host("c2")], servers=[
    RawServer(id=UUID, name="vm-1", host="c1", project_id="p1", status="ACTIVE",
              power_state=1, vcpus=1, ram_mib=512, disk_gib=1, extra_specs={},
              image_properties={}, volumes=(), config_drive=False,
              actions=(("create", "2026-01-01T00:00:00Z"),))]), FACTS).fleet


class FakeCompute:
    """What the driver asks of Nova's compute API in these tests: c1 holds vm-1, c2 nothing;
    a live migration is refused with 409 as Nova refuses a locked server."""

    def get_endpoint_data(self) -> Any:
        return SimpleNamespace(min_microversion=(2, 1), max_microversion=(2, 104))

    def services(self, binary: str, host: str | None = None) -> list[Any]:
        return [SimpleNamespace(host=h, status="enabled", state="up")
                for h in ([host] if host else ["c1", "c2"])]

    def servers(self, **query: Any) -> list[Any]:
        return [self._server()] if query.get("compute_host") in (None, "c1") else []

    def migrations(self, **query: Any) -> list[Any]:
        return []

    def find_server(self, uuid: str, **_: Any) -> Any:
        return self._server()

    def get_server(self, uuid: str) -> Any:
        return self._server()

    def live_migrate_server(self, uuid: str, **_: Any) -> None:
        raise sdk_exc.ConflictException(message="Instance is locked", http_status=409)

    @staticmethod
    def _server() -> Any:
        return SimpleNamespace(id=UUID, name="vm-1", compute_host="c1", power_state=1,
                               status="ACTIVE", task_state=None)


class HookEndsDuringSleep:
    """A clock whose sleep is when the reinstall hook returns (the race of a real run)."""

    def __init__(self, release: threading.Event) -> None:
        self.release, self.t = release, 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        self.release.set()
        for thread in threading.enumerate():
            if thread.name.startswith("reinstall-"):
                thread.join(10.0)


def driver(tmp_path: Path, clock: Any = None, hook: Any = None) -> NovaCloud:
    conn = SimpleNamespace(compute=FakeCompute(), config=SimpleNamespace(name="fake"))
    return NovaCloud(conn, FLEET, FACTS, journal=tmp_path / "nova.jsonl", clock=clock,
                     reinstall_hook=hook)


def test_a_reinstall_that_ends_during_wait_is_reported_by_that_wait(tmp_path: Path) -> None:
    release = threading.Event()
    cloud = driver(tmp_path, HookEndsDuringSleep(release), lambda h, p: release.wait(10.0))
    try:
        cloud.reinstall("r1", "c2", "CPv2")
        assert cloud.job("r1").phase is JobPhase.RUNNING
        assert cloud.wait(1.0) == ["r1"]
        assert cloud.job("r1").phase is JobPhase.COMPLETED
        assert cloud.wait(1.0) == []  # reported once; it is no longer open
    finally:
        cloud.close()


def test_a_migration_nova_refuses_is_reported_by_the_next_wait(tmp_path: Path) -> None:
    clock = SimpleNamespace(now=lambda: 0.0, sleep=lambda s: None)
    cloud = driver(tmp_path, clock)
    try:
        cloud.migrate("m1", "vm-1", "c2", MigrationOptions())
        assert cloud.wait(1.0) == ["m1"]
        progress = cloud.job("m1")
        assert progress.phase is JobPhase.FAILED
        assert "409" in (progress.error or ""), progress.error
        assert cloud.wait(1.0) == []
    finally:
        cloud.close()


class DroppingCompute(FakeCompute):
    """The fake, except that its first ``drops`` requests of each kind fail as a keep-alive
    connection nova-api closed fails them."""

    def __init__(self, drops: int) -> None:
        self.drops = drops
        self.asked: dict[str, int] = {}

    def _drop(self, kind: str) -> None:
        from keystoneauth1 import exceptions as ks_exc

        self.asked[kind] = self.asked.get(kind, 0) + 1
        if self.asked[kind] <= self.drops:
            raise ks_exc.ConnectFailure("Remote end closed connection without response")

    def get_server(self, uuid: str) -> Any:
        self._drop("get_server")
        return super().get_server(uuid)

    def live_migrate_server(self, uuid: str, **kwargs: Any) -> None:
        self._drop("live_migrate_server")
        super().live_migrate_server(uuid, **kwargs)


def test_a_read_whose_connection_nova_drops_is_asked_again_a_write_is_not(
        tmp_path: Path) -> None:
    compute = DroppingCompute(drops=READ_RETRIES)
    conn = SimpleNamespace(compute=compute, config=SimpleNamespace(name="fake"))
    cloud = NovaCloud(conn, FLEET, FACTS, journal=tmp_path / "nova.jsonl",
                      clock=SimpleNamespace(now=lambda: 0.0, sleep=lambda s: None))
    try:
        assert cloud.vm("vm-1").hosts == ("c1",)  # dropped READ_RETRIES times, then read
        assert compute.asked["get_server"] == READ_RETRIES + 1
        cloud.migrate("m1", "vm-1", "c2", MigrationOptions())
        assert compute.asked["live_migrate_server"] == 1  # a write is sent once
        assert "does not answer" in (cloud.job("m1").error or "")
        compute.drops, compute.asked = READ_RETRIES + 1, {}
        with pytest.raises(ConnectionLostError, match="reading server vm-1"):
            cloud.vm("vm-1")
    finally:
        cloud.close()
