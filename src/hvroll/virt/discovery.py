"""Asking a libvirtd about its host and its domains, and choosing one copy of each domain.

The driver's discovery (merged into an operator's inventory) and the testbed's inventory (a
fleet of its own) both read hosts with :func:`ask_host` and domains with
:func:`ask_domains`, and keep one copy per name with :func:`one_per_name`.

A host's CPU is read as guests can get it (:func:`ask_host_cpu`): libvirt's ``host-model``
from its domain capabilities (``getDomainCapabilities``, ``virsh domcapabilities``), the
migratable subset of the hardware, for KVM where the host has it, else for TCG (QEMU's
emulation: what the testbed's guests run on). Only a libvirt without domain capabilities
(older than 1.2.19) is read from ``getCapabilities``, whose raw CPU lists features no guest
can migrate with (``invtsc``) or gets (``vmx`` without nested virtualization); compat drops
the non-migratable ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hvroll.domain import PowerState
from hvroll.errors import DriverError
from hvroll.virt.binding import host_versions
from hvroll.virt.domxml import (
    DomainFacts,
    HostCpu,
    domain_facts,
    host_arch,
    host_cpu,
    host_model,
)

VIRT_TYPES = ("kvm", "qemu")
"""Domain types whose host-model is asked, in order: hardware virtualization, else TCG."""


@dataclass(frozen=True, slots=True)
class HostFacts:
    """What one daemon tells about its host."""

    name: str
    cpu_model: str
    cpu_vendor: str
    cpu_features: tuple[str, ...]
    vcpus: int
    ram_mib: int
    qemu_version: str
    libvirt_version: str
    cpu_disabled: tuple[str, ...]
    """Features of ``cpu_model`` the host cannot give a guest."""
    cpu_source: str
    """Where the CPU was read: ``domcapabilities:kvm|qemu`` or ``capabilities``."""


def ask_host_cpu(lv: Any, conn: Any) -> HostCpu:
    """The host's CPU as a guest can get it (see the module's docstring)."""
    caps = conn.getCapabilities()
    arch = host_arch(caps)
    for virt_type in VIRT_TYPES:
        try:
            xml = conn.getDomainCapabilities(None, arch, None, virt_type, 0)
        except lv.libvirtError as exc:
            if exc.get_error_code() in (lv.VIR_ERR_NO_SUPPORT, lv.VIR_ERR_INVALID_ARG,
                                        lv.VIR_ERR_CONFIG_UNSUPPORTED):
                continue  # no such accelerator here, or a libvirt without domcapabilities
            raise
        found = host_model(xml, f"domcapabilities:{virt_type}")
        if found is not None:
            return found
    model, vendor, features = host_cpu(caps)
    return HostCpu(model=model, vendor=vendor, features=features)


def ask_host(lv: Any, conn: Any, name: str) -> HostFacts:
    """The host behind ``conn`` (libvirt errors propagate: the caller translates them)."""
    cpu = ask_host_cpu(lv, conn)
    info = conn.getInfo()
    # getInfo() can undercount memory (NUMA nodes only); ALL_CELLS is /proc/meminfo's
    total_kib = conn.getMemoryStats(lv.VIR_NODE_MEMORY_STATS_ALL_CELLS)["total"]
    qemu, libvirt = host_versions(conn)
    return HostFacts(name=name, cpu_model=cpu.model, cpu_vendor=cpu.vendor,
                     cpu_features=cpu.features, cpu_disabled=cpu.disabled,
                     cpu_source=cpu.source, vcpus=int(info[2]),
                     ram_mib=int(total_kib) // 1024, qemu_version=qemu, libvirt_version=libvirt)


def ask_domains(conn: Any, host: str) -> list[tuple[DomainFacts, Any, str]]:
    """Every domain ``conn`` lists: its facts, the domain object and its XML."""
    out = []
    for dom in conn.listAllDomains():
        xml = dom.XMLDesc(0)
        out.append((domain_facts(host, xml, dom.state()[0]), dom, xml))
    return out


def one_per_name(domains: Iterable[DomainFacts]) -> list[DomainFacts]:
    """One copy of each domain, in first-seen order: the running one where a copy runs (a
    migration that kept its source definition leaves a shut-off copy behind), else the first.

    Two running copies of one guest are a split brain no inventory can describe: raises
    ``DriverError`` naming both hosts.
    """
    chosen: dict[str, DomainFacts] = {}
    for dom in domains:
        old = chosen.get(dom.name)
        if old is None or (old.power is not PowerState.RUNNING
                           and dom.power is PowerState.RUNNING):
            chosen[dom.name] = dom
        elif old.power is PowerState.RUNNING and dom.power is PowerState.RUNNING:
            raise DriverError(
                f"guest {dom.name} runs on both {old.host} and {dom.host}: destroy one copy"
            )
    return list(chosen.values())

