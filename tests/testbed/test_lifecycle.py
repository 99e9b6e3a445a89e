"""Bringing testbed hosts up, finding them in the inventory, restarting one (real libvirtd)."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hvroll import testbed as tb
from hvroll.compat.cpu import CpuDef, compare
from hvroll.compat.exposure import visible_cpu
from hvroll.errors import SafetyError
from hvroll.inventory import load_fleet, save_fleet
from hvroll.virt.binding import version_string
from hvroll.virt.domxml import host_model

from .conftest import N_HOSTS, Session

pytestmark = pytest.mark.libvirt
libvirt = pytest.importorskip("libvirt")


def test_each_host_daemon_answers_with_its_own_hostname_and_host_uuid(
        testbed: tb.Testbed) -> None:
    seen = []
    for host in testbed.hosts:
        conn = libvirt.open(host.uri)
        try:
            caps_uuid = ET.fromstring(conn.getCapabilities()).findtext("./host/uuid")
            seen.append((conn.getHostname(), caps_uuid))
        finally:
            conn.close()
    assert seen == [(h.name, h.host_uuid) for h in testbed.hosts]
    assert len({name for name, _ in seen}) == N_HOSTS
    assert len({uuid for _, uuid in seen}) == N_HOSTS


def test_hosts_reach_each_other_over_the_testbed_bridge(testbed: tb.Testbed) -> None:
    """From inside h1's network namespace, h2's daemon answers on its TCP address."""
    h1, h2 = testbed.host("h1"), testbed.host("h2")
    out = subprocess.run(
        ["nsenter", f"--net=/run/netns/{h1.netns}", "virsh", "-c", h2.tcp_uri, "hostname"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.strip()
    assert out == h2.name


def test_up_again_keeps_the_running_daemons(session: Session, testbed: tb.Testbed) -> None:
    again = session.up()
    assert [(h.name, h.pid) for h in again.hosts] == [(h.name, h.pid) for h in testbed.hosts]
    assert again.image == testbed.image
    assert tb.status(session.workdir).healthy


def test_inventory_lists_the_created_hosts_with_their_daemons_versions(
        testbed: tb.Testbed) -> None:
    fleet = tb.build_inventory(testbed.workdir)
    assert [(h.name, h.libvirt_uri, h.cluster) for h in fleet.hosts] == \
        [(h.name, h.uri, "testbed-1") for h in testbed.hosts]
    assert [(p.name, p.rank) for p in fleet.profiles] == [("CPv1", 1), ("CPv2", 2)]
    conn = libvirt.open(testbed.hosts[0].uri)
    try:
        qemu = version_string(conn.getVersion())
        tcg = host_model(conn.getDomainCapabilities(None, "x86_64", None, "qemu", 0))
    finally:
        conn.close()
    assert {p.qemu_version for p in fleet.profiles} == {qemu}
    assert tcg is not None
    assert {h.generation for h in fleet.hosts} == {tcg.model}
    assert {h.profile for h in fleet.hosts} == {h.profile.profile for h in testbed.hosts}
    mem_total_kib = int(Path("/proc/meminfo").read_text().split()[1])
    assert {h.ram_mib for h in fleet.hosts} == {mem_total_kib // 1024}


def test_a_hosts_cpu_is_what_its_tcg_guests_can_get(testbed: tb.Testbed) -> None:
    """Hosts without KVM are read from TCG's host-model: no raw host feature a guest cannot
    migrate with, and the canaries' kvm64 fits, on Intel and AMD machines alike."""
    hosts, _ = tb.inventory.discover(testbed.workdir)
    assert {h.cpu_source for h in hosts} == {"domcapabilities:qemu"}
    [generation] = tb.build_inventory(testbed.workdir).generations
    assert not {"invtsc", "xsaves"} & set(generation.features)
    cpu = visible_cpu(generation, tb.build_inventory(testbed.workdir).profiles[0])
    assert compare(CpuDef.of(tb.DEFAULT_GUEST_CPU, vendor=generation.vendor), cpu).compatible


def test_inventory_file_round_trips(testbed: tb.Testbed, tmp_path: Path) -> None:
    path = tmp_path / "testbed.yaml"
    fleet = tb.build_inventory(testbed.workdir)
    save_fleet(fleet, path)
    assert load_fleet(path) == fleet


def test_restart_is_refused_while_the_host_runs_a_guest(testbed: tb.Testbed) -> None:
    host = testbed.host("h3")
    guest = tb.define_guest(host.uri, "restart-blocker", ram_mib=128)
    try:
        with pytest.raises(SafetyError, match="restart-blocker"):
            tb.restart_host(testbed.workdir, host.name)
    finally:
        _remove(host.uri, guest.name)
    assert tb.status(testbed.workdir).hosts[2].answering


def test_reinstalled_host_reports_its_new_profile_after_restart(testbed: tb.Testbed) -> None:
    host = testbed.host("h3")
    tb.write_profile(testbed.workdir, host.short_name, "CPv2")
    try:
        restarted = tb.restart_host(testbed.workdir, host.short_name)
        assert restarted.pid != host.pid
        assert tb.read_profile(testbed.workdir, "h3").profile == "CPv2"
        fleet = tb.build_inventory(testbed.workdir)
        assert fleet.host_by_name[host.name].profile == "CPv2"
        assert restarted.profile.qemu_version == host.profile.qemu_version
    finally:
        tb.write_profile(testbed.workdir, host.short_name, "CPv1")


def _remove(uri: str, name: str) -> None:
    conn = libvirt.open(uri)
    try:
        dom = conn.lookupByName(name)
        if dom.isActive():
            dom.destroy()
        dom.undefine()
    finally:
        conn.close()
