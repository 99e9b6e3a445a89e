"""Turning what the daemons report into a Fleet."""

from __future__ import annotations

import pytest

from hvroll.domain import CpuMode, PowerState
from hvroll.errors import DriverError
from hvroll.testbed.inventory import (
    BedHostFacts,
    DomainFacts,
    OsRelease,
    fleet_from_discovery,
    os_release,
)

RELEASE = OsRelease(name="Debian GNU/Linux", version="12")


def _host(n: int, profile: str = "CPv1") -> BedHostFacts:
    return BedHostFacts(name=f"hvtb-h{n}", uri=f"qemu+unix:///system?socket=/tb/hosts/h{n}/s",
                     profile=profile, cpu_model="Broadwell", cpu_vendor="Intel",
                     cpu_features=("abm",), cpu_disabled=(), cpu_source="domcapabilities:qemu",
                     vcpus=2, ram_mib=24000, qemu_version="7.2.22", libvirt_version="9.0.0")


def _dom(host: str, power: PowerState = PowerState.RUNNING) -> DomainFacts:
    return DomainFacts(host=host, name="vm1", uuid="4ba958ea-5d55-4741-a796-ca5f248f29ad",
                       vcpus=1, ram_mib=256, power=power, cpu_model=None, balloon=True,
                       cmdline="dirty_mb=16 dirty_rate=8")


def test_os_release_gives_name_and_version() -> None:
    assert os_release('NAME="Debian GNU/Linux"\nVERSION_ID="12"\n') == RELEASE


def test_fleet_has_one_region_one_cluster_and_both_profiles_ranked() -> None:
    fleet = fleet_from_discovery([_host(1), _host(2, "CPv2")], [_dom("hvtb-h1")], RELEASE)
    assert [r.name for r in fleet.regions] == ["testbed"]
    assert [(c.name, c.region) for c in fleet.clusters] == [("testbed-1", "testbed")]
    assert [(p.name, p.rank, p.qemu_version, p.libvirt_version) for p in fleet.profiles] == \
        [("CPv1", 1, "7.2.22", "9.0.0"), ("CPv2", 2, "7.2.22", "9.0.0")]
    assert [(h.name, h.profile, h.generation) for h in fleet.hosts] == \
        [("hvtb-h1", "CPv1", "Broadwell"), ("hvtb-h2", "CPv2", "Broadwell")]
    assert [g.name for g in fleet.generations] == ["Broadwell"]


def test_canary_vms_are_internal_linux_guests_with_their_dirty_rate() -> None:
    vm = fleet_from_discovery([_host(1)], [_dom("hvtb-h1")], RELEASE).vms[0]
    assert (vm.host, vm.internal, vm.cpu.mode, vm.cpu.model, vm.dirty_rate_mib_s) == \
        ("hvtb-h1", True, CpuMode.CUSTOM, "qemu64", 8.0)


def test_a_guest_defined_twice_is_listed_where_it_runs() -> None:
    fleet = fleet_from_discovery([_host(1), _host(2)],
                                 [_dom("hvtb-h1", PowerState.SHUTOFF), _dom("hvtb-h2")], RELEASE)
    assert [(v.name, v.host) for v in fleet.vms] == [("vm1", "hvtb-h2")]


def test_a_guest_running_twice_is_an_error() -> None:
    with pytest.raises(DriverError, match="runs on both hvtb-h1 and hvtb-h2"):
        fleet_from_discovery([_host(1), _host(2)], [_dom("hvtb-h1"), _dom("hvtb-h2")], RELEASE)
