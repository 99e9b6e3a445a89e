"""Fleet shapes for the generator: ``small`` (demos, tests), ``enterprise`` (13 regions, 3,500
hosts, 35,000 VMs, like the enterprise cloud of the domain brief) and ``public`` (25 regions,
250,000 VMs)."""

from __future__ import annotations

from dataclasses import dataclass

from hvroll.domain import CpuGeneration, GuestOsFamily, HostProfile


@dataclass(frozen=True, slots=True)
class Image:
    """A guest OS image and how common it is."""

    family: GuestOsFamily
    distro: str
    version: str
    weight: float
    smap_support: bool | None = None
    """Explicit SMAP support; unset, hvroll derives it from the release (compat.guestos)."""


@dataclass(frozen=True, slots=True)
class Flavor:
    name: str
    vcpus: int
    ram_mib: int
    disk_gib: int
    weight: float


@dataclass(frozen=True, slots=True)
class HostShape:
    vcpus: int
    ram_mib: int
    disk_gib: int
    cpu_allocation_ratio: float
    ram_allocation_ratio: float
    link_mib_s: float


@dataclass(frozen=True, slots=True)
class Hardware:
    """A CPU generation, how many clusters have it, and the profile its hosts run."""

    generation: CpuGeneration
    weight: float
    profile: str


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    region_prefix: str
    clusters_per_region: tuple[int, ...]
    cluster_size: int
    spares: int
    host: HostShape
    vms_per_host: float
    """Mean VMs per active host; each host gets this ± 30 %, within capacity."""
    hardware: tuple[Hardware, ...]
    profiles: tuple[HostProfile, ...]
    images: tuple[Image, ...]
    flavors: tuple[Flavor, ...]
    local_root_share: float
    volume_share: float
    config_drive_iso_share: float
    config_drive_vfat_share: float
    group_share: float
    internal_tenant_share: float
    noisy_share: float
    passthrough_cluster_share: float = 0.0
    custom_cpu_share: float = 0.10
    volumes_on_local_root: bool = True
    """Whether VMs booted from a local disk also get volumes (the public cloud's case that
    needs migrateToURI3) or only VMs booted from shared storage do."""
    passthrough_cpu_share: float = 0.03


_INTEL_EXTRA = ("vme", "ss", "ht", "tsc_adjust", "pdpe1gb")

HASWELL = CpuGeneration(name="Haswell", model="Haswell-noTSX", features=_INTEL_EXTRA)
BROADWELL = CpuGeneration(name="Broadwell", model="Broadwell-noTSX", features=_INTEL_EXTRA)
SKYLAKE = CpuGeneration(name="Skylake", model="Skylake-Server-noTSX-IBRS",
                        features=(*_INTEL_EXTRA, "clflushopt", "umip"))
SANDYBRIDGE = CpuGeneration(name="SandyBridge", model="SandyBridge", features=_INTEL_EXTRA)
IVYBRIDGE = CpuGeneration(name="IvyBridge", model="IvyBridge", features=_INTEL_EXTRA)

CPV1 = HostProfile(name="CPv1", os_name="ubuntu", os_version="14.04", qemu_version="2.0.0",
                   libvirt_version="1.2.2", nova_release="mitaka", rank=1)
CPV2 = HostProfile(name="CPv2", os_name="ubuntu", os_version="16.04", qemu_version="2.11.1",
                   libvirt_version="4.0.0", nova_release="queens", rank=2)
CPV2_NOSMAP = CPV2.model_copy(update={"name": "CPv2n", "kernel_flags": ("nosmap",)})
"""CPv2 booted with ``nosmap``: what the enterprise operator chose for Broadwell hosts, so that
guests keep CPv1's CPU feature set (legacy kernels without SMAP support keep booting)."""

ENTERPRISE_IMAGES = (
    Image(GuestOsFamily.LINUX, "centos", "5.11", 0.8),
    Image(GuestOsFamily.LINUX, "rhel", "5.11", 0.6),
    Image(GuestOsFamily.LINUX, "ubuntu", "12.04", 1.6),
    Image(GuestOsFamily.LINUX, "debian", "7", 1.0),
    Image(GuestOsFamily.LINUX, "centos", "6.10", 8.0),
    Image(GuestOsFamily.LINUX, "centos", "7.6", 14.0),
    Image(GuestOsFamily.LINUX, "rhel", "6.10", 4.0),
    Image(GuestOsFamily.LINUX, "rhel", "7.6", 8.0),
    Image(GuestOsFamily.LINUX, "ubuntu", "14.04", 9.0),
    Image(GuestOsFamily.LINUX, "ubuntu", "16.04", 12.0),
    Image(GuestOsFamily.LINUX, "ubuntu", "18.04", 6.0),
    Image(GuestOsFamily.LINUX, "debian", "9", 3.0),
    Image(GuestOsFamily.LINUX, "sles", "12.3", 2.0),
    Image(GuestOsFamily.WINDOWS, "windows-server", "2008r2", 5.0),
    Image(GuestOsFamily.WINDOWS, "windows-server", "2012r2", 9.0),
    Image(GuestOsFamily.WINDOWS, "windows-server", "2016", 6.0),
    Image(GuestOsFamily.FREEBSD, "freebsd", "10.4", 2.0),
    Image(GuestOsFamily.FREEBSD, "freebsd", "11.2", 3.0),
    Image(GuestOsFamily.OTHER, "appliance", "", 3.0),
)

FLAVORS = (
    Flavor("m1.small", 1, 2048, 20, 20),
    Flavor("m1.medium", 2, 4096, 40, 30),
    Flavor("m1.large", 4, 8192, 80, 25),
    Flavor("m1.xlarge", 8, 16384, 160, 12),
    Flavor("r1.large", 4, 32768, 80, 8),
    Flavor("c1.2xlarge", 16, 32768, 160, 5),
)

_ENTERPRISE_HOST = HostShape(vcpus=56, ram_mib=256 * 1024, disk_gib=2000,
                             cpu_allocation_ratio=4.0, ram_allocation_ratio=1.0,
                             link_mib_s=1180.0)

_SEED000_HARDWARE = (
    Hardware(HASWELL, 0.35, "CPv1"),
    Hardware(BROADWELL, 0.40, "CPv1"),
    Hardware(SKYLAKE, 0.25, "CPv2"),
)

SMALL = Preset(
    name="small", region_prefix="lab", clusters_per_region=(2, 2), cluster_size=20, spares=2,
    host=_ENTERPRISE_HOST, vms_per_host=8.3, hardware=_SEED000_HARDWARE,
    profiles=(CPV1, CPV2, CPV2_NOSMAP), images=ENTERPRISE_IMAGES, flavors=FLAVORS,
    local_root_share=0.55, volume_share=0.2, config_drive_iso_share=0.25,
    config_drive_vfat_share=0.05, group_share=0.08, internal_tenant_share=0.1,
    volumes_on_local_root=False,
    noisy_share=0.02,
)

ENTERPRISE = Preset(
    name="enterprise", region_prefix="ent",
    clusters_per_region=(16, 11, 9, 8, 7, 6, 6, 5, 5, 5, 4, 3, 3), cluster_size=40, spares=4,
    host=_ENTERPRISE_HOST, vms_per_host=11.1, hardware=_SEED000_HARDWARE,
    profiles=(CPV1, CPV2, CPV2_NOSMAP), images=ENTERPRISE_IMAGES, flavors=FLAVORS,
    local_root_share=0.55, volume_share=0.2, config_drive_iso_share=0.25,
    config_drive_vfat_share=0.05, group_share=0.08, internal_tenant_share=0.04,
    volumes_on_local_root=False,
    noisy_share=0.01,
)

_PUBLIC_PROFILES = (
    HostProfile(name="juno", os_name="ubuntu", os_version="14.04", qemu_version="2.0.0",
                libvirt_version="1.2.2", nova_release="juno", rank=1),
    HostProfile(name="liberty", os_name="ubuntu", os_version="14.04", qemu_version="2.3.0",
                libvirt_version="1.2.16", nova_release="liberty", rank=2),
    HostProfile(name="mitaka", os_name="ubuntu", os_version="16.04", qemu_version="2.5.0",
                libvirt_version="1.3.1", nova_release="mitaka", rank=3),
    HostProfile(name="newton", os_name="ubuntu", os_version="16.04", qemu_version="2.6.1",
                libvirt_version="2.5.0", nova_release="newton", rank=4),
)

PUBLIC = Preset(
    name="public", region_prefix="pub", clusters_per_region=(16,) * 12 + (15,) * 13,
    cluster_size=48, spares=4,
    host=HostShape(vcpus=48, ram_mib=384 * 1024, disk_gib=3000, cpu_allocation_ratio=8.0,
                   ram_allocation_ratio=1.2, link_mib_s=1180.0),
    vms_per_host=14.7,
    hardware=(
        Hardware(SANDYBRIDGE, 0.05, "juno"),
        Hardware(IVYBRIDGE, 0.10, "juno"),
        Hardware(HASWELL, 0.25, "liberty"),
        Hardware(BROADWELL, 0.30, "mitaka"),
        Hardware(SKYLAKE, 0.30, "newton"),
    ),
    profiles=_PUBLIC_PROFILES, images=ENTERPRISE_IMAGES, flavors=FLAVORS,
    local_root_share=0.4, volume_share=0.3, config_drive_iso_share=0.3,
    config_drive_vfat_share=0.05, group_share=0.06, internal_tenant_share=0.02,
    noisy_share=0.015, passthrough_cluster_share=0.03,
)

PRESETS = {p.name: p for p in (SMALL, ENTERPRISE, PUBLIC)}
