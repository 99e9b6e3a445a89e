"""Discovery through the driver matches what the testbed created (real libvirtd)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from drivers.libvirt.bed import GUEST_CPU, Bed
from hvroll.domain import Fleet, PowerState, SchedulingState
from hvroll.drivers.libvirt import LibvirtCloud
from hvroll.testbed.driver import for_testbed
from hvroll.virt.binding import connection

pytestmark = pytest.mark.libvirt
libvirt = pytest.importorskip("libvirt")


@pytest.fixture(scope="module")
def created(bed: Bed) -> Iterator[tuple[Bed, Fleet, LibvirtCloud]]:
    """One running guest on h1 and one defined but shut off on h2."""
    bed.clear()
    bed.profile("h3", "CPv2")
    running = bed.guest("h1", stem="disc", ram_mib=192)
    bed.guest("h2", stem="disc", start=False)
    bed.boot(running, heartbeats=1)
    cloud = for_testbed(bed.fleet())
    yield bed, bed.fleet(), cloud
    cloud.close()
    bed.clear()


def test_hosts_match_the_testbeds_inventory(created: tuple[Bed, Fleet, LibvirtCloud]) -> None:
    bed, testbed_fleet, cloud = created
    found = cloud.discover()
    assert [(h.name, h.generation, h.vcpus, h.ram_mib, h.libvirt_uri) for h in found.hosts] \
        == [(h.name, h.generation, h.vcpus, h.ram_mib, h.libvirt_uri)
            for h in testbed_fleet.hosts]
    assert found.generation_by_name[found.hosts[0].generation] \
        == testbed_fleet.generation_by_name[testbed_fleet.hosts[0].generation]
    assert [bed.hostname(f"h{i}") for i in (1, 2, 3)] == [h.name for h in found.hosts]


def test_versions_come_from_the_daemons(created: tuple[Bed, Fleet, LibvirtCloud]) -> None:
    bed, _, _ = created
    with connection(bed.uri("h1")) as conn:
        qemu, lib = conn.getVersion(), conn.getLibVersion()
    profile = bed.fleet().profile_by_name["CPv1"]
    assert profile.qemu_version == f"{qemu // 1_000_000}.{qemu // 1000 % 1000}.{qemu % 1000}"
    assert profile.libvirt_version == f"{lib // 1_000_000}.{lib // 1000 % 1000}.{lib % 1000}"


def test_domains_match_the_testbeds_inventory(created: tuple[Bed, Fleet, LibvirtCloud]) -> None:
    _, testbed_fleet, cloud = created
    found = cloud.discover()

    def facts(fleet: Fleet) -> list[tuple[object, ...]]:
        return sorted((v.name, v.uuid, v.host, v.vcpus, v.ram_mib, v.power, v.cpu.mode,
                       v.cpu.model, v.devices.balloon, v.disks) for v in fleet.vms)

    assert facts(found) == facts(testbed_fleet)
    assert {(v.ram_mib, v.power, v.cpu.model) for v in found.vms} == {
        (192, PowerState.RUNNING, GUEST_CPU), (256, PowerState.SHUTOFF, GUEST_CPU)}
    # what libvirt cannot tell is kept from the inventory
    assert [v.guest for v in found.vms] == [testbed_fleet.vm_by_name[v.name].guest
                                            for v in found.vms]


def test_live_view_lists_every_domain_where_it_is_defined(
        created: tuple[Bed, Fleet, LibvirtCloud]) -> None:
    bed, testbed_fleet, cloud = created
    by_host = {v.host: v.name for v in testbed_fleet.vms}
    h1, h2, h3 = (bed.hostname(h) for h in ("h1", "h2", "h3"))
    assert [(h.name, h.up, h.vms, h.profile, h.scheduling) for h in cloud.hosts()] == [
        (h1, True, (by_host[h1],), "CPv1", SchedulingState.ENABLED),
        (h2, True, (by_host[h2],), "CPv1", SchedulingState.ENABLED),
        (h3, True, (), "CPv2", SchedulingState.ENABLED)]
    assert [(v.name, v.hosts, v.power) for v in cloud.vms()] == sorted(
        [(by_host[h1], (h1,), PowerState.RUNNING), (by_host[h2], (h2,), PowerState.SHUTOFF)])
    assert cloud.host_profile(h3) == "CPv2"


def test_probe_waits_for_a_heartbeat_of_a_running_guest(
        created: tuple[Bed, Fleet, LibvirtCloud]) -> None:
    bed, testbed_fleet, cloud = created
    h1, h2 = bed.hostname("h1"), bed.hostname("h2")
    running = next(v.name for v in testbed_fleet.vms if v.host == h1)
    off = next(v.name for v in testbed_fleet.vms if v.host == h2)
    assert cloud.probe(running)
    assert not cloud.probe(off)
