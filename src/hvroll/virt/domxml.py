"""What hvroll reads from libvirt's XML (domains, host capabilities) and its domain states:
pure functions, shared by the driver, discovery and the testbed.

Disks are classified as the planner needs them:

* ``type='file'`` under a directory the operator declared shared (``shared_paths``) → ``shared``;
  any other file → ``local`` (it needs block migration, and a shared-storage migration of it
  would leave the destination without its disk);
* ``type='network'`` (RBD, iSCSI, NFS, …) → ``shared``;
* ``type='block'`` or ``type='volume'`` → ``volume`` (an attached volume, as Cinder's are).

A config drive is Nova's ``disk.config``: ``iso9660`` on a CD-ROM, ``vfat`` on a disk.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from hvroll.domain import ConfigDrive, CpuMode, DiskKind, PowerState

# virDomainState values (stable ABI)
NOSTATE, RUNNING, BLOCKED, PAUSED, SHUTDOWN, SHUTOFF, CRASHED, PMSUSPENDED = range(8)
_POWER = {RUNNING: PowerState.RUNNING, BLOCKED: PowerState.RUNNING,
          SHUTDOWN: PowerState.RUNNING, PAUSED: PowerState.PAUSED,
          PMSUSPENDED: PowerState.PAUSED, CRASHED: PowerState.CRASHED}
"""``virDomainState`` → power; anything else (no state, shut off) is ``shutoff``. A domain
being shut down still runs."""
_POWER_RANK = {PowerState.RUNNING: 3, PowerState.PAUSED: 2, PowerState.CRASHED: 1,
               PowerState.SHUTOFF: 0}


def power_of(state: int) -> PowerState:
    """A ``virDomainState`` as hvroll's power state."""
    return _POWER.get(state, PowerState.SHUTOFF)


DEFAULT_CPU_MODEL = "qemu64"
"""QEMU's x86 CPU for a domain without ``<cpu>`` (TCG's default); also the host model named
when capabilities name none."""


@dataclass(frozen=True, slots=True)
class HostCpu:
    """A host's CPU as a guest can get it: a cpu_map model, features required beyond it and
    model features disabled, with where the description came from."""

    model: str
    vendor: str
    features: tuple[str, ...]
    disabled: tuple[str, ...] = ()
    source: str = "capabilities"
    """``domcapabilities:kvm`` / ``domcapabilities:qemu`` (libvirt's host-model: the
    migratable subset) or ``capabilities`` (the raw host CPU, fallback only)."""


def host_cpu(capabilities_xml: str) -> tuple[str, str, tuple[str, ...]]:
    """(model, vendor, features) of ``<host><cpu>`` in a capabilities document: the raw host
    CPU (every CPUID bit, ``invtsc`` and ``vmx`` included, whatever guests may get)."""
    cpu = ET.fromstring(capabilities_xml).find("./host/cpu")
    if cpu is None:
        return DEFAULT_CPU_MODEL, "unknown", ()
    model = (cpu.findtext("model") or "").strip() or DEFAULT_CPU_MODEL
    vendor = (cpu.findtext("vendor") or "").strip() or "unknown"
    features = tuple(sorted(f.get("name", "") for f in cpu.findall("feature") if f.get("name")))
    return model, vendor, features


def host_arch(capabilities_xml: str) -> str:
    """The host's architecture from a capabilities document (``x86_64`` when it names none)."""
    root = ET.fromstring(capabilities_xml)
    return (root.findtext("./host/cpu/arch") or "").strip() or "x86_64"


def host_model(domcapabilities_xml: str, source: str = "domcapabilities") -> HostCpu | None:
    """The ``host-model`` CPU of a domain capabilities document (``virsh domcapabilities``),
    None when libvirt does not support host-model there or names no model.

    This is what a ``host-model`` guest started on the host gets: libvirt builds it from the
    features the hypervisor can give a guest *and migrate*, so it leaves out what cpu_map marks
    ``migratable='no'`` (``invtsc``) and what the hypervisor cannot virtualize (``vmx`` unless
    nested virtualization is on) — unlike the raw CPU of ``virsh capabilities``.
    """
    mode = ET.fromstring(domcapabilities_xml).find("./cpu/mode[@name='host-model']")
    if mode is None or mode.get("supported") != "yes":
        return None
    model = (mode.findtext("model") or "").strip()
    if not model:
        return None
    required, disabled = [], []
    for f in mode.findall("feature"):
        name = f.get("name")
        if not name:
            continue
        policy = f.get("policy", "require")
        if policy in ("require", "force"):
            required.append(name)
        elif policy in ("disable", "forbid"):
            disabled.append(name)
    return HostCpu(model=model, vendor=(mode.findtext("vendor") or "").strip() or "unknown",
                   features=tuple(sorted(required)), disabled=tuple(sorted(disabled)),
                   source=source)


@dataclass(frozen=True, slots=True)
class DomainFacts:
    """What one daemon tells about one of its domains."""

    host: str
    name: str
    uuid: str
    vcpus: int
    ram_mib: int
    power: PowerState
    cpu_model: str | None
    balloon: bool
    cmdline: str


_MIB_PER_UNIT = {"b": 1 / 1048576, "bytes": 1 / 1048576, "kib": 1 / 1024, "k": 1 / 1024,
                 "mib": 1, "m": 1, "gib": 1024, "g": 1024}


def domain_facts(host: str, xml: str, state: int) -> DomainFacts:
    """The facts an inventory needs from a domain's XML and its ``virDomainState``."""
    root = ET.fromstring(xml)
    memory = root.find("memory")
    unit = (memory.get("unit", "KiB") if memory is not None else "KiB").lower()
    amount = int(memory.text or 0) if memory is not None else 0
    balloon = root.find("./devices/memballoon")
    return DomainFacts(
        host=host,
        name=root.findtext("name") or "",
        uuid=(root.findtext("uuid") or "").lower(),
        vcpus=int(root.findtext("vcpu") or 1),
        ram_mib=max(1, round(amount * _MIB_PER_UNIT.get(unit, 1 / 1024))),
        power=power_of(state),
        cpu_model=(root.findtext("./cpu/model") or "").strip() or None,
        balloon=balloon is not None and balloon.get("model") != "none",
        cmdline=root.findtext("./os/cmdline") or "",
    )


@dataclass(frozen=True, slots=True)
class Seen:
    """One domain as one host's daemon lists it."""

    host: str
    name: str
    persistent: bool
    state: int

    @property
    def active(self) -> bool:
        return self.state not in (NOSTATE, SHUTOFF)


def placement(seen: Sequence[Seen]) -> tuple[tuple[str, ...], PowerState]:
    """The hosts a VM is defined on and its power, from every copy of it the daemons list.

    A VM is on the hosts that hold its persistent definition. A transient copy counts only when
    no host holds one: during a migration with ``PERSIST_DEST`` the destination's incoming
    domain is transient until the migration completes, so the VM stays on its source until
    then, and is on the destination only afterwards.
    """
    owners = [s for s in seen if s.persistent] or [s for s in seen if s.active]
    if not owners:
        return (), PowerState.SHUTOFF
    hosts = tuple(sorted({s.host for s in owners}))
    power = max((power_of(s.state) for s in owners), key=_POWER_RANK.__getitem__)
    return hosts, power


@dataclass(frozen=True, slots=True)
class DiskInfo:
    target: str
    device: str
    """``disk``, ``cdrom``, ``floppy`` or ``lun``."""
    source_type: str
    path: str | None
    kind: DiskKind
    readonly: bool


def disks(xml: str, shared_paths: Sequence[Path] = ()) -> list[DiskInfo]:
    out = []
    for disk in ET.fromstring(xml).findall("./devices/disk"):
        source_type = disk.get("type", "file")
        device = disk.get("device", "disk")
        source = disk.find("source")
        path = None
        if source is not None:
            path = source.get("file") or source.get("dev") or source.get("name")
        if source_type == "network":
            kind = DiskKind.SHARED
        elif source_type in ("block", "volume"):
            kind = DiskKind.VOLUME
        elif path is not None and under(path, shared_paths):
            kind = DiskKind.SHARED
        else:
            kind = DiskKind.LOCAL
        target = disk.find("target")
        out.append(DiskInfo(target=target.get("dev", "") if target is not None else "",
                            device=device, source_type=source_type, path=path, kind=kind,
                            readonly=disk.find("readonly") is not None))
    return out


def under(path: str, directories: Iterable[Path]) -> bool:
    p = PurePath(path)
    return any(p.is_relative_to(d) for d in directories)


def needs_unsafe(xml: str, shared_paths: Sequence[Path]) -> bool:
    """Whether a migration of this domain needs ``VIR_MIGRATE_UNSAFE``: it has file disks and
    every one is on declared shared storage (never for a domain with a local disk)."""
    files = [d for d in disks(xml, shared_paths) if d.source_type == "file" and d.path]
    return bool(files) and all(d.kind is DiskKind.SHARED for d in files)


def config_drive(found: Sequence[DiskInfo]) -> ConfigDrive:
    for d in found:
        if d.path and PurePath(d.path).name == "disk.config":
            return ConfigDrive.ISO9660 if d.device == "cdrom" else ConfigDrive.VFAT
    return ConfigDrive.NONE


@dataclass(frozen=True, slots=True)
class CpuInfo:
    mode: CpuMode
    model: str | None
    features: tuple[str, ...]
    disabled: tuple[str, ...]


def cpu(xml: str) -> CpuInfo:
    """The guest CPU a domain asks for (``<cpu>``); none means QEMU's default, ``qemu64``."""
    node = ET.fromstring(xml).find("cpu")
    if node is None:
        return CpuInfo(CpuMode.CUSTOM, DEFAULT_CPU_MODEL, (), ())
    raw_mode = node.get("mode", "custom")
    mode = {m.value: m for m in CpuMode}.get(raw_mode, CpuMode.CUSTOM)
    model = (node.findtext("model") or "").strip() or None
    if mode is CpuMode.CUSTOM and model is None:
        model = DEFAULT_CPU_MODEL
    features: list[str] = []
    disabled: list[str] = []
    for f in node.findall("feature"):
        name = f.get("name")
        if not name:
            continue
        (disabled if f.get("policy") in ("disable", "forbid") else features).append(name)
    return CpuInfo(mode, model, tuple(sorted(features)), tuple(sorted(disabled)))


def hostdev_addresses(xml: str) -> list[str]:
    """Node device names (``pci_0000_3b_00_0``) of the PCI devices passed through."""
    out = []
    for dev in ET.fromstring(xml).findall("./devices/hostdev[@type='pci']/source/address"):
        parts = [dev.get(k, "0x0") for k in ("domain", "bus", "slot", "function")]
        d, b, s, f = (int(p, 16) for p in parts)
        out.append(f"pci_{d:04x}_{b:02x}_{s:02x}_{f:x}")
    return out


def interfaces(xml: str) -> list[tuple[str, str, str]]:
    """``(mac, target device, type)`` of each interface of a running domain (``type`` as in
    ``<interface type='ethernet'>``)."""
    out = []
    for nic in ET.fromstring(xml).findall("./devices/interface"):
        mac = nic.find("mac")
        target = nic.find("target")
        if mac is not None and target is not None:
            out.append((mac.get("address", ""), target.get("dev", ""), nic.get("type", "")))
    return out
