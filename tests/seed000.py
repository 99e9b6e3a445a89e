"""A small fleet shaped like seed 000, written by hand (not by the generator).

One region; clusters of 3 active hosts + 1 hot spare (seed 000: 36 + 4), one CPU generation
each: Haswell and Broadwell on CPv1, Skylake already on CPv2; Broadwell twice, once with an
Ubuntu host OS and once with RHEL (the host OS differs per cluster). The RHEL CPv1 profile is
written as RHEL writes it (``3.2.0-14.el7_4.9``): that libvirt already exposes SMAP on
Broadwell, Ubuntu 14.04's 1.2.2 does not. Guests: legacy Linux known only by distribution and
version, a CentOS 6 nobody verified, Windows live-migrated before with its balloon, FreeBSD,
config drive, local disk + volume, a GPU, an anti-affinity group, a noisy VM; internal
tenants' VMs on some hosts.
"""

from __future__ import annotations

from typing import Any

from hvroll.compat.cpu import model_features
from hvroll.compat.exposure import host_model_cpu
from hvroll.domain import (
    Cluster,
    Fleet,
    GuestCpu,
    Host,
    HostProfile,
    HostRole,
    Region,
    ServerGroup,
    Vm,
)
from hvroll.synthetic.presets import BROADWELL, HASWELL, SKYLAKE

CPV1_UBUNTU = HostProfile(name="CPv1-u", os_name="ubuntu", os_version="14.04",
                          qemu_version="2.0.0+dfsg-2ubuntu1.46",
                          libvirt_version="1.2.2-0ubuntu13.1.28", rank=1)
CPV1_RHEL = HostProfile(name="CPv1-r", os_name="rhel", os_version="7.4",
                        qemu_version="10:2.9.0-16.el7_4.8.1", libvirt_version="3.2.0-14.el7_4.9",
                        rank=1)
CPV2_UBUNTU = HostProfile(name="CPv2-u", os_name="ubuntu", os_version="16.04",
                          qemu_version="1:2.11+dfsg-1ubuntu7.23~cloud0",
                          libvirt_version="4.0.0-1ubuntu8.15~cloud0", rank=2)
CPV2_RHEL = HostProfile(name="CPv2-r", os_name="rhel", os_version="7.6",
                        qemu_version="10:2.12.0-18.el7_6.7.1", libvirt_version="4.5.0-10.el7_6.12",
                        rank=2)
PROFILES = (CPV1_UBUNTU, CPV1_RHEL, CPV2_UBUNTU, CPV2_RHEL)

CLUSTERS = {
    # cluster: (generation, profile now, host name prefix)
    "c-hsw-u": (HASWELL, CPV1_UBUNTU, "hsw-u"),
    "c-bdw-u": (BROADWELL, CPV1_UBUNTU, "bdw-u"),
    "c-bdw-r": (BROADWELL, CPV1_RHEL, "bdw-r"),
    "c-sky-u": (SKYLAKE, CPV2_UBUNTU, "sky-u"),
}

LEGACY_CENTOS = {"family": "linux", "distro": "centos", "version": "5.11"}
LEGACY_UBUNTU = {"family": "linux", "distro": "ubuntu", "version": "12.04"}
CENTOS6 = {"family": "linux", "distro": "centos", "version": "6.10"}
RHEL7 = {"family": "linux", "distro": "rhel", "version": "7.4"}
UBUNTU16 = {"family": "linux", "distro": "ubuntu", "version": "16.04"}
WINDOWS = {"family": "windows", "distro": "windows-server", "version": "2012r2"}
FREEBSD = {"family": "freebsd", "distro": "freebsd", "version": "11.2"}


def hosts() -> list[Host]:
    out = []
    for cluster, (gen, profile, prefix) in CLUSTERS.items():
        for i in range(1, 5):
            out.append(Host(name=f"{prefix}{i}", cluster=cluster, generation=gen.name,
                            profile=profile.name, vcpus=16, ram_mib=65536, disk_gib=500,
                            role=HostRole.SPARE if i == 4 else HostRole.ACTIVE))
    return out


def started_cpu(host: str) -> GuestCpu:
    """The CPU a host-model guest started on ``host`` runs with."""
    cluster = next(c for c, (_g, _p, prefix) in CLUSTERS.items() if host.startswith(prefix))
    gen, profile, _prefix = CLUSTERS[cluster]
    return host_model_cpu(gen, profile, model_features(gen.model))


_counter = iter(range(1, 10_000))


def vm(name: str, host: str, guest: dict[str, Any], **fields: Any) -> Vm:
    data: dict[str, Any] = {
        "name": name, "uuid": f"00000000-0000-4000-8000-{next(_counter):012d}", "host": host,
        "vcpus": 2, "ram_mib": 4096, "guest": guest,
        "cpu": started_cpu(host).model_dump(), "tenant": "customer",
    }
    if fields.get("internal"):
        data["tenant"] = "internal"
    data.update(fields)
    return Vm.model_validate(data)


def vms() -> list[Vm]:
    global _counter
    _counter = iter(range(1, 10_000))
    local_and_volume = [{"kind": "local", "size_gib": 20}, {"kind": "volume", "size_gib": 100}]
    return [
        # Haswell / Ubuntu CPv1
        vm("legacy-c5", "hsw-u1", LEGACY_CENTOS),
        vm("win-migrated", "hsw-u1", WINDOWS, internal=True,
           history={"live_migrations_since_power_cycle": 1}),
        vm("web-1", "hsw-u1", UBUNTU16, server_group="web"),
        vm("web-2", "hsw-u2", UBUNTU16, server_group="web"),
        vm("bsd-1", "hsw-u2", FREEBSD, internal=True),
        vm("noisy-1", "hsw-u2", UBUNTU16, dirty_rate_mib_s=400.0, ram_mib=16384),
        vm("cfg-1", "hsw-u3", UBUNTU16, devices={"config_drive": "iso9660"}),
        vm("ldv-1", "hsw-u3", UBUNTU16, disks=local_and_volume),
        # Broadwell / Ubuntu CPv1: SMAP hidden by libvirt 1.2.2
        vm("legacy-u12", "bdw-u1", LEGACY_UBUNTU),
        vm("app-bu1", "bdw-u1", UBUNTU16),
        vm("win-bu", "bdw-u1", WINDOWS, internal=True),
        vm("c6-bu", "bdw-u2", CENTOS6),
        vm("gpu-1", "bdw-u2", UBUNTU16, devices={"passthrough": ["gpu"]}),
        vm("app-bu3", "bdw-u3", UBUNTU16, internal=True),
        # Broadwell / RHEL CPv1: SMAP already exposed by libvirt 3.2.0
        vm("app-br1", "bdw-r1", RHEL7),
        vm("win-br", "bdw-r1", WINDOWS, internal=True,
           history={"live_migrations_since_power_cycle": 2}),
        vm("app-br2", "bdw-r2", RHEL7),
        vm("c6-br", "bdw-r3", CENTOS6, internal=True),
        vm("legacy-br-off", "bdw-r2", LEGACY_CENTOS, power="shutoff"),
        # Skylake / Ubuntu CPv2 already
        vm("app-sky", "sky-u1", UBUNTU16),
    ]


def seed000_fleet() -> Fleet:
    return Fleet(
        regions=(Region(name="r1"),),
        clusters=tuple(Cluster(name=c, region="r1") for c in CLUSTERS),
        generations=(HASWELL, BROADWELL, SKYLAKE),
        profiles=PROFILES,
        server_groups=(ServerGroup(name="web"),),
        hosts=tuple(hosts()),
        vms=tuple(vms()),
    )
