"""Discovery: the fleet as the hosts' daemons describe it now.

Each host of an inventory (its ``libvirt_uri``) is asked for its CPU (libvirt's migratable
host-model from ``getDomainCapabilities``: model, vendor, features, disabled features; see
:mod:`hvroll.virt.discovery`), its QEMU and libvirt versions (``getVersion``,
``getLibVersion``), its size, and its domains: CPU definition, memory, vCPUs, disks,
balloon, config drive, PCI passthrough, power state. Hosts and per-domain basics are read,
and one copy of each domain chosen, by :mod:`hvroll.virt.discovery` (as the testbed's
inventory does).

What libvirt cannot tell (regions, clusters, profiles, allocation ratios, tenants, server
groups, guest OS, migration history) is kept from the inventory given; a domain the inventory
does not list becomes a VM with an ``other`` guest OS.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hvroll.domain import (
    ConfigDrive,
    CpuGeneration,
    Devices,
    Disk,
    Fleet,
    GuestCpu,
    GuestOs,
    GuestOsFamily,
    Passthrough,
    Vm,
)
from hvroll.drivers.libvirt.links import HostLink
from hvroll.virt import domxml
from hvroll.virt.discovery import HostFacts, ask_domains, ask_host, one_per_name
from hvroll.virt.domxml import DomainFacts

GIB = 1024 ** 3
_GPU_CLASS_PREFIX = "0x03"
"""PCI class 03: display controllers (GPUs); other passed-through devices count as FPGAs."""


@dataclass(frozen=True, slots=True)
class DomainReport:
    facts: DomainFacts
    cpu: domxml.CpuInfo
    disks: tuple[Disk, ...]
    config_drive: ConfigDrive
    passthrough: tuple[Passthrough, ...]


def describe_domains(lv: Any, conn: Any, host: str,
                     shared_paths: Sequence[Path]) -> list[DomainReport]:
    out = []
    for facts, dom, xml in ask_domains(conn, host):
        found = domxml.disks(xml, shared_paths)
        disks = []
        for d in found:
            if d.device != "disk" or (d.path and Path(d.path).name == "disk.config"):
                continue
            size = 0
            if d.kind.value == "local" and d.path and dom.isActive():
                size = int(dom.blockInfo(d.target or d.path)[0]) // GIB
            disks.append(Disk(kind=d.kind, size_gib=size))
        out.append(DomainReport(facts=facts, cpu=domxml.cpu(xml), disks=tuple(disks),
                                config_drive=domxml.config_drive(found),
                                passthrough=_passthrough(lv, conn, xml)))
    return out


def _passthrough(lv: Any, conn: Any, xml: str) -> tuple[Passthrough, ...]:
    out = []
    for address in domxml.hostdev_addresses(xml):
        kind = Passthrough.FPGA
        try:
            text = conn.nodeDeviceLookupByName(address).XMLDesc(0)
            pci_class = ET.fromstring(text).findtext("./capability/class") or ""
            if pci_class.startswith(_GPU_CLASS_PREFIX):
                kind = Passthrough.GPU
        except lv.libvirtError:
            pass
        out.append(kind)
    return tuple(out)


def merge(fleet: Fleet, hosts: Sequence[HostFacts], domains: Sequence[DomainReport]) -> Fleet:
    """The inventory updated with what the daemons reported (pure)."""
    generations = {g.name: g for g in fleet.generations}
    by_model = {g.model: g for g in fleet.generations}
    reported = {h.name: h for h in hosts}
    new_hosts = []
    for host in fleet.hosts:
        r = reported.get(host.name)
        if r is None:
            new_hosts.append(host)
            continue
        gen = by_model.get(r.cpu_model)
        if gen is None:
            gen = CpuGeneration(name=r.cpu_model, model=r.cpu_model, vendor=r.cpu_vendor,
                                features=r.cpu_features, disabled=r.cpu_disabled)
            generations[gen.name] = gen
            by_model[gen.model] = gen
        new_hosts.append(host.model_copy(update={"generation": gen.name, "vcpus": r.vcpus,
                                                 "ram_mib": r.ram_mib}))
    known = fleet.vm_by_name
    by_copy = {(d.facts.host, d.facts.name): d for d in domains}
    vms = [_vm(by_copy[f.host, f.name], known.get(f.name))
           for f in one_per_name(d.facts for d in domains)]
    fields = {name: getattr(fleet, name) for name in Fleet.model_fields}
    fields.update(generations=tuple(generations.values()), hosts=tuple(new_hosts),
                  vms=tuple(vms))
    return Fleet(**fields)


def _vm(d: DomainReport, old: Vm | None) -> Vm:
    f = d.facts
    devices = Devices(balloon=f.balloon, config_drive=d.config_drive,
                      passthrough=d.passthrough)
    cpu = GuestCpu(mode=d.cpu.mode, model=d.cpu.model, features=d.cpu.features,
                   disabled=d.cpu.disabled)
    update: dict[str, Any] = {"host": f.host, "vcpus": f.vcpus, "ram_mib": f.ram_mib,
                              "power": f.power, "cpu": cpu, "devices": devices,
                              "disks": d.disks}
    if old is not None:
        return old.model_copy(update=update)
    return Vm(name=f.name, uuid=f.uuid, guest=GuestOs(family=GuestOsFamily.OTHER), **update)


def discover(fleet: Fleet, links: dict[str, HostLink], lv: Any,
             shared_paths: Sequence[Path] = ()) -> Fleet:
    """Ask every host's daemon; raises ``ConnectionLostError`` if one does not answer."""
    hosts: list[HostFacts] = []
    domains: list[DomainReport] = []
    for host in fleet.hosts:
        link, name = links[host.name], host.name

        def describe(conn: Any, name: str = name) -> tuple[HostFacts, list[DomainReport]]:
            return ask_host(lv, conn, name), describe_domains(lv, conn, name, shared_paths)

        report, found = link.call("describe the host and its domains", describe)
        hosts.append(report)
        domains += found
    return merge(fleet, hosts, domains)

