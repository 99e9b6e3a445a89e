"""Translating what Nova and placement report into an inventory (pure, on plain records)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hvroll.domain import ConfigDrive, DiskKind, GuestOsFamily, PowerState, SchedulingState
from hvroll.drivers.nova.discovery import (
    RawCloud,
    RawGroup,
    RawHost,
    RawServer,
    check_cluster_by,
    cluster_of,
    fleet_from_cloud,
    guest_of,
    history_of,
)
from hvroll.drivers.nova.facts import parse_facts
from hvroll.errors import InputError

FACTS = parse_facts("""
version: 1
profiles:
  - {name: CPv1, os_name: ubuntu, os_version: "14.04", qemu_version: 2.0.0,
     libvirt_version: 1.2.2, rank: 1,
     match: {hypervisor_type: QEMU, hypervisor_version: 2000000}}
  - {name: CPv2, os_name: ubuntu, os_version: "16.04", qemu_version: 2.11.1,
     libvirt_version: 4.0.0, rank: 2,
     match: {hypervisor_type: QEMU, hypervisor_version: 2011001}}
""", "facts.yaml")
INV = {"VCPU": {"total": 32, "allocation_ratio": 4.0},
       "MEMORY_MB": {"total": 65536, "allocation_ratio": 1.5},
       "DISK_GB": {"total": 400, "allocation_ratio": 1.0}}
CPU = {"model": "Broadwell-noTSX", "vendor": "Intel", "features": ["xsaveopt", "vmx"]}


def host(name: str, version: int = 2000000, **kw: object) -> RawHost:
    base: dict[str, object] = {
        "name": name, "zone": "az1", "state": "up", "status": "enabled",
        "disabled_reason": None, "hypervisor_type": "QEMU", "hypervisor_version": version,
        "cpu_info": CPU, "inventories": INV}
    base.update(kw)
    return RawHost(**base)  # type: ignore[arg-type]


def server(name: str, host_: str | None = "c1", **kw: object) -> RawServer:
    base: dict[str, object] = {
        "id": f"0000000{len(name)}-0000-4000-8000-{name.encode().hex()[:12]:0>12}",
        "name": name, "host": host_, "project_id": "p1", "status": "ACTIVE", "power_state": 1,
        "vcpus": 2, "ram_mib": 1024, "disk_gib": 5, "extra_specs": {},
        "image_properties": {"os_distro": "ubuntu", "os_version": "22.04"},
        "volumes": (), "config_drive": False,
        "actions": (("create", "2026-01-01T00:00:00Z"),)}
    base.update(kw)
    return RawServer(**base)  # type: ignore[arg-type]


def test_hosts_take_capacity_ratios_profile_and_generation_from_the_cloud() -> None:
    found = fleet_from_cloud(RawCloud(region="r1", hosts=[host("c1"), host("c2", 2011001)]),
                             FACTS)
    c1, c2 = found.fleet.hosts
    assert (c1.profile, c2.profile) == ("CPv1", "CPv2")
    assert (c1.vcpus, c1.ram_mib, c1.disk_gib) == (32, 65536, 400)
    assert (c1.cpu_allocation_ratio, c1.ram_allocation_ratio) == (4.0, 1.5)
    assert [g.name for g in found.fleet.generations] == ["Broadwell-noTSX"]
    assert found.fleet.generations[0].features == ("vmx", "xsaveopt")
    assert [p.name for p in found.fleet.profiles] == ["CPv1", "CPv2"]


def test_a_disabled_service_is_a_host_with_scheduling_disabled_and_a_note() -> None:
    found = fleet_from_cloud(RawCloud(region="r1", hosts=[
        host("c1", status="disabled", disabled_reason="hvroll: draining")]), FACTS)
    assert found.fleet.hosts[0].scheduling is SchedulingState.DISABLED
    assert "host c1: disabled (hvroll: draining)" in found.notes


def test_an_unknown_hypervisor_version_is_an_error_not_an_invented_profile() -> None:
    with pytest.raises(InputError, match=r"hypervisor QEMU 7002000 \(hosts c9\) matches no "
                                         r"profile of the host-facts file"):
        fleet_from_cloud(RawCloud(region="r1", hosts=[host("c9", 7002000)]), FACTS)


@pytest.mark.parametrize(("cluster_by", "expected"), [
    ("az", "az1"), ("aggregate", "agg-a"), ("regex:^(rack\\d+)-", "rack12"),
    ("regex:rack\\d+", "rack12"),
])
def test_cluster_of(cluster_by: str, expected: str) -> None:
    h = host("rack12-c1", aggregates=("agg-b", "agg-a"))
    assert cluster_of(h, cluster_by) == expected


def test_cluster_by_is_checked_before_the_cloud_is_read() -> None:
    with pytest.raises(InputError, match="expected aggregate, az or regex:PATTERN"):
        check_cluster_by("rack")
    with pytest.raises(InputError, match="not a regular expression"):
        check_cluster_by("regex:(")


@pytest.mark.parametrize(("props", "family", "distro", "version"), [
    ({"os_type": "windows", "os_distro": "windows", "os_version": "2019"},
     GuestOsFamily.WINDOWS, "windows", "2019"),
    ({"os_distro": "centos", "os_version": "7"}, GuestOsFamily.LINUX, "centos", "7"),
    ({"os_distro": "FreeBSD"}, GuestOsFamily.FREEBSD, "freebsd", ""),
    ({"os_type": "linux"}, GuestOsFamily.LINUX, "", ""),
    ({}, GuestOsFamily.OTHER, "", ""),
    (None, GuestOsFamily.OTHER, "", ""),
])
def test_guest_from_image_properties(props: dict[str, str] | None, family: GuestOsFamily,
                                     distro: str, version: str) -> None:
    g = guest_of(props)
    assert (g.family, g.distro, g.version) == (family, distro, version)


def test_live_migrations_count_since_the_last_power_cycle() -> None:
    h = history_of((("create", "2026-01-01T00:00:00Z"), ("live-migration", "2026-01-02T00:00:00"),
                    ("reboot", "2026-01-03T00:00:00Z"), ("live-migration", "2026-01-04T00:00:00Z"),
                    ("live-migration", "2026-01-05T00:00:00Z")))
    assert h.live_migrations_since_power_cycle == 2
    assert h.last_power_cycle == datetime(2026, 1, 3, tzinfo=UTC)


def test_no_action_known_leaves_the_history_empty() -> None:
    h = history_of(())
    assert (h.live_migrations_since_power_cycle, h.last_power_cycle) == (0, None)


def test_servers_become_vms_with_disks_devices_group_power_and_project() -> None:
    bfv = server("bfv", image_properties=None, volumes=("v1", "v2"), config_drive=True,
                 power_state=4, project_id="p2")
    local = server("local", volumes=("v3",))
    group = RawGroup(id="g" * 36, name="anti", policy="anti-affinity", members=(bfv.id,))
    found = fleet_from_cloud(RawCloud(region="r1", hosts=[host("c1")], servers=[bfv, local],
                                      groups=[group]), FACTS)
    vms = found.fleet.vm_by_name
    assert [d.kind for d in vms["bfv"].disks] == [DiskKind.VOLUME, DiskKind.VOLUME]
    assert [(d.kind, d.size_gib) for d in vms["local"].disks] == [(DiskKind.LOCAL, 5),
                                                                  (DiskKind.VOLUME, 0)]
    assert vms["bfv"].devices.config_drive is ConfigDrive.ISO9660
    assert vms["bfv"].power is PowerState.SHUTOFF
    assert (vms["bfv"].server_group, vms["local"].server_group) == ("anti", None)
    assert vms["bfv"].tenant == "p2"
    assert found.counts == {"hosts": 1, "vms": 2, "skipped_servers": 0, "server_groups": 1,
                            "clusters": 1, "projects": 2}


def test_a_server_on_no_discovered_host_is_left_out_and_said() -> None:
    shelved = server("shelved", host_=None, status="SHELVED_OFFLOADED")
    found = fleet_from_cloud(RawCloud(region="r1", hosts=[host("c1")], servers=[shelved]),
                             FACTS)
    assert found.fleet.vms == ()
    assert any("shelved" in n and "left out" in n for n in found.notes)


def test_duplicate_server_names_get_their_id_prefix() -> None:
    a, b = server("web", id="aaaaaaaa-0000-4000-8000-000000000001"), \
        server("web", id="bbbbbbbb-0000-4000-8000-000000000002")
    found = fleet_from_cloud(RawCloud(region="r1", hosts=[host("c1")], servers=[a, b]), FACTS)
    assert sorted(v.name for v in found.fleet.vms) == ["web-aaaaaaaa", "web-bbbbbbbb"]


TRAIT_FACTS = parse_facts("""
version: 1
profiles:
  - {name: B, os_name: debian, os_version: "12", qemu_version: 7.2.0, libvirt_version: 9.0.0,
     rank: 2, match: {trait: CUSTOM_HOST_OS_DEBIAN12}}
  - {name: A, os_name: debian, os_version: "11", qemu_version: 7.2.0, libvirt_version: 9.0.0,
     rank: 1, match: {hypervisor_type: QEMU, hypervisor_version: 7002000}}
""", "facts.yaml")


def test_a_profile_is_told_by_a_placement_trait_before_the_unchanged_qemu_version() -> None:
    assert TRAIT_FACTS.uses_traits and not FACTS.uses_traits
    cloud = RawCloud(region="r1", hosts=[
        host("c1", 7002000), host("c2", 7002000, traits=("CUSTOM_HOST_OS_DEBIAN12",
                                                         "HW_CPU_X86_SSE2"))])
    found = fleet_from_cloud(cloud, TRAIT_FACTS)
    assert {h.name: h.profile for h in found.fleet.hosts} == {"c1": "A", "c2": "B"}
    assert [p.name for p in found.fleet.profiles] == ["B", "A"]
    with pytest.raises(InputError, match=r"hypervisor QEMU 2000000 \(hosts c3\) matches no"):
        fleet_from_cloud(RawCloud(region="r1", hosts=[host("c3", 2000000)]), TRAIT_FACTS)


def test_host_facts_refuse_a_bad_match() -> None:
    base = ("version: 1\nprofiles:\n- {name: P, os_name: x, os_version: '1', "
            "qemu_version: '1.0', libvirt_version: '1.0', match: {%s}}\n")
    with pytest.raises(InputError, match=r"f.yaml: profiles\[0\] match: unknown keys "
                                         r"\['traits'\]"):
        parse_facts(base % "traits: [CUSTOM_X]", "f.yaml")
    with pytest.raises(InputError, match=r"f.yaml: profiles\[0\] match.trait: a placement "
                                         r"trait .* got 'custom-x'"):
        parse_facts(base % "trait: custom-x", "f.yaml")
    assert parse_facts(base % "trait: CUSTOM_X", "f.yaml").profiles[0].trait == "CUSTOM_X"


def test_host_facts_errors_name_the_file() -> None:
    with pytest.raises(InputError, match=r"f.yaml: a host-facts file starts with 'version: 1'"):
        parse_facts("profiles: []", "f.yaml")
    with pytest.raises(InputError, match=r"f.yaml: profiles\[0\] qemu_version"):
        parse_facts("version: 1\nprofiles:\n- {name: P, os_name: x, os_version: '1', "
                    "qemu_version: banana, libvirt_version: 1.0}\n", "f.yaml")
