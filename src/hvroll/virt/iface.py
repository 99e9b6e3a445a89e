"""Interface statistics from the guest's point of view, whatever libvirt reported them.

What ``virDomainInterfaceStats`` (``virsh domifstat``) reports depends on the libvirt version
**and the interface type**, as libvirt's own source shows:

* Before 3.9.0 every tap-based interface was read from the host device's ``/proc/net/dev``
  line with RX and TX swapped (``src/util/virstats.c`` ``virNetInterfaceStats``, libvirt
  commit 478d93ad1f83084bb0277fec07e1ef441a09018f, and after its move
  ``src/util/virnetdevtap.c`` ``virNetDevTapInterfaceStats(ifname, stats)`` at commit
  307a205e25ad7db7c895c42ab2e8f59f3839c058: "bytes TRANSMITTED by dom0 are bytes RECEIVED by
  the domain. That's why the TX/RX fields appear to be swapped here"). For a TAP device
  (types ``bridge``, ``network``, ``ethernet``) that is the guest's view; a ``direct``
  (macvtap) device already counts in the guest's direction, so swapping it reversed it.
* libvirt 3.9.0 (2017-11-02, news: "Fix swapped interface statistics and QoS": "reported
  statistics for some types of interfaces were swapped") made the swap depend on the type:
  the drivers call ``virNetDevTapInterfaceStats(net->ifname, stats,
  !virDomainNetTypeSharesHostView(net))`` (``qemu_driver.c``, ``lxc_driver.c``), and
  ``virDomainNetTypeSharesHostView`` is true for ``direct`` and ``ethernet``. So from 3.9.0
  ``bridge``/``network`` are unchanged (guest view), ``direct`` is now the guest's view, and
  ``ethernet`` — a TAP the host manages itself — is reported as the host TAP sees it: what
  the guest *sends* appears as RX. Red Hat shipped it with its 3.9.0 rebase (RHEL 7.5,
  rhbz#1472263, rhbz#1497410); KubeVirt, whose pods use ``type='ethernet'``, saw its VM
  metrics swapped for that reason (kubevirt/kubevirt#9129).

That ``ethernet`` change is what seed 000's monitoring team saw after CPv1 → CPv2: "the
subject changed from the guest OS's NIC to the host OS's TAP". A fleet in the middle of an
upgrade has both kinds of hosts, so every sample is normalized by the libvirt version of the
host that produced it and the interface type (compatibility rule ``iface-stats-rxtx-swap``,
action ``normalize_iface_stats``):

=========================  ==================  ==================
type                       libvirt < 3.9.0     libvirt >= 3.9.0
=========================  ==================  ==================
``bridge``, ``network``    guest view          guest view
``ethernet``               guest view          host TAP view: swap
``direct`` (macvtap)       reversed: swap      guest view
=========================  ==================  ==================

The counters are those of ``virDomainInterfaceStats``, in its order::

    rx_bytes, rx_packets, rx_errs, rx_drop, tx_bytes, tx_packets, tx_errs, tx_drop

Worked example: a guest with a ``type='ethernet'`` interface downloads 900 bytes and uploads
100. libvirt 3.2.0 reports ``rx_bytes=900, tx_bytes=100`` (already the guest's view:
``normalize_iface_stats(reported, "3.2.0", "ethernet")`` returns it unchanged); libvirt 4.0.0
reports ``rx_bytes=100, tx_bytes=900`` and ``normalize_iface_stats(reported, "4.0.0",
"ethernet")`` gives ``rx_bytes=900, tx_bytes=100``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

from packaging.version import Version

from hvroll.domain.versions import upstream_version
from hvroll.errors import InputError

FIXED_IN = Version("3.9.0")
"""The libvirt release whose statistics depend on the interface type (``SharesHostView``)."""

GUEST_VIEW, SWAP = False, True
SWAP_TO_GUEST_VIEW: dict[str, tuple[bool, bool]] = {
    "bridge": (GUEST_VIEW, GUEST_VIEW),
    "network": (GUEST_VIEW, GUEST_VIEW),
    "ethernet": (GUEST_VIEW, SWAP),
    "direct": (SWAP, GUEST_VIEW),
}
"""Interface type → (swap for libvirt < 3.9.0, swap for libvirt >= 3.9.0) to get the guest's
view; types whose statistics do not come from a host netdev (``vhostuser``, ``user``,
``hostdev``) are not listed."""


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


def reports_swapped(libvirt_version: str | Version, iface_type: str) -> bool:
    """Whether a libvirt of this version reports an interface of this type with RX and TX the
    other way round from the guest's view. ``("4.0.0", "ethernet")`` → True (host TAP view);
    ``("3.2.0", "ethernet")``, ``("3.2.0", "bridge")``, ``("4.0.0", "bridge")`` → False;
    ``("3.8.0", "direct")`` → True."""
    try:
        before, since = SWAP_TO_GUEST_VIEW[iface_type]
    except KeyError:
        raise InputError(f"interface type {iface_type!r} has no known RX/TX direction "
                         f"(expected one of: {', '.join(SWAP_TO_GUEST_VIEW)})") from None
    return since if _version(libvirt_version) >= FIXED_IN else before


def normalize_iface_stats(stats: InterfaceStats, libvirt_version: str | Version,
                          iface_type: str) -> InterfaceStats:
    """``stats`` of an interface of ``iface_type`` (the domain XML's ``<interface type=…>``)
    as reported by a host running ``libvirt_version``, from the guest's point of view."""
    return stats.swapped() if reports_swapped(libvirt_version, iface_type) else stats


def _version(value: str | Version) -> Version:
    if isinstance(value, Version):
        return value
    try:
        return upstream_version(value)
    except ValueError:
        raise InputError(f"libvirt version {value!r} is not a version number "
                         f"(expected e.g. '3.9.0' or '3.2.0-14.el7_4.9')") from None
