"""The fleet: every region, cluster, host and VM, with the look-ups the rest of hvroll needs."""

from __future__ import annotations

from collections import Counter, defaultdict
from functools import cached_property
from typing import Literal

from hvroll.domain.enums import HostRole
from hvroll.domain.models import (
    Cluster,
    CpuGeneration,
    Host,
    HostProfile,
    Model,
    Region,
    ServerGroup,
    Vm,
)

INVENTORY_VERSION = 1


class Fleet(Model):
    """A whole cloud as an inventory file describes it.

    Objects refer to each other by name (a host names its cluster, generation and profile; a VM
    its host and server group). ``hvroll.inventory`` checks that every reference resolves.
    """

    version: Literal[1] = 1
    regions: tuple[Region, ...] = ()
    clusters: tuple[Cluster, ...] = ()
    generations: tuple[CpuGeneration, ...] = ()
    profiles: tuple[HostProfile, ...] = ()
    server_groups: tuple[ServerGroup, ...] = ()
    hosts: tuple[Host, ...] = ()
    vms: tuple[Vm, ...] = ()

    @cached_property
    def host_by_name(self) -> dict[str, Host]:
        return {h.name: h for h in self.hosts}

    @cached_property
    def vm_by_name(self) -> dict[str, Vm]:
        return {v.name: v for v in self.vms}

    @cached_property
    def cluster_by_name(self) -> dict[str, Cluster]:
        return {c.name: c for c in self.clusters}

    @cached_property
    def profile_by_name(self) -> dict[str, HostProfile]:
        return {p.name: p for p in self.profiles}

    @cached_property
    def generation_by_name(self) -> dict[str, CpuGeneration]:
        return {g.name: g for g in self.generations}

    @cached_property
    def group_by_name(self) -> dict[str, ServerGroup]:
        return {g.name: g for g in self.server_groups}

    @cached_property
    def vms_by_host(self) -> dict[str, tuple[Vm, ...]]:
        """VMs per host name; every host is present, empty ones with ``()``."""
        acc: dict[str, list[Vm]] = {h.name: [] for h in self.hosts}
        for vm in self.vms:
            acc.setdefault(vm.host, []).append(vm)
        return {name: tuple(vms) for name, vms in acc.items()}

    @cached_property
    def hosts_by_cluster(self) -> dict[str, tuple[Host, ...]]:
        acc: dict[str, list[Host]] = {c.name: [] for c in self.clusters}
        for host in self.hosts:
            acc.setdefault(host.cluster, []).append(host)
        return {name: tuple(hosts) for name, hosts in acc.items()}

    @cached_property
    def clusters_by_region(self) -> dict[str, tuple[Cluster, ...]]:
        acc: dict[str, list[Cluster]] = {r.name: [] for r in self.regions}
        for cluster in self.clusters:
            acc.setdefault(cluster.region, []).append(cluster)
        return {name: tuple(cs) for name, cs in acc.items()}

    @cached_property
    def members_by_group(self) -> dict[str, tuple[Vm, ...]]:
        acc: dict[str, list[Vm]] = defaultdict(list)
        for vm in self.vms:
            if vm.server_group is not None:
                acc[vm.server_group].append(vm)
        return {name: tuple(vms) for name, vms in acc.items()}

    def region_of(self, host: Host) -> str:
        return self.cluster_by_name[host.cluster].region

    def region_part(self, region: str) -> Fleet:
        """The part of the fleet in ``region``: its clusters, their hosts and the VMs on
        them (generations, profiles and server groups whole). Regions never exchange VMs,
        so a region's part is a cloud of its own (a region's executor simulates only it)."""
        clusters = tuple(c for c in self.clusters if c.region == region)
        names = {c.name for c in clusters}
        hosts = tuple(h for h in self.hosts if h.cluster in names)
        on = {h.name for h in hosts}
        return Fleet.model_construct(
            version=self.version, regions=tuple(r for r in self.regions if r.name == region),
            clusters=clusters, generations=self.generations, profiles=self.profiles,
            server_groups=self.server_groups, hosts=hosts,
            vms=tuple(vm for vm in self.vms if vm.host in on))

    def profile_of(self, host: Host) -> HostProfile:
        return self.profile_by_name[host.profile]

    def generation_of(self, host: Host) -> CpuGeneration:
        return self.generation_by_name[host.generation]

    def spares(self, cluster: str) -> int:
        """How many hot spares the cluster holds."""
        return sum(1 for h in self.hosts_by_cluster.get(cluster, ()) if h.role is HostRole.SPARE)

    def summary(self) -> dict[str, object]:
        """Counts by region, cluster, generation, profile and guest OS family (``fleet show``)."""
        hosts_per_region: Counter[str] = Counter()
        vms_per_region: Counter[str] = Counter()
        for host in self.hosts:
            hosts_per_region[self.region_of(host)] += 1
        for vm in self.vms:
            vm_host = self.host_by_name.get(vm.host)
            if vm_host is not None:
                vms_per_region[self.region_of(vm_host)] += 1
        cluster_sizes = Counter(len(hs) for hs in self.hosts_by_cluster.values())
        spare_counts = Counter(self.spares(c.name) for c in self.clusters)
        return {
            "regions": len(self.regions),
            "clusters": len(self.clusters),
            "hosts": len(self.hosts),
            "vms": len(self.vms),
            "spares": sum(1 for h in self.hosts if h.role is HostRole.SPARE),
            "cluster_sizes": _sorted_counts(cluster_sizes),
            "spares_per_cluster": _sorted_counts(spare_counts),
            "by_region": {
                r.name: {"clusters": len(self.clusters_by_region.get(r.name, ())),
                         "hosts": hosts_per_region[r.name], "vms": vms_per_region[r.name]}
                for r in self.regions
            },
            "hosts_by_generation": _sorted_counts(Counter(h.generation for h in self.hosts)),
            "hosts_by_profile": _sorted_counts(Counter(h.profile for h in self.hosts)),
            "vms_by_guest_family": _sorted_counts(Counter(v.guest.family.value for v in self.vms)),
            "vms_by_power": _sorted_counts(Counter(v.power.value for v in self.vms)),
        }


def _sorted_counts(counter: Counter[str] | Counter[int]) -> dict[str, int]:
    return {str(k): v for k, v in sorted(counter.items(), key=lambda kv: str(kv[0]))}
