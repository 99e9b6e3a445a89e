"""Checks across records: unique names, references that resolve, hosts within capacity.

Pure: a fleet in, a list of findings out. Each finding names the record by its path in the
document so the loader can give its line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from hvroll.domain import CpuMode, Fleet, Host, Vm

Path = tuple[str | int, ...]


class _Named(Protocol):
    @property
    def name(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Finding:
    """Something wrong across records, at ``path``; ``first`` points at an earlier duplicate."""

    path: Path
    message: str
    first: Path | None = None


def check(fleet: Fleet) -> list[Finding]:
    """Every cross-record problem of ``fleet``, in document order within each kind."""
    findings: list[Finding] = []
    sections: dict[str, Sequence[_Named]] = {
        "regions": fleet.regions,
        "clusters": fleet.clusters,
        "generations": fleet.generations,
        "profiles": fleet.profiles,
        "server_groups": fleet.server_groups,
        "hosts": fleet.hosts,
        "vms": fleet.vms,
    }
    for section, records in sections.items():
        findings += _duplicates(section, [r.name for r in records], "name")
    findings += _duplicates("vms", [vm.uuid for vm in fleet.vms], "uuid")
    names = {
        "region": {r.name for r in fleet.regions},
        "cluster": set(fleet.cluster_by_name),
        "generation": set(fleet.generation_by_name),
        "profile": set(fleet.profile_by_name),
        "server group": set(fleet.group_by_name),
        "host": set(fleet.host_by_name),
    }
    for i, cluster in enumerate(fleet.clusters):
        findings += _ref(("clusters", i, "region"), f"cluster {cluster.name!r}", "region",
                         cluster.region, names["region"])
    for i, host in enumerate(fleet.hosts):
        who = f"host {host.name!r}"
        findings += _ref(("hosts", i, "cluster"), who, "cluster", host.cluster, names["cluster"])
        findings += _ref(("hosts", i, "generation"), who, "generation", host.generation,
                         names["generation"])
        findings += _ref(("hosts", i, "profile"), who, "profile", host.profile, names["profile"])
    for i, vm in enumerate(fleet.vms):
        who = f"vm {vm.name!r}"
        findings += _ref(("vms", i, "host"), who, "host", vm.host, names["host"])
        if vm.server_group is not None:
            findings += _ref(("vms", i, "server_group"), who, "server group", vm.server_group,
                             names["server group"])
        if vm.cpu.mode is CpuMode.CUSTOM and vm.cpu.model is None:
            findings.append(Finding(("vms", i, "cpu"), f"{who} cpu.model is required with "
                                    f"cpu.mode custom (expected a cpu_map model name, got none)"))
    findings += _capacity(fleet)
    return findings


def _duplicates(section: str, values: Sequence[str], field: str) -> list[Finding]:
    first: dict[str, int] = {}
    found: list[Finding] = []
    kind = {"server_groups": "server group"}.get(section, section.rstrip("s"))
    for i, value in enumerate(values):
        if value in first:
            found.append(Finding((section, i, field), f"duplicate {kind} {field} {value!r} "
                                 f"(expected unique, got a second one)", (section, first[value])))
        else:
            first[value] = i
    return found


def _ref(path: Path, who: str, kind: str, value: str, known: set[str]) -> list[Finding]:
    if value in known:
        return []
    return [Finding(path, f"{who} refers to unknown {kind} {value!r} "
                          f"(expected one of: {_some(known)}, got {value!r})")]


def _some(names: Iterable[str], most: int = 5) -> str:
    ordered = sorted(names)
    if not ordered:
        return "none defined"
    shown = ", ".join(ordered[:most])
    return shown + (f", … ({len(ordered)} in all)" if len(ordered) > most else "")


@dataclass(slots=True)
class Usage:
    """What the VMs on one host use."""

    vcpus: int = 0
    ram_mib: int = 0
    disk_gib: int = 0
    vms: int = 0

    def add(self, vm: Vm) -> None:
        self.vcpus += vm.vcpus
        self.ram_mib += vm.ram_mib
        self.disk_gib += vm.local_disk_gib
        self.vms += 1


def usage_by_host(vms: Iterable[Vm]) -> dict[str, Usage]:
    acc: dict[str, Usage] = defaultdict(Usage)
    for vm in vms:
        acc[vm.host].add(vm)
    return acc


def over_capacity(host: Host, use: Usage) -> list[str]:
    """Each resource of ``host`` that ``use`` exceeds under the allocation ratios, as words."""
    out = []
    for what, used, size, ratio, unit in (
        ("vCPU", use.vcpus, host.vcpus, host.cpu_allocation_ratio, ""),
        ("RAM", use.ram_mib, host.ram_mib, host.ram_allocation_ratio, " MiB"),
        ("local disk", use.disk_gib, host.disk_gib, host.disk_allocation_ratio, " GiB"),
    ):
        limit = size * ratio
        if used > limit:
            out.append(f"{what} (expected at most {limit:g}{unit} = {size} × {ratio:g}, "
                       f"got {used}{unit} from {use.vms} VMs)")
    return out


def _capacity(fleet: Fleet) -> list[Finding]:
    usage = usage_by_host(fleet.vms)
    found = []
    for i, host in enumerate(fleet.hosts):
        use = usage.get(host.name)
        if use is None:
            continue
        for words in over_capacity(host, use):
            found.append(Finding(("hosts", i), f"host {host.name!r} is over its {words}"))
    return found
