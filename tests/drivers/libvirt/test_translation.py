"""Pure translations: options to libvirt flags and parameters, job statistics to hvroll's
units, domain XML and states to what the planner and executor need."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvroll.domain import ConfigDrive, CpuMode, DiskKind, PowerState
from hvroll.drivers.base import JobKind, JobPhase, MigrationOptions
from hvroll.drivers.libvirt import domxml
from hvroll.drivers.libvirt.core import Job
from hvroll.drivers.libvirt.domxml import Seen, placement
from hvroll.drivers.libvirt.stats import (
    Figures,
    figures,
    flag_names,
    has_figures,
    migration_flags,
    migration_params,
)

libvirt = pytest.importorskip("libvirt")

DESTINATION_COMPLETED = {
    "data_processed": 136566477, "data_remaining": 0, "data_total": 269230080,
    "disk_processed": 0, "disk_remaining": 0, "disk_total": 0, "downtime": 59,
    "downtime_net": 56, "memory_bps": 918021812, "memory_constant": 33013,
    "memory_dirty_rate": 0, "memory_iteration": 3, "memory_normal": 33204,
    "memory_normal_bytes": 136003584, "memory_page_size": 4096, "memory_postcopy_requests": 0,
    "memory_processed": 136566477, "memory_remaining": 0, "memory_total": 269230080,
    "operation": 4, "setup_time": 2, "time_elapsed": 651, "time_elapsed_net": 648, "type": 3}
"""A destination's ``jobStats(COMPLETED)`` after a 256 MiB canary's migration (testbed)."""


def test_completed_statistics_in_hvroll_units() -> None:
    f = figures(DESTINATION_COMPLETED)
    assert f == Figures(elapsed_s=0.651, total_mib=269230080 / 2**20,
                        processed_mib=136566477 / 2**20, remaining_mib=0.0, iteration=3,
                        dirty_rate_mib_s=0.0, downtime_ms=59.0, throttle_pct=0,
                        postcopy_requests=0)


def test_running_statistics_give_dirty_rate_expected_downtime_and_throttle() -> None:
    f = figures({"type": 2, "operation": 5, "time_elapsed": 9000, "memory_total": 256 * 2**20,
                 "memory_processed": 300 * 2**20, "memory_remaining": 60 * 2**20,
                 "memory_iteration": 7, "memory_dirty_rate": 8100, "memory_page_size": 4096,
                 "downtime": 2015, "auto_converge_throttle": 40})
    assert (f.elapsed_s, f.processed_mib, f.remaining_mib, f.iteration) == (9.0, 300, 60, 7)
    assert f.dirty_rate_mib_s == pytest.approx(31.640625)
    assert (f.downtime_ms, f.throttle_pct) == (2015.0, 40)


def test_block_migration_counts_disks_too() -> None:
    f = figures({"type": 2, "memory_total": 2**30, "disk_total": 2**31,
                 "memory_processed": 0, "disk_processed": 2**30})
    assert (f.total_mib, f.processed_mib) == (3072.0, 1024.0)


@pytest.mark.parametrize(("stats", "expected"), [
    ({"type": 0}, False),
    ({}, False),
    (DESTINATION_COMPLETED, True),
    ({k: v for k, v in DESTINATION_COMPLETED.items() if k != "type"}, True),  # the event's
])
def test_post_copy_leaves_the_destination_without_statistics(stats: dict[str, int],
                                                              expected: bool) -> None:
    assert has_figures(stats) is expected


@pytest.mark.parametrize(("options", "unsafe", "names"), [
    (MigrationOptions(), False, ["LIVE", "PEER2PEER", "PERSIST_DEST", "UNDEFINE_SOURCE"]),
    (MigrationOptions(auto_converge=True), False,
     ["LIVE", "PEER2PEER", "PERSIST_DEST", "UNDEFINE_SOURCE", "AUTO_CONVERGE"]),
    (MigrationOptions(post_copy=True), True,
     ["LIVE", "PEER2PEER", "PERSIST_DEST", "UNDEFINE_SOURCE", "POSTCOPY", "UNSAFE"]),
    (MigrationOptions(block=True), False,
     ["LIVE", "PEER2PEER", "PERSIST_DEST", "UNDEFINE_SOURCE", "NON_SHARED_DISK"]),
])
def test_flags_follow_the_options(options: MigrationOptions, unsafe: bool,
                                  names: list[str]) -> None:
    flags = migration_flags(libvirt, options, unsafe=unsafe)
    assert flag_names(libvirt, flags) == names
    assert flags == sum(getattr(libvirt, f"VIR_MIGRATE_{n}") for n in names)


@pytest.mark.parametrize(("options", "default", "expected"), [
    (MigrationOptions(), None, {}),
    (MigrationOptions(), 32.0, {libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 32}),
    (MigrationOptions(bandwidth_mib_s=8.4), 32.0, {libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 8}),
    (MigrationOptions(bandwidth_mib_s=0.2), None, {libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 1}),
])
def test_bandwidth_cap_of_the_options_else_the_drivers(options: MigrationOptions,
                                                       default: float | None,
                                                       expected: dict[str, int]) -> None:
    assert migration_params(libvirt, options, default) == expected


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
    assert domxml.interfaces(DOMAIN) == [("52:54:00:aa:bb:cc", "vnet3")]


def _job() -> Job:
    return Job(id="j", kind=JobKind.LIVE_MIGRATION, started_s=100.0, vm="vm", source="h1",
               dest="h2", options=MigrationOptions())


def test_remaining_is_what_the_current_pass_started_with() -> None:
    """QEMU's remaining memory falls to zero within every pass; the ladder compares passes,
    so from the second pass on the job reports the memory its pass started with."""
    job = _job()
    job.live = Figures(total_mib=256, processed_mib=40, remaining_mib=216, iteration=1)
    assert job.progress(101.0).remaining_mib == 216
    job.pass_remaining_mib[4] = 61.5
    job.live = Figures(total_mib=256, processed_mib=300, remaining_mib=20.0, iteration=4,
                       dirty_rate_mib_s=31.0, downtime_ms=2015.0)
    p = job.progress(110.0)
    assert (p.remaining_mib, p.extra["memory_remaining_mib"]) == (61.5, 20.0)
    assert (p.elapsed_s, p.expected_downtime_ms, p.downtime_ms) == (10.0, 2015.0, None)


def test_a_completed_job_reports_libvirts_figures_and_the_last_dirty_rate() -> None:
    job = _job()
    job.dirty_rate_mib_s = 15.9
    job.phase, job.ended_s = JobPhase.COMPLETED, 102.0
    job.final = figures(DESTINATION_COMPLETED)
    p = job.progress(200.0)
    assert p.final and p.phase is JobPhase.COMPLETED
    assert (p.elapsed_s, p.iteration, p.downtime_ms, p.remaining_mib) == (0.651, 3, 59.0, 0.0)
    assert p.dirty_rate_mib_s == 15.9
    assert p.processed_mib == pytest.approx(130.24, abs=0.01)
