"""The canary guest image: a Debian kernel plus a 2 MB initramfs (busybox, virtio modules, the
dirtier), cached by the hash of everything that goes into it.

The guest's ``/init`` loads the modules, optionally brings up its NIC (kernel parameter
``gip=<addr>/<bits>``, pinging ``.1`` every 2 s so the interface has traffic counters) and execs
the dirtier, whose console lines are the guest's health signal.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from hvroll.errors import DriverError
from hvroll.testbed import cpio
from hvroll.testbed.kernel import Kernel, find_kernel
from hvroll.testbed.layout import Layout
from hvroll.testbed.system import BUSYBOX, compile_c

IMAGE_FORMAT = 1
"""Bump when the image layout changes without any input file changing."""


@dataclass(frozen=True, slots=True)
class GuestImage:
    """A built guest image on shared storage."""

    kernel: Path
    initrd: Path
    kernel_version: str
    digest: str


def guest_init(modules: tuple[str, ...]) -> str:
    """The guest's ``/init`` (busybox sh, PID 1)."""
    names = " ".join(modules)
    return f"""\
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
for m in {names}; do
    insmod /lib/modules/$m.ko || echo "GUEST-ERROR insmod $m failed"
done
gip=""
for word in $(cat /proc/cmdline); do
    case "$word" in gip=*) gip="${{word#gip=}}" ;; esac
done
ip link set lo up
if [ -n "$gip" ]; then
    ip addr add "$gip" dev eth0 && ip link set eth0 up
    addr="${{gip%/*}}"
    peer="${{addr%.*}}.1"
    (while true; do ping -c 1 -W 1 "$peer" >/dev/null 2>&1; sleep 2; done) &
fi
echo "GUEST-INIT $(uname -r) ready"
exec /bin/dirtier
"""


def initramfs_entries(kernel: Kernel, busybox: bytes, dirtier: bytes) -> list[cpio.Entry]:
    """Everything in the initramfs, parents before children."""
    entries = [cpio.directory(d) for d in ("bin", "dev", "proc", "sys", "tmp", "lib",
                                           "lib/modules")]
    entries += [
        cpio.char_device("dev/console", 5, 1),
        cpio.char_device("dev/null", 1, 3),
        cpio.file("bin/busybox", busybox, executable=True),
        cpio.symlink("bin/sh", "busybox"),
        cpio.file("bin/dirtier", dirtier, executable=True),
        cpio.file("init", guest_init(tuple(n for n, _ in kernel.modules)).encode(),
                  executable=True),
    ]
    entries += [cpio.file(f"lib/modules/{name}.ko", path.read_bytes())
                for name, path in kernel.modules]
    return entries


def _digest(kernel_bytes: bytes, entries: list[cpio.Entry]) -> str:
    h = hashlib.sha256(f"format={IMAGE_FORMAT}\n".encode())
    h.update(hashlib.sha256(kernel_bytes).digest())
    for entry in entries:
        h.update(f"{entry.path}:{entry.mode}:{entry.rdev_major}:{entry.rdev_minor}:".encode())
        h.update(hashlib.sha256(entry.data).digest())
    return h.hexdigest()[:16]


def _place(source: Path, target: Path) -> None:
    tmp = target.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    tmp.replace(target)


def build_image(layout: Layout) -> GuestImage:
    """Build the guest image into shared storage, or reuse the one with the same content hash."""
    kernel = find_kernel(layout.cache_dir)
    dirtier = compile_c("guest/dirtier.c", layout.cache_dir / "bin", static=True)
    entries = initramfs_entries(kernel, BUSYBOX.read_bytes(), dirtier.read_bytes())
    kernel_bytes = kernel.vmlinuz.read_bytes()
    digest = _digest(kernel_bytes, entries)
    image_dir = layout.shared_dir / "images" / digest
    image = GuestImage(kernel=image_dir / "vmlinuz", initrd=image_dir / "initrd.gz",
                       kernel_version=kernel.version, digest=digest)
    if not (image.kernel.is_file() and image.initrd.is_file()):
        image_dir.mkdir(parents=True, exist_ok=True)
        _place(kernel.vmlinuz, image.kernel)
        tmp = image.initrd.with_suffix(".tmp")
        tmp.write_bytes(gzip.compress(cpio.archive(entries), compresslevel=6, mtime=0))
        tmp.replace(image.initrd)
    save_image(layout, image)
    return image


def save_image(layout: Layout, image: GuestImage) -> None:
    layout.image_file.parent.mkdir(parents=True, exist_ok=True)
    layout.image_file.write_text(json.dumps({
        "kernel": str(image.kernel), "initrd": str(image.initrd),
        "kernel_version": image.kernel_version, "digest": image.digest,
    }, indent=2) + "\n")


def load_image(layout: Layout) -> GuestImage:
    """The image the last ``up`` built; ``DriverError`` if there is none."""
    try:
        data = json.loads(layout.image_file.read_text())
        image = GuestImage(kernel=Path(data["kernel"]), initrd=Path(data["initrd"]),
                           kernel_version=str(data["kernel_version"]),
                           digest=str(data["digest"]))
    except (OSError, ValueError, KeyError) as exc:
        raise DriverError(
            f"no guest image in {layout.shared_dir}: run 'hvroll testbed up' first"
        ) from exc
    if not (image.kernel.is_file() and image.initrd.is_file()):
        raise DriverError(f"guest image {image.digest} is incomplete: run 'hvroll testbed up'")
    return image
