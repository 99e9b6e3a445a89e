"""The domain model: immutable records and the fleet's look-ups."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hvroll.domain import Fleet, Host, HostRole


def test_records_are_frozen(tiny: Fleet) -> None:
    with pytest.raises(ValidationError):
        tiny.hosts[0].vcpus = 99  # type: ignore[misc]


def test_capacity_applies_allocation_ratios() -> None:
    host = Host(name="h", cluster="c", generation="g", profile="p", vcpus=56, ram_mib=1024,
                disk_gib=100, cpu_allocation_ratio=4.0, ram_allocation_ratio=1.5)
    assert (host.vcpu_capacity, host.ram_capacity_mib, host.disk_capacity_gib) == (224.0,
                                                                                   1536.0, 100.0)


def test_lookups(tiny: Fleet) -> None:
    assert [vm.name for vm in tiny.vms_by_host["hv1"]] == ["web-1", "legacy-1", "win-1"]
    assert tiny.vms_by_host["hv2"] == ()
    assert tiny.spares("c1") == 1
    assert tiny.region_of(tiny.host_by_name["hv2"]) == "r1"
    assert tiny.profile_of(tiny.host_by_name["hv2"]).kernel_flags == ("nosmap",)
    assert tiny.host_by_name["hv2"].role is HostRole.SPARE


def test_vm_disk_helpers(tiny: Fleet) -> None:
    web, legacy, win = tiny.vms
    assert (web.local_disk_gib, web.has_local_disk, web.has_volume) == (40, True, False)
    assert (legacy.local_disk_gib, legacy.has_local_disk) == (0, False)
    assert (win.has_local_disk, win.has_volume) == (False, True)


def test_summary_counts(tiny: Fleet) -> None:
    summary = tiny.summary()
    assert summary["hosts_by_profile"] == {"CPv1": 1, "CPv2": 1}
    assert summary["vms_by_guest_family"] == {"linux": 2, "windows": 1}
    assert summary["by_region"] == {"r1": {"clusters": 1, "hosts": 2, "vms": 3}}
