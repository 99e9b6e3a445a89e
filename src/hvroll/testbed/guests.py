"""Canary guests on testbed hosts: their domain XML, and defining and starting them.

A canary is a TCG guest (``<domain type='qemu'>``; KVM is not usable here) that boots the testbed
kernel straight into the dirtier, with its serial console appended to a file on shared storage so
the log continues across migrations. ``pti=on`` is always on the kernel command line: without it,
TCG guests that write memory during a migration can come out corrupted.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from hvroll.errors import InputError, OperationFailedError
from hvroll.testbed.image import GuestImage, load_image
from hvroll.testbed.layout import DAEMON_ADVICE, Layout, workdir_from_uri
from hvroll.testbed.state import load_state
from hvroll.testbed.system import QEMU
from hvroll.virt.binding import connection, libvirt_module

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
GUEST_KERNEL_FLAGS = ("console=ttyS0", "quiet", "pti=on")
DEFAULT_GUEST_CPU = "kvm64"
"""The CPU model canaries get unless told otherwise: libvirt's ``kvm64`` has no
vendor-specific feature, so every x86-64 host provides it, Intel or AMD. QEMU's default for a
domain without ``<cpu>`` is ``qemu64``, whose model includes AMD's ``svm``: hvroll's CPU check
would block such a guest on any host whose CPU lacks ``svm`` (every Intel host, and an AMD
host without nested virtualization)."""


@dataclass(frozen=True, slots=True)
class GuestSpec:
    """Everything a canary guest's domain XML is made from."""

    name: str
    kernel: Path
    initrd: Path
    console_log: Path
    ram_mib: int = 256
    vcpus: int = 1
    dirty_mb: int = 0
    """MiB the dirtier rewrites; 0 = heartbeat only."""
    dirty_rate_mib_s: int = 0
    """Pace of the dirtier in MiB/s of pages; 0 = as fast as possible."""
    guest_ip: str | None = None
    """``addr/bits`` for the guest's NIC (the guest pings ``.1`` for traffic counters)."""
    cpu_model: str | None = DEFAULT_GUEST_CPU
    """A ``cpu_map`` model for ``<cpu mode='custom'>``; None = QEMU's default CPU."""
    balloon: bool = True

    @property
    def mac(self) -> str:
        return guest_mac(self.name)

    @property
    def cmdline(self) -> str:
        parts = [*GUEST_KERNEL_FLAGS, f"dirty_mb={self.dirty_mb}",
                 f"dirty_rate={self.dirty_rate_mib_s}"]
        if self.guest_ip:
            parts.append(f"gip={self.guest_ip}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Guest:
    """A canary guest as defined on a host."""

    name: str
    uuid: str
    uri: str
    console_log: Path
    console_offset: int
    """Size of the console log when the guest was started: read health from here on."""
    mac: str


def guest_mac(name: str) -> str:
    """A stable locally administered MAC (``52:54:00:xx:xx:xx``) derived from the guest name."""
    digest = hashlib.sha256(name.encode()).digest()
    return "52:54:00:" + ":".join(f"{b:02x}" for b in digest[:3])


def check_spec(spec: GuestSpec) -> GuestSpec:
    """``InputError`` for a guest that cannot work (bad name, too little memory)."""
    if not _NAME_RE.match(spec.name):
        raise InputError(f"guest name {spec.name!r} is invalid: use letters, digits, '_.-'")
    if spec.ram_mib < 96:
        raise InputError(f"guest {spec.name}: ram_mib must be >= 96 (got {spec.ram_mib})")
    if spec.vcpus < 1:
        raise InputError(f"guest {spec.name}: vcpus must be >= 1 (got {spec.vcpus})")
    if spec.dirty_mb < 0 or spec.dirty_rate_mib_s < 0:
        raise InputError(f"guest {spec.name}: dirty_mb and dirty_rate_mib_s must be >= 0")
    limit = spec.ram_mib // 4
    if spec.dirty_mb > limit:
        raise InputError(
            f"guest {spec.name}: dirty_mb must be <= ram_mib/4 = {limit} (got {spec.dirty_mb}); "
            "the initramfs and kernel need the rest"
        )
    return spec


def domain_xml(spec: GuestSpec) -> str:
    """The domain XML of a canary guest.

    ``<acpi/>`` is required: without it the q35 machine gets no PCI interrupts and the guest sees
    no virtio device.
    """
    cpu = ""
    if spec.cpu_model:
        cpu = ("  <cpu mode='custom' match='exact' check='none'>"
               f"<model fallback='forbid'>{escape(spec.cpu_model)}</model></cpu>\n")
    balloon = "virtio" if spec.balloon else "none"
    return f"""\
<domain type='qemu'>
  <name>{escape(spec.name)}</name>
  <memory unit='MiB'>{spec.ram_mib}</memory>
  <vcpu>{spec.vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{escape(str(spec.kernel))}</kernel>
    <initrd>{escape(str(spec.initrd))}</initrd>
    <cmdline>{escape(spec.cmdline)}</cmdline>
  </os>
  <features><acpi/><apic/></features>
{cpu}  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>{escape(str(QEMU))}</emulator>
    <serial type='file'>
      <source path={quoteattr(str(spec.console_log))} append='on'/>
      <target port='0'/>
    </serial>
    <interface type='ethernet'>
      <mac address='{spec.mac}'/>
      <model type='virtio'/>
      <rom enabled='no'/>
    </interface>
    <memballoon model='{balloon}'/>
  </devices>
</domain>
"""


def define_guest(uri: str, name: str, ram_mib: int = 256, dirty_mb: int = 0,
                 dirty_rate_mib_s: int = 0, *, start: bool = True, guest_ip: str | None = None,
                 cpu_model: str | None = DEFAULT_GUEST_CPU,
                 image: GuestImage | None = None) -> Guest:
    """Define (persistently) and, by default, start a canary guest on the testbed host ``uri``.

    The image is the one the testbed's last ``up`` built, found from the URI's socket path.
    """
    layout = _layout_of(uri)
    image = image or load_image(layout)
    spec = check_spec(GuestSpec(
        name=name, kernel=image.kernel, initrd=image.initrd,
        console_log=layout.console_log(name), ram_mib=ram_mib, dirty_mb=dirty_mb,
        dirty_rate_mib_s=dirty_rate_mib_s, guest_ip=guest_ip, cpu_model=cpu_model,
    ))
    spec.console_log.parent.mkdir(parents=True, exist_ok=True)
    spec.console_log.touch()
    offset = spec.console_log.stat().st_size
    libvirt = libvirt_module()
    with connection(uri, advice=DAEMON_ADVICE) as conn:
        try:
            dom = conn.defineXML(domain_xml(spec))
            if start:
                dom.create()
            uuid = str(dom.UUIDString())
        except libvirt.libvirtError as exc:
            raise OperationFailedError(
                f"guest {name}: {exc.get_error_message()}", host=conn.getHostname()
            ) from exc
    return Guest(name=name, uuid=uuid, uri=uri, console_log=spec.console_log,
                 console_offset=offset, mac=spec.mac)


def _layout_of(uri: str) -> Layout:
    workdir = workdir_from_uri(uri)
    state = load_state(workdir)
    if state is None:
        raise InputError(f"{uri} names no testbed (no record in {workdir})")
    return Layout(workdir, state.prefix)
