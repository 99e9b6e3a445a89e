"""Asking a libvirtd about its host and its domains, and choosing one copy of each domain.

The driver's discovery (merged into an operator's inventory) and the testbed's inventory (a
fleet of its own) both read hosts with :func:`ask_host` and domains with
:func:`ask_domains`, and keep one copy per name with :func:`one_per_name`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hvroll.domain import PowerState
from hvroll.errors import DriverError
from hvroll.virt.binding import host_versions
from hvroll.virt.domxml import DomainFacts, domain_facts, host_cpu


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


def ask_host(lv: Any, conn: Any, name: str) -> HostFacts:
    """The host behind ``conn`` (libvirt errors propagate: the caller translates them)."""
    model, vendor, features = host_cpu(conn.getCapabilities())
    info = conn.getInfo()
    # getInfo() can undercount memory (NUMA nodes only); ALL_CELLS is /proc/meminfo's
    total_kib = conn.getMemoryStats(lv.VIR_NODE_MEMORY_STATS_ALL_CELLS)["total"]
    qemu, libvirt = host_versions(conn)
    return HostFacts(name=name, cpu_model=model, cpu_vendor=vendor, cpu_features=features,
                     vcpus=int(info[2]), ram_mib=int(total_kib) // 1024,
                     qemu_version=qemu, libvirt_version=libvirt)


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

