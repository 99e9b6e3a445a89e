"""Small hand-built fleets whose numbers make the migration model's results easy to compute."""

from __future__ import annotations

import uuid
from typing import Any

from hvroll.domain import (
    Cluster,
    CpuGeneration,
    Devices,
    Disk,
    DiskKind,
    Fleet,
    GuestOs,
    GuestOsFamily,
    Host,
    HostProfile,
    Region,
    ServerGroup,
    Vm,
    VmHistory,
)
from hvroll.drivers.base import JobProgress
from hvroll.drivers.sim import SimCloud

LINK = 1180.0
"""Every test host's migration link, MiB/s (10 GbE)."""

PROFILES = (
    HostProfile(name="CPv1", os_name="ubuntu", os_version="14.04", qemu_version="2.0.0",
                libvirt_version="1.2.2", rank=1),
    HostProfile(name="CPv2", os_name="ubuntu", os_version="16.04", qemu_version="2.11.1",
                libvirt_version="4.0.0", rank=2),
)


def vm(name: str, host: str = "hv0", *, ram_mib: int = 4096, dirty: float | None = 0.0,
       local_gib: int = 0, vcpus: int = 2, **fields: Any) -> Vm:
    """A Linux VM on shared storage unless ``local_gib`` gives it a local disk."""
    disks = (Disk(kind=DiskKind.LOCAL, size_gib=local_gib),) if local_gib else (
        Disk(kind=DiskKind.SHARED, size_gib=20),)
    return Vm(name=name, uuid=str(uuid.uuid5(uuid.NAMESPACE_DNS, name)), host=host,
              vcpus=vcpus, ram_mib=ram_mib, disks=disks,
              guest=fields.pop("guest", GuestOs(family=GuestOsFamily.LINUX)),
              dirty_rate_mib_s=dirty, **fields)


def windows(name: str, host: str = "hv0", *, migrated: int = 1) -> Vm:
    """A Windows VM with a balloon, live-migrated ``migrated`` times since its last boot."""
    return vm(name, host, guest=GuestOs(family=GuestOsFamily.WINDOWS),
              devices=Devices(balloon=True),
              history=VmHistory(live_migrations_since_power_cycle=migrated))


def fleet(*vms: Vm, hosts: int = 4, profile: str = "CPv1", ram_mib: int = 65536,
          clusters: int = 1, groups: tuple[str, ...] = ()) -> Fleet:
    """``hosts`` hosts per cluster named ``hv0``, ``hv1``, … (then ``hv<cluster><n>``)."""
    names = [f"hv{i}" if clusters == 1 else f"hv{c}{i}" for c in range(clusters)
             for i in range(hosts)]
    return Fleet(
        regions=(Region(name="r1"),),
        clusters=tuple(Cluster(name=f"c{c}", region="r1") for c in range(clusters)),
        generations=(CpuGeneration(name="Broadwell", model="Broadwell-noTSX"),),
        profiles=PROFILES,
        server_groups=tuple(ServerGroup(name=g) for g in groups),
        hosts=tuple(Host(name=n, cluster=f"c{i // hosts}", generation="Broadwell",
                         profile=profile, vcpus=32, ram_mib=ram_mib, link_mib_s=LINK)
                    for i, n in enumerate(names)),
        vms=vms)


def run_until_final(cloud: SimCloud, *jobs: str, limit: int = 10_000) -> list[JobProgress]:
    """``wait`` until every job is final; their last progress."""
    for _ in range(limit):
        if all(cloud.job(j).final for j in jobs):
            return [cloud.job(j) for j in jobs]
        cloud.wait(86_400.0)
    raise AssertionError(f"jobs {jobs} not final after {limit} waits")


def passes(cloud: SimCloud, job: str, limit: int = 1000) -> list[JobProgress]:
    """The job's progress at each instant ``wait`` reports it changed, until it is final."""
    seen = []
    for _ in range(limit):
        if job in cloud.wait(86_400.0):
            seen.append(cloud.job(job))
            if seen[-1].final:
                return seen
    raise AssertionError(f"{job} not final after {limit} waits")
