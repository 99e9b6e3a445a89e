"""RX/TX of guest interfaces from the guest's point of view, by the reporting libvirt."""

from __future__ import annotations

import pytest
from packaging.version import Version

from hvroll.errors import InputError
from hvroll.virt.iface import (
    FIXED_IN,
    InterfaceStats,
    normalize_iface_stats,
    reports_swapped,
)

GUEST_VIEW = InterfaceStats(rx_bytes=900, rx_packets=9, rx_errs=1, rx_drop=2,
                            tx_bytes=100, tx_packets=1, tx_errs=3, tx_drop=4)
"""A guest that downloaded 900 bytes and uploaded 100."""
TAP_VIEW = InterfaceStats(rx_bytes=100, rx_packets=1, rx_errs=3, rx_drop=4,
                          tx_bytes=900, tx_packets=9, tx_errs=1, tx_drop=2)
"""The same traffic the other way round (the host TAP's side)."""


@pytest.mark.parametrize(("version", "iface_type", "reported", "expected"), [
    # type='ethernet' (seed 000's case): guest view before 3.9.0, host TAP view from 3.9.0
    ("3.2.0", "ethernet", GUEST_VIEW, GUEST_VIEW),
    ("3.2.0-14.el7_4.9", "ethernet", GUEST_VIEW, GUEST_VIEW),
    ("3.8.9", "ethernet", GUEST_VIEW, GUEST_VIEW),
    ("3.9.0", "ethernet", TAP_VIEW, GUEST_VIEW),
    ("4.0.0", "ethernet", TAP_VIEW, GUEST_VIEW),
    ("9.0.0", "ethernet", TAP_VIEW, GUEST_VIEW),
    # bridge and network: libvirt swaps the TAP's counters on both sides of 3.9.0
    ("1.2.2", "bridge", GUEST_VIEW, GUEST_VIEW),
    ("3.2.0", "bridge", GUEST_VIEW, GUEST_VIEW),
    ("4.0.0", "bridge", GUEST_VIEW, GUEST_VIEW),
    ("3.8.0", "network", GUEST_VIEW, GUEST_VIEW),
    ("4.0.0", "network", GUEST_VIEW, GUEST_VIEW),
    # direct (macvtap): swapped the wrong way before 3.9.0, guest view since
    ("3.8.0", "direct", TAP_VIEW, GUEST_VIEW),
    ("3.9.0", "direct", GUEST_VIEW, GUEST_VIEW),
])
def test_normalized_to_the_guest_view_by_version_and_interface_type(
        version: str, iface_type: str, reported: InterfaceStats,
        expected: InterfaceStats) -> None:
    assert normalize_iface_stats(reported, version, iface_type) == expected


def test_the_issue_example_keeps_its_direction_on_libvirt_3_2_0() -> None:
    """rx=900, tx=100 from libvirt 3.2.0 is already the guest's view for every TAP type."""
    for kind in ("bridge", "network", "ethernet"):
        assert normalize_iface_stats(GUEST_VIEW, "3.2.0", kind) == GUEST_VIEW


@pytest.mark.parametrize(("version", "iface_type", "swapped"), [
    ("3.8.99", "ethernet", False), ("3.9.0rc1", "ethernet", False), ("3.9.0", "ethernet", True),
    ("3.9.1", "ethernet", True), ("3.8.99", "direct", True), ("3.9.0", "direct", False),
    ("3.8.99", "bridge", False), ("3.9.0", "bridge", False),
])
def test_the_boundary_is_libvirt_3_9_0(version: str, iface_type: str, swapped: bool) -> None:
    assert reports_swapped(version, iface_type) is swapped
    assert reports_swapped(Version(version), iface_type) is swapped
    assert Version("3.9.0") == FIXED_IN


def test_an_ethernet_sample_migrating_to_an_upgraded_host_keeps_its_direction() -> None:
    """The same guest traffic, reported before (libvirt 3.2, CPv1) and after (4.0, CPv2) the VM
    moved, reads the same once normalized: no swap on the dashboard at the migration."""
    before = normalize_iface_stats(GUEST_VIEW, "3.2.0", "ethernet")
    after = normalize_iface_stats(TAP_VIEW, "4.0.0", "ethernet")
    assert before == after == GUEST_VIEW


def test_an_interface_type_without_a_known_direction_is_an_input_error() -> None:
    with pytest.raises(InputError, match="interface type 'vhostuser' has no known RX/TX"):
        normalize_iface_stats(GUEST_VIEW, "4.0.0", "vhostuser")


def test_swapping_twice_is_the_identity() -> None:
    assert GUEST_VIEW.swapped().swapped() == GUEST_VIEW


def test_from_libvirt_tuple_in_virdomaininterfacestats_order() -> None:
    stats = InterfaceStats.from_libvirt((100, 1, 3, 4, 900, 9, 1, 2))
    assert stats == TAP_VIEW


def test_from_a_domifstat_mapping() -> None:
    assert InterfaceStats.from_libvirt({"rx_bytes": 5, "tx_bytes": 7}) == InterfaceStats(
        rx_bytes=5, tx_bytes=7)


@pytest.mark.parametrize("values", [(1, 2, 3), {"rx_bytes": 1, "rx_octets": 2}])
def test_malformed_counters_are_an_input_error(values: object) -> None:
    with pytest.raises(InputError, match="interface statistics"):
        InterfaceStats.from_libvirt(values)  # type: ignore[arg-type]


def test_a_version_that_is_not_one_is_an_input_error() -> None:
    with pytest.raises(InputError, match="'three' is not a version number"):
        normalize_iface_stats(GUEST_VIEW, "three", "ethernet")
