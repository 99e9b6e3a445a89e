"""A small fleet shaped like seed 000: Haswell and Broadwell hosts on CPv1, Skylake on CPv2,
one host of each old generation already reinstalled, and the guests the three failures hit."""

from __future__ import annotations

from typing import Any

from hvroll.compat.cpu import model_features
from hvroll.compat.exposure import host_model_cpu
from hvroll.domain import (
    Cluster,
    CpuGeneration,
    CpuMode,
    Fleet,
    GuestCpu,
    Host,
    HostProfile,
    Region,
    ServerGroup,
    Vm,
)
from hvroll.synthetic.presets import BROADWELL, CPV1, CPV2, HASWELL, SKYLAKE

CPV2N = CPV2.model_copy(update={"name": "CPv2n", "kernel_flags": ("nosmap",), "rank": 2})
"""CPv2 booted with nosmap, as the seed 000 operator did on Broadwell."""

GENERATIONS = {g.name: g for g in (HASWELL, BROADWELL, SKYLAKE)}
PROFILES = {p.name: p for p in (CPV1, CPV2, CPV2N)}

HOSTS = (
    # name, cluster, generation, profile
    ("hsw1", "c-hsw", "Haswell", "CPv1"),
    ("hsw2", "c-hsw", "Haswell", "CPv2"),
    ("bdw1", "c-bdw", "Broadwell", "CPv1"),
    ("bdw2", "c-bdw", "Broadwell", "CPv2"),
    ("bdw3", "c-bdw", "Broadwell", "CPv2n"),
    ("sky1", "c-sky", "Skylake", "CPv2"),
    ("sky2", "c-sky", "Skylake", "CPv2"),
)


def started_cpu(generation: str, profile: str, mode: CpuMode = CpuMode.HOST_MODEL) -> GuestCpu:
    """The CPU a guest started on such a host runs with."""
    gen = GENERATIONS[generation]
    cpu = host_model_cpu(gen, PROFILES[profile], model_features(gen.model))
    return cpu if mode is CpuMode.HOST_MODEL else cpu.model_copy(update={"mode": mode})


def vm(name: str, host: str, *, n: int = 0, **fields: Any) -> Vm:
    """A VM on ``host``, started there, 2 vCPU / 4 GiB, Ubuntu 16.04 unless told."""
    gen, profile = next((g, p) for h, _c, g, p in HOSTS if h == host)
    data: dict[str, Any] = {
        "name": name, "uuid": f"00000000-0000-4000-8000-{n:012d}", "host": host,
        "vcpus": 2, "ram_mib": 4096,
        "guest": {"family": "linux", "distro": "ubuntu", "version": "16.04"},
        "cpu": started_cpu(gen, profile).model_dump(),
    }
    data.update(fields)
    return Vm.model_validate(data)


LEGACY = {"family": "linux", "distro": "centos", "version": "5.11", "smap_support": False}
WINDOWS = {"family": "windows", "distro": "windows-server", "version": "2012r2"}


def seed_vms() -> list[Vm]:
    return [
        vm("legacy-bdw", "bdw1", n=1, guest=LEGACY),
        vm("legacy-sky", "sky1", n=2, guest=LEGACY),
        vm("legacy-hsw", "hsw1", n=3, guest=LEGACY),
        vm("win-migrated", "hsw1", n=4, guest=WINDOWS,
           history={"live_migrations_since_power_cycle": 1}),
        vm("win-rebooted", "hsw1", n=5, guest=WINDOWS,
           history={"live_migrations_since_power_cycle": 0}),
        vm("web-bdw", "bdw1", n=6, server_group="web"),
        vm("web-hsw", "hsw1", n=7, server_group="web"),
        vm("app-sky", "sky1", n=8),
    ]


def make_fleet(vms: list[Vm] | None = None, *, host_vcpus: int = 8,
               extra_generations: tuple[CpuGeneration, ...] = (),
               extra_hosts: tuple[tuple[str, str, str, str], ...] = (),
               extra_profiles: tuple[HostProfile, ...] = ()) -> Fleet:
    hosts = tuple(
        Host(name=h, cluster=c, generation=g, profile=p, vcpus=host_vcpus, ram_mib=32768,
             disk_gib=500)
        for h, c, g, p in (*HOSTS, *extra_hosts))
    return Fleet(
        regions=(Region(name="r1"),),
        clusters=tuple(Cluster(name=c, region="r1")
                       for c in dict.fromkeys(c for _h, c, _g, _p in (*HOSTS, *extra_hosts))),
        generations=(*GENERATIONS.values(), *extra_generations),
        profiles=(*PROFILES.values(), *extra_profiles),
        server_groups=(ServerGroup(name="web"),),
        hosts=hosts,
        vms=tuple(seed_vms() if vms is None else vms),
    )

