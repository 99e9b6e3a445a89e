"""The lab's second mode: computes on Nova's libvirt driver, one per testbed host (real QEMU).

Each testbed host (a libvirtd in its own network, mount and UTS namespaces, TCG guests) gets a
nova-compute that runs in this machine's network namespace (so it reaches the lab's loopback
services) but in its host's mount namespace, and talks to its host's libvirtd through the
daemon's UNIX socket. Nova names the node after libvirt's hostname, so the compute's ``host``
is the testbed host's name. Live migrations go peer to peer between the daemons over the
testbed network (``qemu+tcp`` to the destination's testbed address). Nova expects
``instances_path`` to be the same path on every compute (the destination's domain XML keeps
the source's disk paths): every compute keeps its instances at :data:`INSTANCES_PATH` inside
its host's private ``/var/lib/libvirt``, so the path is the same everywhere, the disks are
each host's own, and Nova migrates them as block migrations. Servers boot the testbed's canary
kernel and initramfs through glance (kernel and ramdisk images plus a small root disk the guest
never reads), with the dirtier's settings on the kernel command line, so every guest checks its
own memory and heartbeat.

Everything here is text or plain data; :mod:`hvroll.lab.nova.control` writes and starts it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hvroll.lab.nova.layout import Layout
from hvroll.lab.nova.profiles import hypervisor_version

LIBVIRT_DRIVER = "libvirt.LibvirtDriver"
INSTANCES_PATH = Path("/var/lib/libvirt/hvlab-instances")
"""Where every compute keeps its instances, inside its host's mount namespace (the testbed
bind-mounts each host's own ``lib`` directory on ``/var/lib/libvirt``)."""
PRIVSEP_SECTIONS = ("nova_sys_admin", "vif_plug_ovs_privileged",
                    "vif_plug_linux_bridge_privileged", "os_brick")
"""oslo.privsep contexts a libvirt compute may start: each gets a helper command that runs
``privsep-helper`` directly (the lab runs as root; there is no sudo)."""
CANARY_FLAVOR = "hvlab.canary"
CANARY_RAM_MIB = 256
CANARY_DISK_GIB = 1
ROOT_DISK_BYTES = 1024 * 1024
GUEST_KERNEL_FLAGS = ("console=ttyS0", "quiet", "pti=on")
"""As the testbed's canaries: ``pti=on`` keeps TCG guests intact across migrations."""


@dataclass(frozen=True, slots=True)
class QemuHost:
    """A testbed host as a compute sees it."""

    name: str
    """Hostname: Nova's service host and node name."""
    uri: str
    """libvirtd's UNIX socket URI, usable from this machine's namespaces."""
    ip: str
    """The host's testbed address: live migrations come in there."""
    lib_dir: Path
    """The host's ``/var/lib/libvirt`` as seen from this machine."""

    @property
    def instances_dir(self) -> Path:
        """:data:`INSTANCES_PATH` of this host, as seen from this machine."""
        return self.lib_dir / INSTANCES_PATH.relative_to("/var/lib/libvirt")


@dataclass(frozen=True, slots=True)
class CanaryKind:
    """A dirtier setting for canary servers (one glance image each: the kernel command line
    is an image property)."""

    name: str
    dirty_mb: int
    dirty_rate_mib_s: int

    @property
    def cmdline(self) -> str:
        return " ".join((*GUEST_KERNEL_FLAGS, f"dirty_mb={self.dirty_mb}",
                         f"dirty_rate={self.dirty_rate_mib_s}"))


IDLE = CanaryKind("canary-idle", 0, 0)
DIRTY = CanaryKind("canary-dirty", 16, 16)
HOT = CanaryKind("canary-hot", 64, 0)
"""Rewrites 64 MiB flat out: faster than pre-copy converges at the lab's bandwidth limit."""
KINDS = (IDLE, DIRTY, HOT)


def helper_command(venv: Path, config_files: list[Path]) -> str:
    argv = [str(venv / "bin" / "privsep-helper")]
    for f in config_files:
        argv += ["--config-file", str(f)]
    return shlex.join(argv)


def provider_config_dir(layout: Layout, host: str) -> Path:
    """Where ``host``'s nova-compute reads its provider config files (``[compute]
    provider_config_location``); the reinstall hook writes the profile's trait there."""
    return layout.compute_state(host) / "provider-config"


def compute_conf(layout: Layout, host: QemuHost, venv: Path, *,
                 bandwidth_mib_s: int) -> str:
    """A libvirt compute's own file (loaded after ``nova.conf``, whose values it overrides)."""
    own = layout.etc / f"nova-{host.name}.conf"
    helper = helper_command(venv, [layout.etc / "nova.conf", own])
    privsep = "".join(f"\n[{section}]\nhelper_command = {helper}\n"
                      for section in PRIVSEP_SECTIONS)
    return f"""[DEFAULT]
host = {host.name}
state_path = {layout.compute_state(host.name)}
instances_path = {INSTANCES_PATH}
compute_driver = {LIBVIRT_DRIVER}
force_raw_images = false
resume_guests_state_on_host_boot = false

[compute]
provider_config_location = {provider_config_dir(layout, host.name)}

[libvirt]
virt_type = qemu
cpu_mode = custom
cpu_models = kvm64
connection_uri = {host.uri}
live_migration_scheme = tcp
live_migration_inbound_addr = {host.ip}
live_migration_tunnelled = false
live_migration_bandwidth = {bandwidth_mib_s}
live_migration_completion_timeout = 0
live_migration_permit_post_copy = true
live_migration_permit_auto_converge = false
live_migration_timeout_action = abort
images_type = qcow2
disk_cachemodes = file=writeback
sysinfo_serial = none
wait_soft_reboot_seconds = 5

[workarounds]
disable_rootwrap = true
# pre_live_migration fetches the kernel image again through the deep format inspection, which
# takes a bzImage's boot-sector signature for an MBR and rejects it ("Safety checks failed:
# mbr"); the first boot's fetch does not inspect it. The lab's images are its own.
disable_deep_image_inspection = true
{privsep}"""


def flavor_spec() -> dict[str, Any]:
    return {"name": CANARY_FLAVOR, "vcpus": 1, "ram": CANARY_RAM_MIB, "disk": CANARY_DISK_GIB}


def image_specs(kernel_id: str, ramdisk_id: str) -> list[dict[str, Any]]:
    """The root-disk images, one per :data:`KINDS`, booting the canary kernel and ramdisk."""
    return [{"name": kind.name, "disk_format": "raw", "container_format": "bare",
             "visibility": "public", "kernel_id": kernel_id, "ramdisk_id": ramdisk_id,
             "os_command_line": kind.cmdline, "hw_machine_type": "q35",
             "hw_disk_bus": "virtio", "hw_video_model": "none", "os_type": "linux"}
            for kind in KINDS]


def kind_for(index: int, count: int, *, hot: bool = True) -> CanaryKind:
    """Server ``index`` of ``count``: the last one (if there are 4 or more, and ``hot``)
    rewrites memory faster than pre-copy converges, every second other one dirties at
    16 MiB/s, the rest idle."""
    if hot and count >= 4 and index == count - 1:
        return HOT
    return DIRTY if index % 2 == 1 else IDLE


TESTBED_PROFILE = "TB"
UPGRADED_PROFILE = "TB2"
"""The profile a libvirt-mode compute is reinstalled to: the same Debian 12, QEMU and libvirt
(every testbed host runs this machine's), a new host image an operator tells apart by the
placement trait its provider config file sets (:func:`profile_trait`)."""
PROFILES = (TESTBED_PROFILE, UPGRADED_PROFILE)
TRAIT_PREFIX = "CUSTOM_HVLAB_PROFILE_"


def profile_trait(profile: str) -> str | None:
    """The placement trait that names ``profile`` (None: the testbed as it is, no trait).

    >>> profile_trait("TB2"), profile_trait("TB")
    ('CUSTOM_HVLAB_PROFILE_TB2', None)
    """
    return None if profile == TESTBED_PROFILE else TRAIT_PREFIX + profile.upper()


def provider_yaml(profile: str) -> str | None:
    """The provider config file (Nova's schema 1.0) a compute on ``profile`` reads: its
    compute node's resource provider gets the profile's trait (None: no file)."""
    trait = profile_trait(profile)
    if trait is None:
        return None
    doc = {"meta": {"schema_version": "1.0"},
           "providers": [{"identification": {"uuid": "$COMPUTE_NODE"},
                          "traits": {"additional": [trait]}}]}
    return ("# written by hvroll's lab reinstall hook: this host's profile\n"
            + yaml.safe_dump(doc, sort_keys=False))


def host_facts_yaml(qemu_version: str, libvirt_version: str, nova_release: str) -> str:
    """The host-facts file of a libvirt-mode lab: the reinstalled testbed host (``TB2``),
    named by its placement trait, then the testbed host as it is (``TB``: Debian 12 with its
    QEMU and libvirt), named by the hypervisor version Nova reports. Profiles are tried in
    file order, so a reinstalled host, whose QEMU is the same, is named by its trait."""
    def entry(name: str, rank: int, match: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "os_name": "debian", "os_version": "12",
                "qemu_version": qemu_version, "libvirt_version": libvirt_version,
                "nova_release": nova_release, "rank": rank, "match": match}
    doc = {"version": 1, "profiles": [
        entry(UPGRADED_PROFILE, 2, {"trait": profile_trait(UPGRADED_PROFILE)}),
        entry(TESTBED_PROFILE, 1, {"hypervisor_type": "QEMU",
                                   "hypervisor_version": hypervisor_version(qemu_version)})]}
    return ("# hvroll host facts of a libvirt-mode Nova lab; format: docs/nova.md\n"
            + yaml.safe_dump(doc, sort_keys=False))
