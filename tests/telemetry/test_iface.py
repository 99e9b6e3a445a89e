"""RX/TX of guest interfaces from the guest's point of view, by the reporting libvirt."""

from __future__ import annotations

import pytest
from packaging.version import Version

from hvroll.errors import InputError
from hvroll.telemetry.iface import (
    FIXED_IN,
    InterfaceStats,
    normalize_iface_stats,
    reports_host_view,
)

GUEST_VIEW = InterfaceStats(rx_bytes=900, rx_packets=9, rx_errs=1, rx_drop=2,
                            tx_bytes=100, tx_packets=1, tx_errs=3, tx_drop=4)
"""A guest that downloaded 900 bytes and uploaded 100."""
TAP_VIEW = InterfaceStats(rx_bytes=100, rx_packets=1, rx_errs=3, rx_drop=4,
                          tx_bytes=900, tx_packets=9, tx_errs=1, tx_drop=2)
"""The same traffic as libvirt < 3.9.0 reported it (the host TAP's side)."""


@pytest.mark.parametrize(("version", "reported", "expected"), [
    ("3.8.0", TAP_VIEW, GUEST_VIEW),
    ("3.8.9", TAP_VIEW, GUEST_VIEW),
    ("3.9.0", GUEST_VIEW, GUEST_VIEW),
    ("3.9.1", GUEST_VIEW, GUEST_VIEW),
    ("4.0.0", GUEST_VIEW, GUEST_VIEW),
    ("1.3.1", TAP_VIEW, GUEST_VIEW),
    ("9.0.0", GUEST_VIEW, GUEST_VIEW),
])
def test_normalized_to_the_guest_view_at_the_version_boundary(
        version: str, reported: InterfaceStats, expected: InterfaceStats) -> None:
    assert normalize_iface_stats(reported, version) == expected


@pytest.mark.parametrize(("version", "host_view"), [
    ("3.8.0", True), ("3.8.99", True), ("3.9.0rc1", True), ("3.9.0", False),
    ("3.9.1", False), ("4.0.0", False),
])
def test_versions_before_3_9_0_report_the_host_view(version: str, host_view: bool) -> None:
    assert reports_host_view(version) is host_view
    assert reports_host_view(Version(version)) is host_view


def test_the_boundary_is_libvirt_3_9_0() -> None:
    assert Version("3.9.0") == FIXED_IN


def test_a_sample_migrating_to_an_upgraded_host_keeps_its_direction() -> None:
    """The same guest traffic, reported before (libvirt 3.8) and after (3.9) the VM moved,
    reads the same once normalized: no swap on the dashboard at the migration."""
    before = normalize_iface_stats(TAP_VIEW, "3.8.0")
    after = normalize_iface_stats(GUEST_VIEW, "3.9.0")
    assert before == after == GUEST_VIEW


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
        normalize_iface_stats(GUEST_VIEW, "three")
