"""The testbed as an inventory: a ``Fleet`` discovered from the running daemons.

Discovery (asking each libvirtd) is kept apart from the translation into domain objects, which is
pure: :func:`fleet_from_discovery` turns plain records into a ``Fleet``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from hvroll.domain import (
    Cluster,
    CpuGeneration,
    CpuMode,
    Devices,
    Fleet,
    GuestCpu,
    GuestOs,
    GuestOsFamily,
    Host,
    HostProfile,
    PowerState,
    Region,
    Vm,
)
from hvroll.errors import DriverError
from hvroll.inventory import save_fleet
from hvroll.testbed.connect import connection, libvirt_module, version_string
from hvroll.testbed.layout import DEFAULT_WORKDIR
from hvroll.testbed.profile import DEFAULT_PROFILE, PROFILE_RANKS, read_marker
from hvroll.testbed.state import load_layout

REGION = "testbed"
CLUSTER = "testbed-1"
TCG_DEFAULT_CPU = "qemu64"
"""The CPU a guest without ``<cpu>`` gets under TCG; also the fallback host model."""

_POWER = {
    1: PowerState.RUNNING,  # VIR_DOMAIN_RUNNING
    2: PowerState.RUNNING,  # VIR_DOMAIN_BLOCKED
    3: PowerState.PAUSED,  # VIR_DOMAIN_PAUSED
    4: PowerState.RUNNING,  # VIR_DOMAIN_SHUTDOWN (shutting down)
    6: PowerState.CRASHED,  # VIR_DOMAIN_CRASHED
    7: PowerState.PAUSED,  # VIR_DOMAIN_PMSUSPENDED
}
"""libvirt's ``virDomainState`` values; anything else (0 no state, 5 shut off) is SHUTOFF."""


@dataclass(frozen=True, slots=True)
class HostFacts:
    """What one daemon told about its host."""

    name: str
    uri: str
    profile: str
    cpu_model: str
    cpu_vendor: str
    cpu_features: tuple[str, ...]
    vcpus: int
    ram_mib: int
    qemu_version: str
    libvirt_version: str


@dataclass(frozen=True, slots=True)
class DomainFacts:
    """What one daemon told about one of its domains."""

    host: str
    name: str
    uuid: str
    vcpus: int
    ram_mib: int
    power: PowerState
    cpu_model: str | None
    balloon: bool
    cmdline: str


@dataclass(frozen=True, slots=True)
class OsRelease:
    name: str
    version: str


def host_cpu(capabilities_xml: str) -> tuple[str, str, tuple[str, ...]]:
    """(model, vendor, features) of ``<host><cpu>`` in a capabilities document."""
    cpu = ET.fromstring(capabilities_xml).find("./host/cpu")
    if cpu is None:
        return TCG_DEFAULT_CPU, "unknown", ()
    model = (cpu.findtext("model") or "").strip() or TCG_DEFAULT_CPU
    vendor = (cpu.findtext("vendor") or "").strip() or "unknown"
    features = tuple(sorted(f.get("name", "") for f in cpu.findall("feature") if f.get("name")))
    return model, vendor, features


def domain_facts(host: str, xml: str, state: int) -> DomainFacts:
    """The facts the inventory needs from a domain's XML and libvirt state."""
    root = ET.fromstring(xml)
    memory = root.find("memory")
    unit = (memory.get("unit", "KiB") if memory is not None else "KiB").lower()
    amount = int(memory.text or 0) if memory is not None else 0
    scale = {"b": 1 / 1048576, "bytes": 1 / 1048576, "kib": 1 / 1024, "k": 1 / 1024,
             "mib": 1, "m": 1, "gib": 1024, "g": 1024}.get(unit, 1 / 1024)
    balloon = root.find("./devices/memballoon")
    return DomainFacts(
        host=host,
        name=root.findtext("name") or "",
        uuid=(root.findtext("uuid") or "").lower(),
        vcpus=int(root.findtext("vcpu") or 1),
        ram_mib=max(1, round(amount * scale)),
        power=_POWER.get(state, PowerState.SHUTOFF),
        cpu_model=(root.findtext("./cpu/model") or "").strip() or None,
        balloon=balloon is not None and balloon.get("model") != "none",
        cmdline=root.findtext("./os/cmdline") or "",
    )


def kernel_param(cmdline: str, key: str) -> int | None:
    for word in cmdline.split():
        name, _, value = word.partition("=")
        if name == key and value.isdigit():
            return int(value)
    return None


def os_release(text: str) -> OsRelease:
    """Name and version from ``/etc/os-release`` text."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip('"')
    return OsRelease(name=values.get("NAME", "Linux"), version=values.get("VERSION_ID", ""))


def fleet_from_discovery(hosts: list[HostFacts], domains: list[DomainFacts],
                         release: OsRelease) -> Fleet:
    """The testbed as a ``Fleet``: one region, one cluster, profiles CPv1 and CPv2.

    A profile's versions are those of a host that carries it (every host runs the same
    binaries), a generation is named after the host CPU model. A guest defined on several hosts
    (a migration that kept its source definition) is listed where it runs.
    """
    if not hosts:
        raise DriverError("the testbed has no hosts to put in an inventory")
    generations: dict[str, CpuGeneration] = {}
    for h in hosts:
        generations.setdefault(h.cpu_model, CpuGeneration(
            name=h.cpu_model, model=h.cpu_model, vendor=h.cpu_vendor, features=h.cpu_features))
    profiles = []
    for name, rank in sorted(PROFILE_RANKS.items(), key=lambda kv: kv[1]):
        source = next((h for h in hosts if h.profile == name), hosts[0])
        profiles.append(HostProfile(
            name=name, os_name=release.name, os_version=release.version,
            qemu_version=source.qemu_version, libvirt_version=source.libvirt_version, rank=rank))
    fleet_hosts = tuple(
        Host(name=h.name, cluster=CLUSTER, generation=h.cpu_model, profile=h.profile,
             vcpus=h.vcpus, ram_mib=h.ram_mib, libvirt_uri=h.uri)
        for h in hosts
    )
    return Fleet(
        regions=(Region(name=REGION),),
        clusters=(Cluster(name=CLUSTER, region=REGION),),
        generations=tuple(generations.values()),
        profiles=tuple(profiles),
        hosts=fleet_hosts,
        vms=tuple(_vm(d) for d in _one_per_name(domains)),
    )


def _one_per_name(domains: list[DomainFacts]) -> list[DomainFacts]:
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


def _vm(dom: DomainFacts) -> Vm:
    dirty_mb = kernel_param(dom.cmdline, "dirty_mb") or 0
    rate = kernel_param(dom.cmdline, "dirty_rate")
    return Vm(
        name=dom.name, uuid=dom.uuid, host=dom.host, vcpus=dom.vcpus, ram_mib=dom.ram_mib,
        guest=GuestOs(family=GuestOsFamily.LINUX, distro="debian", version="testbed"),
        cpu=GuestCpu(mode=CpuMode.CUSTOM, model=dom.cpu_model or TCG_DEFAULT_CPU),
        devices=Devices(balloon=dom.balloon), tenant="testbed", internal=True,
        power=dom.power,
        dirty_rate_mib_s=float(rate) if dirty_mb and rate else (0.0 if not dirty_mb else None),
    )


def discover(workdir: Path | str = DEFAULT_WORKDIR) -> tuple[list[HostFacts], list[DomainFacts]]:
    """Ask every host's daemon about itself and its domains."""
    layout, state = load_layout(workdir)
    libvirt = libvirt_module()
    hosts, domains = [], []
    for index in state.hosts:
        hl = layout.host(index)
        marker = read_marker(hl)
        with connection(hl.uri, host=hl.hostname) as conn:
            try:
                model, vendor, features = host_cpu(conn.getCapabilities())
                info = conn.getInfo()
                # getInfo() can undercount memory (NUMA nodes only); ALL_CELLS is /proc/meminfo's
                total_kib = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)["total"]
                hosts.append(HostFacts(
                    name=hl.hostname, uri=hl.uri,
                    profile=marker.profile if marker else DEFAULT_PROFILE,
                    cpu_model=model, cpu_vendor=vendor, cpu_features=features,
                    vcpus=int(info[2]), ram_mib=int(total_kib) // 1024,
                    qemu_version=version_string(conn.getVersion()),
                    libvirt_version=version_string(conn.getLibVersion())))
                for dom in conn.listAllDomains():
                    domains.append(domain_facts(hl.hostname, dom.XMLDesc(0), dom.state()[0]))
            except libvirt.libvirtError as exc:
                raise DriverError(f"discovery failed: {exc.get_error_message()}",
                                  host=hl.hostname) from exc
    return hosts, domains


def build_inventory(workdir: Path | str = DEFAULT_WORKDIR) -> Fleet:
    """The testbed at ``workdir`` as a ``Fleet``, discovered from its running daemons."""
    hosts, domains = discover(workdir)
    try:
        release = os_release(Path("/etc/os-release").read_text())
    except OSError:
        release = OsRelease(name="Linux", version="")
    return fleet_from_discovery(hosts, domains, release)


def write_inventory(workdir: Path | str, path: Path | str) -> Fleet:
    """Discover the testbed and save it as an inventory file (YAML or JSON by extension)."""
    fleet = build_inventory(workdir)
    save_fleet(fleet, path)
    return fleet
