"""Reading libvirt's XML: where a VM is, its disks, CPU and devices, host CPUs, domain facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvroll.domain import ConfigDrive, CpuMode, DiskKind, PowerState
from hvroll.virt import domxml
from hvroll.virt.domxml import Seen, domain_facts, host_cpu, placement

RUNNING, PAUSED, SHUTOFF = domxml.RUNNING, domxml.PAUSED, domxml.SHUTOFF


@pytest.mark.parametrize(("copies", "hosts", "power"), [
    ([Seen("h1", "vm", True, RUNNING)], ("h1",), PowerState.RUNNING),
    # mid-migration: the destination's incoming copy is transient and paused
    ([Seen("h1", "vm", True, RUNNING), Seen("h2", "vm", False, PAUSED)], ("h1",),
     PowerState.RUNNING),
    # post-copy: the guest runs on the destination, still transient; the source is paused
    ([Seen("h1", "vm", True, PAUSED), Seen("h2", "vm", False, RUNNING)], ("h1",),
     PowerState.PAUSED),
    ([Seen("h2", "vm", True, RUNNING)], ("h2",), PowerState.RUNNING),
    ([Seen("h1", "vm", False, RUNNING)], ("h1",), PowerState.RUNNING),
    ([Seen("h1", "vm", True, SHUTOFF)], ("h1",), PowerState.SHUTOFF),
    ([Seen("h1", "vm", True, SHUTOFF), Seen("h3", "vm", True, RUNNING)], ("h1", "h3"),
     PowerState.RUNNING),
    ([Seen("h1", "vm", False, SHUTOFF)], (), PowerState.SHUTOFF),
])
def test_a_vm_is_where_its_persistent_definition_is(copies: list[Seen],
                                                    hosts: tuple[str, ...],
                                                    power: PowerState) -> None:
    assert placement(copies) == (hosts, power)


DOMAIN = """\
<domain type='qemu'>
  <name>vm</name>
  <cpu mode='custom' match='exact'><model fallback='forbid'>Broadwell</model>
    <feature policy='require' name='vmx'/><feature policy='disable' name='smap'/></cpu>
  <devices>
    <disk type='file' device='disk'><source file='/srv/shared/vm.qcow2'/>
      <target dev='vda'/></disk>
    <disk type='file' device='disk'><source file='/var/lib/nova/instances/vm/disk.eph0'/>
      <target dev='vdb'/></disk>
    <disk type='network' device='disk'><source protocol='rbd' name='pool/vol'/>
      <target dev='vdc'/></disk>
    <disk type='block' device='disk'><source dev='/dev/sdx'/><target dev='vdd'/></disk>
    <disk type='file' device='cdrom'><source file='/var/lib/nova/instances/vm/disk.config'/>
      <target dev='sda'/><readonly/></disk>
    <interface type='ethernet'><mac address='52:54:00:aa:bb:cc'/><target dev='vnet3'/>
    </interface>
    <hostdev mode='subsystem' type='pci'><source>
      <address domain='0x0000' bus='0x3b' slot='0x00' function='0x1'/></source></hostdev>
  </devices>
</domain>
"""


def test_disks_are_local_shared_or_volumes() -> None:
    found = domxml.disks(DOMAIN, [Path("/srv/shared")])
    assert [(d.target, d.kind) for d in found] == [
        ("vda", DiskKind.SHARED), ("vdb", DiskKind.LOCAL), ("vdc", DiskKind.SHARED),
        ("vdd", DiskKind.VOLUME), ("sda", DiskKind.LOCAL)]
    assert found[-1].readonly
    assert domxml.config_drive(found) is ConfigDrive.ISO9660


@pytest.mark.parametrize(("shared", "expected"), [
    ([Path("/srv/shared")], False),  # a local disk too: never unsafe
    ([Path("/srv/shared"), Path("/var/lib/nova/instances")], True),
    ([], False),
])
def test_unsafe_only_when_every_file_disk_is_on_declared_shared_storage(
        shared: list[Path], expected: bool) -> None:
    assert domxml.needs_unsafe(DOMAIN, shared) is expected


def test_a_domain_without_disks_needs_no_unsafe_flag() -> None:
    assert not domxml.needs_unsafe("<domain><devices/></domain>", [Path("/")])


def test_cpu_definition() -> None:
    assert domxml.cpu(DOMAIN) == domxml.CpuInfo(CpuMode.CUSTOM, "Broadwell", ("vmx",),
                                                ("smap",))
    assert domxml.cpu("<domain/>") == domxml.CpuInfo(CpuMode.CUSTOM, "qemu64", (), ())
    assert domxml.cpu("<domain><cpu mode='host-model'/></domain>").mode is CpuMode.HOST_MODEL


def test_devices_passed_through_and_interfaces() -> None:
    assert domxml.hostdev_addresses(DOMAIN) == ["pci_0000_3b_00_1"]
    assert domxml.interfaces(DOMAIN) == [("52:54:00:aa:bb:cc", "vnet3", "ethernet")]


CAPS = """<capabilities><host><uuid>u</uuid><cpu><arch>x86_64</arch><model>Broadwell</model>
<vendor>Intel</vendor><feature name='vmx'/><feature name='abm'/></cpu></host></capabilities>"""

FACTS_DOMAIN = """<domain type='qemu'>
<name>vm1</name><uuid>4BA958EA-5D55-4741-A796-CA5F248F29AD</uuid>
<memory unit='KiB'>262144</memory><vcpu placement='static'>1</vcpu>
<os><cmdline>console=ttyS0 pti=on dirty_mb=16 dirty_rate=8</cmdline></os>
<devices><memballoon model='virtio'/></devices></domain>"""

def test_host_cpu_comes_from_capabilities() -> None:
    assert host_cpu(CAPS) == ("Broadwell", "Intel", ("abm", "vmx"))


def test_host_cpu_without_a_model_falls_back_to_the_tcg_default() -> None:
    assert host_cpu("<capabilities><host/></capabilities>") == ("qemu64", "unknown", ())


def test_domain_facts_read_memory_uuid_and_balloon() -> None:
    facts = domain_facts("hvtb-h1", FACTS_DOMAIN, 1)
    assert (facts.name, facts.uuid, facts.ram_mib, facts.vcpus, facts.power, facts.balloon) == \
        ("vm1", "4ba958ea-5d55-4741-a796-ca5f248f29ad", 256, 1, PowerState.RUNNING, True)
