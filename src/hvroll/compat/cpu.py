"""Guest CPU compatibility through libvirt's own CPU API and its installed ``cpu_map``.

hvroll never keeps its own copy of cpu_map: model feature lists come from libvirt
(``baselineCPU`` with ``VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES`` on an in-process
``test:///default`` connection, which needs no daemon), and so do the intersections behind
:func:`baseline`. Only the *order* in which libvirt lists missing features (the order of
``x86_features.xml``, i.e. CPUID leaf and bit order, as in ``missing features: vmx,fma,movbe``)
is read from the installed cpu_map file, because no API returns it.

The semantics follow libvirt's ``check='partial'`` comparison of a guest CPU against a host
CPU: the guest is compatible when every feature it requires is one the host provides
(:func:`compare`); a ``host-passthrough`` guest needs an identical CPU (``exact=True``).
Verdicts are cached per (guest CPU, host CPU) pair: a fleet has a handful of distinct CPUs,
so 35,000 VMs × 3,500 hosts cost a few dozen libvirt calls.

Cross-vendor questions are answered, never raised. A guest of one vendor on a host of another
is *incompatible*, with the reason (``guest CPU vendor Intel differs from host CPU vendor
AMD``), as the daemon's ``compareCPU`` answers. A CPU of one vendor named by another vendor's
model (a guest started with ``Westmere`` on an AMD host) is compared by its features, as
``compareCPU`` does; libvirt refuses to *baseline* such a model (``CPU vendor Intel of model
Westmere differs from vendor AMD``), so :func:`exact_xml` renames it with one of its own
vendor's models first.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hvroll.errors import InputError
from hvroll.virt.binding import cpu_api, cpu_api_lock, libvirt_module

CPU_MAP_DIRS = (Path("/usr/share/libvirt/cpu_map"), Path("/usr/local/share/libvirt/cpu_map"))
"""Where libvirt installs cpu_map; only used for the order of feature names in messages."""


def _baseline(xmls: Sequence[str], expand: bool) -> str:
    libvirt = libvirt_module()
    flags = libvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES if expand else 0
    with cpu_api_lock:
        try:
            out: str = cpu_api().baselineCPU(list(xmls), flags)
        except libvirt.libvirtError as exc:
            raise InputError(f"libvirt cannot compute a CPU baseline "
                             f"({exc.get_error_message()})") from None
    return out


def _required(xml: str) -> list[str]:
    return [f.get("name", "") for f in ET.fromstring(xml).iter("feature")
            if f.get("policy", "require") == "require"]


def _cpu_xml(model: str, vendor: str, features: Iterable[str]) -> str:
    vendor_xml = f"<vendor>{vendor}</vendor>" if vendor else ""
    body = "".join(f"<feature name='{f}'/>" for f in sorted(features))
    return f"<cpu><arch>x86_64</arch><model>{model}</model>{vendor_xml}{body}</cpu>"


@cache
def model_features(model: str, vendor: str = "Intel") -> frozenset[str]:
    """Every feature of a cpu_map model, as libvirt expands it."""
    libvirt = libvirt_module()
    xml = _cpu_xml(model, vendor, ())
    with cpu_api_lock:
        try:
            out = cpu_api().baselineCPU(
                [xml], libvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES)
        except libvirt.libvirtError as exc:
            raise InputError(f"CPU model {model!r} is unknown to libvirt's cpu_map "
                             f"({exc.get_error_message()})") from None
    return frozenset(_required(out))


@cache
def vendor_conflict(model: str, vendor: str) -> str:
    """libvirt's reason when cpu_map's ``model`` belongs to another vendor than ``vendor``
    (``CPU vendor Intel of model Westmere differs from vendor AMD``), '' when it does not (the
    model is the vendor's own, or vendor-neutral like ``qemu64``, or no vendor is given).

    libvirt only checks this when it combines CPUs, so the CPU is baselined with itself.
    """
    libvirt = libvirt_module()
    if not vendor:
        return ""
    xml = _cpu_xml(model, vendor, ())
    with cpu_api_lock:
        try:
            cpu_api().baselineCPU([xml, xml], 0)
        except libvirt.libvirtError as exc:
            message = exc.get_error_message() or ""
            if exc.get_error_code() != libvirt.VIR_ERR_OPERATION_FAILED:
                raise InputError(f"CPU model {model!r} is unknown to libvirt's cpu_map "
                                 f"({message})") from None
            return message.removeprefix("operation failed: ")
    return ""


def vendor_reason(guest: CpuDef, host: CpuDef) -> str:
    """Why ``guest`` cannot run on ``host`` because of CPU vendors, '' if they agree."""
    if guest.vendor and host.vendor and guest.vendor != host.vendor:
        return f"guest CPU vendor {guest.vendor} differs from host CPU vendor {host.vendor}"
    return ""


@cache
def model_names() -> tuple[str, ...]:
    """The x86 CPU models libvirt knows, in cpu_map order."""
    libvirt = libvirt_module()
    with cpu_api_lock:
        try:
            names: list[str] = cpu_api().getCPUModelNames("x86_64")
        except libvirt.libvirtError as exc:
            raise InputError(f"libvirt cannot list CPU models "
                             f"({exc.get_error_message()})") from None
    return tuple(names)


@cache
def feature_order() -> dict[str, int]:
    """Position of each x86 feature in the installed cpu_map (CPUID leaf and bit order).

    Empty when no cpu_map file is found; callers then fall back to alphabetical order.
    """
    for directory in CPU_MAP_DIRS:
        for name in ("x86_features.xml", "cpu_map.xml"):
            path = directory / name
            if path.is_file():
                order: dict[str, int] = {}
                for element in ET.parse(path).getroot().iter("feature"):
                    feature = element.get("name")
                    if feature:
                        order.setdefault(feature, len(order))
                return order
    return {}


NON_MIGRATABLE_FALLBACK = frozenset({"invtsc"})
"""Used only when no cpu_map file is installed: libvirt's x86_features.xml marks ``invtsc``
``migratable='no'`` in every release that has it (and ``xsaves`` in some)."""


@cache
def non_migratable() -> frozenset[str]:
    """Features libvirt's cpu_map marks ``migratable='no'``: a host has them, but a guest that
    has them cannot be live-migrated, so libvirt leaves them out of host-model
    (``virsh domcapabilities``) and of a baseline with ``VIR_CONNECT_BASELINE_CPU_MIGRATABLE``.
    hvroll judges and recommends with the migratable subset of a host's CPU only: a host CPU
    read from ``virsh capabilities`` lists e.g. ``invtsc``, which no migratable guest gets."""
    for directory in CPU_MAP_DIRS:
        for name in ("x86_features.xml", "cpu_map.xml"):
            path = directory / name
            if path.is_file():
                return frozenset(f.get("name", "") for f in ET.parse(path).getroot().iter("feature")
                                 if f.get("migratable") == "no") or NON_MIGRATABLE_FALLBACK
    return NON_MIGRATABLE_FALLBACK


def migratable(features: Iterable[str]) -> frozenset[str]:
    """``features`` without those no migratable guest CPU has (:func:`non_migratable`)."""
    return frozenset(features) - non_migratable()


def libvirt_order(features: Iterable[str]) -> tuple[str, ...]:
    """``features`` in the order libvirt reports them (cpu_map order; unknown names last,
    alphabetically; fully alphabetical when the cpu_map file is not installed)."""
    order = feature_order()
    last = len(order)
    return tuple(sorted(features, key=lambda f: (order.get(f, last), f)))


@dataclass(frozen=True, slots=True)
class CpuDef:
    """A CPU as libvirt describes one: a cpu_map model, features required beyond it and model
    features disabled (``<feature policy='require'|'disable'>``)."""

    model: str
    features: frozenset[str] = frozenset()
    disabled: frozenset[str] = frozenset()
    vendor: str = "Intel"

    @classmethod
    def of(cls, model: str, features: Iterable[str] = (), disabled: Iterable[str] = (),
           vendor: str = "Intel") -> CpuDef:
        return cls(model, frozenset(features), frozenset(disabled), vendor)

    def expanded(self) -> frozenset[str]:
        """Every feature this CPU has."""
        return expand(self)

    def xml(self) -> str:
        """The CPU as a ``<cpu>`` element (disabled features with ``policy='disable'``)."""
        vendor = f"<vendor>{self.vendor}</vendor>" if self.vendor else ""
        req = "".join(f"<feature policy='require' name='{f}'/>" for f in sorted(self.features))
        dis = "".join(f"<feature policy='disable' name='{f}'/>" for f in sorted(self.disabled))
        return (f"<cpu mode='custom' match='exact'>"
                f"<model fallback='forbid'>{self.model}</model>{vendor}{req}{dis}</cpu>")

    def label(self) -> str:
        """Short human form: ``Broadwell-noTSX +vme,ss -smap``."""
        parts = [self.model]
        if self.features:
            parts.append("+" + ",".join(libvirt_order(self.features)))
        if self.disabled:
            parts.append("-" + ",".join(libvirt_order(self.disabled)))
        return " ".join(parts)


@cache
def expand(cpu: CpuDef) -> frozenset[str]:
    """Every feature of ``cpu``: its model's (from libvirt) plus required, less disabled."""
    return (model_features(cpu.model, cpu.vendor) | cpu.features) - cpu.disabled


@dataclass(frozen=True, slots=True)
class CpuCheck:
    """Whether a host can provide a guest CPU, and what is missing (libvirt's order), or
    which vendors differ (``vendor_mismatch`` with its ``reason``)."""

    compatible: bool
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    vendor_mismatch: bool = False
    reason: str = ""

    def message(self) -> str:
        """The reason in libvirt's words, e.g. ``missing features: vmx,fma``; '' if none."""
        if self.vendor_mismatch:
            return self.reason or "CPU vendors do not match"
        parts = []
        if self.missing:
            parts.append(f"missing features: {','.join(self.missing)}")
        if self.extra:
            parts.append(f"extra features: {','.join(self.extra)}")
        return "; ".join(parts)


@cache
def compare(guest: CpuDef, host: CpuDef, *, exact: bool = False) -> CpuCheck:
    """Can ``host`` provide exactly the CPU ``guest`` runs with?

    ``exact`` (host-passthrough) also refuses a host with more features. Cached per pair.
    A cross-vendor pair is incompatible with the reason (see :func:`vendor_reason`).
    """
    reason = vendor_reason(guest, host)
    if reason:
        return CpuCheck(False, vendor_mismatch=True, reason=reason)
    want, have = guest.expanded(), host.expanded()
    missing = libvirt_order(want - have)
    extra = libvirt_order(have - want) if exact else ()
    return CpuCheck(not missing and not extra, missing, extra)


@cache
def exact_xml(cpu: CpuDef) -> str:
    """``cpu`` as host CPU XML without disabled features (which ``baselineCPU`` ignores): its
    own model when nothing of the model is disabled and the model is of the CPU's vendor (or
    vendor-neutral), else the libvirt model of that vendor with the most features inside the
    CPU's expanded set, plus the remaining features. Either way libvirt expands it to exactly
    ``cpu.expanded()``."""
    if not cpu.disabled and not vendor_conflict(cpu.model, cpu.vendor):
        return _cpu_xml(cpu.model, cpu.vendor, cpu.features)
    have = cpu.expanded()
    best, best_size = cpu.model, -1
    for name in model_names():
        try:
            if vendor_conflict(name, cpu.vendor):
                continue  # a model of another vendor
            feats = model_features(name, cpu.vendor)
        except InputError:
            continue  # a model this libvirt cannot expand
        if feats <= have and len(feats) > best_size:
            best, best_size = name, len(feats)
    if best_size < 0:
        raise InputError(f"no libvirt CPU model fits inside {cpu.label()} (expected at least "
                         f"one model whose features it all has)")
    return _cpu_xml(best, cpu.vendor, have - model_features(best, cpu.vendor))


def libvirt_compatible(guest: CpuDef, host: CpuDef) -> bool:
    """libvirt's own answer for a host-model/custom guest, via ``baselineCPU``: the guest fits
    when the baseline of {host, guest} is the guest itself (their intersection is the guest).

    Used to cross-check :func:`compare` where ``compareCPU`` is not available (the in-process
    test driver has only ``baselineCPU``). A cross-vendor pair is incompatible.
    """
    if vendor_reason(guest, host) or guest.vendor != host.vendor:
        return False
    common = _baseline([exact_xml(host), exact_xml(guest)], expand=True)
    return frozenset(_required(common)) == guest.expanded()


def baseline(cpus: Sequence[CpuDef]) -> CpuDef:
    """The best CPU every one of ``cpus`` can provide, as libvirt's ``baselineCPU`` names it:
    the model for new VMs of a mixed set of hosts; never with a non-migratable feature (as
    ``VIR_CONNECT_BASELINE_CPU_MIGRATABLE`` would: a pinned model with ``invtsc`` could not
    live-migrate)."""
    if not cpus:
        raise InputError("a CPU baseline needs at least one CPU (expected host CPUs, got none)")
    vendors = {c.vendor for c in cpus}
    if len(vendors) > 1:
        raise InputError(f"a CPU baseline needs one vendor (expected one, got "
                         f"{', '.join(sorted(vendors))})")
    out = ET.fromstring(_baseline([exact_xml(c) for c in cpus], expand=False))
    model = out.findtext("model", default="")
    return CpuDef.of(model, migratable(_required(ET.tostring(out, encoding="unicode"))), (),
                     next(iter(vendors)))
