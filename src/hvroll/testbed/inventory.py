"""The testbed as an inventory: a ``Fleet`` discovered from the running daemons.

Discovery (asking each libvirtd) is kept apart from the translation into domain objects, which is
pure: :func:`fleet_from_discovery` turns plain records into a ``Fleet``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
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
    Region,
    Vm,
)
from hvroll.errors import DriverError
from hvroll.inventory import save_fleet
from hvroll.testbed.layout import DAEMON_ADVICE, DEFAULT_WORKDIR
from hvroll.testbed.profile import DEFAULT_PROFILE, PROFILE_RANKS, read_marker
from hvroll.testbed.state import load_layout
from hvroll.virt.binding import connection, libvirt_module
from hvroll.virt.discovery import HostFacts, ask_domains, ask_host, one_per_name
from hvroll.virt.domxml import DEFAULT_CPU_MODEL, DomainFacts

REGION = "testbed"
CLUSTER = "testbed-1"

@dataclass(frozen=True, slots=True)
class BedHostFacts(HostFacts):
    """What one daemon told about its testbed host, with where it is and its profile."""

    uri: str
    profile: str


@dataclass(frozen=True, slots=True)
class OsRelease:
    name: str
    version: str


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


def fleet_from_discovery(hosts: list[BedHostFacts], domains: list[DomainFacts],
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
            name=h.cpu_model, model=h.cpu_model, vendor=h.cpu_vendor, features=h.cpu_features,
            disabled=h.cpu_disabled))
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
        vms=tuple(_vm(d) for d in one_per_name(domains)),
    )


def _vm(dom: DomainFacts) -> Vm:
    dirty_mb = kernel_param(dom.cmdline, "dirty_mb") or 0
    rate = kernel_param(dom.cmdline, "dirty_rate")
    return Vm(
        name=dom.name, uuid=dom.uuid, host=dom.host, vcpus=dom.vcpus, ram_mib=dom.ram_mib,
        guest=GuestOs(family=GuestOsFamily.LINUX, distro="debian", version="testbed"),
        cpu=GuestCpu(mode=CpuMode.CUSTOM, model=dom.cpu_model or DEFAULT_CPU_MODEL),
        devices=Devices(balloon=dom.balloon), tenant="testbed", internal=True,
        power=dom.power,
        dirty_rate_mib_s=float(rate) if dirty_mb and rate else (0.0 if not dirty_mb else None),
    )


def discover(workdir: Path | str = DEFAULT_WORKDIR,
             ) -> tuple[list[BedHostFacts], list[DomainFacts]]:
    """Ask every host's daemon about itself and its domains."""
    layout, state = load_layout(workdir)
    libvirt = libvirt_module()
    hosts, domains = [], []
    for index in state.hosts:
        hl = layout.host(index)
        marker = read_marker(hl)
        with connection(hl.uri, host=hl.hostname, advice=DAEMON_ADVICE) as conn:
            try:
                facts = ask_host(libvirt, conn, hl.hostname)
                hosts.append(BedHostFacts(
                    **asdict(facts), uri=hl.uri,
                    profile=marker.profile if marker else DEFAULT_PROFILE))
                domains += [found for found, _, _ in ask_domains(conn, hl.hostname)]
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
