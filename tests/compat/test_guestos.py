"""SMAP support derived from the guest OS and kernel through a table with sources; unknown is
unverified, listed by ``check`` and preferred by the canary; an explicit value wins."""

from __future__ import annotations

from typing import Any

import pytest

from hvroll.compat.guestos import smap_fact, smap_table
from hvroll.compat.kinds import VerdictKind
from hvroll.compat.report import check_upgrade
from hvroll.domain import GuestOs
from hvroll.planner.canary import device_classes
from seed000 import CPV2_RHEL, CPV2_UBUNTU, seed000_fleet


def guest(**fields: Any) -> GuestOs:
    return GuestOs.model_validate({"family": "linux", **fields})


@pytest.mark.parametrize(("fields", "value", "verified"), [
    ({"distro": "centos", "version": "5.11"}, False, True),     # Linux 2.6.18
    ({"distro": "rhel", "version": "5.11"}, False, True),
    ({"distro": "ubuntu", "version": "12.04"}, False, True),    # Linux 3.2
    ({"distro": "debian", "version": "7"}, False, True),
    ({"distro": "sles", "version": "11.4"}, False, True),       # Linux 3.0
    ({"distro": "ubuntu", "version": "14.04"}, True, True),     # Linux 3.13
    ({"distro": "ubuntu", "version": "18.04"}, True, True),
    ({"distro": "centos", "version": "7.6"}, True, True),       # Linux 3.10
    ({"distro": "debian", "version": "9"}, True, True),
    ({"distro": "centos", "version": "6.10"}, True, False),     # 2.6.32 + backports: nobody says
    ({"distro": "gentoo", "version": "2.7"}, True, False),
    ({"distro": "centos", "version": ""}, True, False),
    ({"family": "windows", "distro": "windows-server", "version": "2012r2"}, True, False),
    ({"family": "freebsd", "distro": "freebsd", "version": "11.2"}, True, False),
])
def test_smap_support_from_distribution_and_version(fields: dict[str, Any], value: bool,
                                                    verified: bool) -> None:
    fact = smap_fact(guest(**fields))
    assert (fact.value, fact.verified) == (value, verified)


@pytest.mark.parametrize(("fields", "value"), [
    ({"distro": "ubuntu", "version": "12.04", "kernel": "3.13.0-170-generic"}, True),  # HWE
    ({"distro": "centos", "version": "6.10", "kernel": "2.6.32-754.el6"}, False),
    ({"distro": "", "version": "", "kernel": "3.7.0"}, True),
    ({"distro": "", "version": "", "kernel": "3.6.11"}, False),
])
def test_the_guest_kernel_decides_before_the_release(fields: dict[str, Any],
                                                     value: bool) -> None:
    fact = smap_fact(guest(**fields))
    assert (fact.value, fact.verified) == (value, True)
    assert "Linux 3.7" in fact.basis


@pytest.mark.parametrize("explicit", [True, False])
def test_an_explicit_value_wins(explicit: bool) -> None:
    for fields in ({"distro": "centos", "version": "5.11"},
                   {"distro": "centos", "version": "6.10"},
                   {"distro": "ubuntu", "version": "18.04", "kernel": "4.15.0"}):
        fact = smap_fact(guest(smap_support=explicit, **fields))
        assert (fact.value, fact.verified, fact.basis) == (explicit, True,
                                                           "given in the inventory")


def test_every_release_and_kernel_bound_cites_a_source() -> None:
    table = smap_table()
    assert table.kernel_source and all(r.source for r in table.releases)


def test_legacy_guests_known_only_by_distribution_are_blocked_where_smap_appears() -> None:
    """Seed 000: Ubuntu 12.04 on a Broadwell host going from CPv1 (libvirt 1.2.2, no SMAP) to
    CPv2 (SMAP exposed) is blocked with the nosmap fix; CentOS 5.11 on Haswell (no SMAP in
    the hardware) is not."""
    fleet = seed000_fleet()
    report = check_upgrade(fleet, CPV2_UBUNTU)
    by_vm = {r.vm.name: r for r in report.results}
    legacy = by_vm["legacy-u12"].verdict
    assert legacy.kind is VerdictKind.BLOCK
    assert [(r.code, r.action) for r in legacy.blocking] == [
        ("smap-legacy-guest", "host_kernel_flag:nosmap")]
    assert by_vm["legacy-c5"].verdict.kind is not VerdictKind.BLOCK


def test_check_lists_unverified_vms_with_the_fact_and_what_was_assumed() -> None:
    fleet = seed000_fleet()
    report = check_upgrade(fleet, CPV2_UBUNTU, targets={"Broadwell": CPV2_UBUNTU})
    data = report.data()["unverified_vms"]
    names = [d["vm"] for d in data]
    # where the target exposes SMAP at the next boot: Broadwell and Skylake, not Haswell
    assert names == ["win-bu", "c6-bu", "win-br", "c6-br"]
    c6 = next(d for d in data if d["vm"] == "c6-bu")
    assert c6 == {"vm": "c6-bu", "host": "bdw-u2", "generation": "Broadwell",
                  "guest": "centos 6.10", "fact": "smap_support", "assumed": True,
                  "why": c6["why"]}
    assert "centos 6.10" in c6["why"] and "unverified" in c6["why"]
    assert "bsd-1" not in names and "win-migrated" not in names  # Haswell: no SMAP at all


def test_an_explicit_value_removes_a_vm_from_the_unverified_list() -> None:
    fleet = seed000_fleet()
    decided = tuple(v.model_copy(update={"guest": v.guest.model_copy(
        update={"smap_support": True})}) if v.name == "c6-br" else v for v in fleet.vms)
    fleet = fleet.model_copy(update={"vms": decided})
    report = check_upgrade(fleet, CPV2_RHEL)
    assert "c6-br" not in [u.vm.name for u in report.unverified]


def test_the_canary_counts_an_unverified_fact_as_a_combination_to_cover() -> None:
    fleet = seed000_fleet()
    assert "unverified:smap_support" in device_classes(fleet.vm_by_name["c6-bu"])
    assert "unverified:smap_support" not in device_classes(fleet.vm_by_name["app-bu1"])
