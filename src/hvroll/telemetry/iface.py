"""Interface statistics from the guest's point of view, whatever libvirt reported them.

libvirt before 3.9.0 reported the counters of a guest's network interface as its host-side
TAP device sees them: what the guest *sends* arrives as the TAP's RX, what it *receives* leaves
as the TAP's TX. libvirt 3.9.0 (2017-11-02, "Fix swapped interface statistics and QoS")
reports them from the guest NIC's side. A fleet in the middle of an upgrade has both kinds of
hosts, so every sample must be normalized by the libvirt version of the host that produced
it — otherwise RX and TX swap on a dashboard the moment a VM migrates to an upgraded host
(seed 000; the compatibility rule ``iface-stats-rxtx-swap`` names this function as its action
``normalize_iface_stats``).

The counters are those of ``virDomainInterfaceStats`` (``virsh domifstat``), in its order::

    rx_bytes, rx_packets, rx_errs, rx_drop, tx_bytes, tx_packets, tx_errs, tx_drop

Worked example: a guest that downloaded 900 bytes and uploaded 100, on a host with libvirt
3.8.0, is reported as ``rx_bytes=100, tx_bytes=900``;
``normalize_iface_stats(reported, "3.8.0")`` gives ``rx_bytes=900, tx_bytes=100`` — the same
as libvirt 3.9.0 reports as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

from packaging.version import Version

from hvroll.domain.versions import upstream_version
from hvroll.errors import InputError

FIXED_IN = Version("3.9.0")
"""The first libvirt release that reports interface statistics from the guest's side."""


@dataclass(frozen=True, slots=True)
class InterfaceStats:
    """Counters of one guest network interface, in bytes, packets, errors and drops."""

    rx_bytes: int = 0
    rx_packets: int = 0
    rx_errs: int = 0
    rx_drop: int = 0
    tx_bytes: int = 0
    tx_packets: int = 0
    tx_errs: int = 0
    tx_drop: int = 0

    @classmethod
    def from_libvirt(cls, values: Sequence[int] | Mapping[str, int]) -> InterfaceStats:
        """From ``dom.interfaceStats(dev)`` (an 8-tuple in libvirt's order) or a mapping with
        the field names (``virsh domifstat``'s ``rx_bytes`` …; missing keys count 0)."""
        names = [f.name for f in fields(cls)]
        if isinstance(values, Mapping):
            unknown = sorted(set(values) - set(names))
            if unknown:
                raise InputError(f"interface statistics: unknown counters {unknown} "
                                 f"(expected some of: {', '.join(names)})")
            return cls(**{k: int(v) for k, v in values.items()})
        if len(values) != len(names):
            raise InputError(f"interface statistics: expected {len(names)} counters "
                             f"({', '.join(names)}), got {len(values)}")
        return cls(*(int(v) for v in values))

    def swapped(self) -> InterfaceStats:
        """The same counters seen from the other end of the link (RX ↔ TX)."""
        return InterfaceStats(rx_bytes=self.tx_bytes, rx_packets=self.tx_packets,
                              rx_errs=self.tx_errs, rx_drop=self.tx_drop,
                              tx_bytes=self.rx_bytes, tx_packets=self.rx_packets,
                              tx_errs=self.rx_errs, tx_drop=self.rx_drop)


def reports_host_view(libvirt_version: str | Version) -> bool:
    """Whether a libvirt of this version reports interface statistics from the host TAP's
    side (before 3.9.0). ``"3.8.9"`` → True; ``"3.9.0"``, ``"3.9.1"``, ``"4.0.0"`` → False."""
    return _version(libvirt_version) < FIXED_IN


def normalize_iface_stats(stats: InterfaceStats, libvirt_version: str | Version
                          ) -> InterfaceStats:
    """``stats`` as reported by a host running ``libvirt_version``, from the guest's point of
    view: swapped when that libvirt is older than 3.9.0, unchanged otherwise."""
    return stats.swapped() if reports_host_view(libvirt_version) else stats


def _version(value: str | Version) -> Version:
    if isinstance(value, Version):
        return value
    try:
        return upstream_version(value)
    except ValueError:
        raise InputError(f"libvirt version {value!r} is not a version number "
                         f"(expected e.g. '3.9.0' or '3.2.0-14.el7_4.9')") from None
