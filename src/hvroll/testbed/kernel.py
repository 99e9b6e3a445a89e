"""The guest kernel: the machine's own Debian kernel if readable, else a downloaded package.

A kernel here is a ``vmlinuz`` plus the few virtio modules the guest loads. Downloaded packages
are unpacked once into ``<cache>/kernel/<version>/`` (only the files needed, not the 400 MB
module tree) and reused by later builds.
"""

from __future__ import annotations

import gzip
import lzma
import re
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from hvroll.errors import DriverError, InputError
from hvroll.testbed.system import run

GUEST_MODULES: tuple[str, ...] = (
    "virtio_ring",
    "virtio",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "failover",
    "net_failover",
    "virtio_net",
    "virtio_balloon",
)
"""Loaded in this order: each needs the ones before it (``virtio`` needs ``virtio_ring``)."""

KERNEL_META_PACKAGE = "linux-image-amd64"
_MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.gz")


@dataclass(frozen=True, slots=True)
class Kernel:
    """A guest kernel and its modules; ``modules`` maps a name to its uncompressed ``.ko``
    (modules built into the kernel are absent)."""

    version: str
    vmlinuz: Path
    modules: tuple[tuple[str, Path], ...]


def module_name(filename: str) -> str | None:
    """``virtio_pci.ko.xz`` → ``virtio_pci``; None for anything that is not a module file."""
    for suffix in _MODULE_SUFFIXES:
        if filename.endswith(suffix):
            return filename[: -len(suffix)].replace("-", "_")
    return None


def builtin_modules(text: str) -> frozenset[str]:
    """Module names listed in a ``modules.builtin`` file."""
    names = set()
    for line in text.splitlines():
        name = module_name(Path(line.strip()).name)
        if name:
            names.add(name)
    return frozenset(names)


def _decompress(name: str, data: bytes) -> bytes:
    if name.endswith(".xz"):
        return lzma.decompress(data)
    if name.endswith(".gz"):
        return gzip.decompress(data)
    return data


def _natural_key(text: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(p), "") if p.isdigit() else (0, p) for p in re.split(r"(\d+)", text))


def _from_tree(version: str, vmlinuz: Path, module_root: Path, out_dir: Path | None) -> Kernel:
    """A kernel whose modules are under ``module_root`` (``/lib/modules/<version>``)."""
    builtin_file = module_root / "modules.builtin"
    builtin = builtin_modules(builtin_file.read_text()) if builtin_file.is_file() else frozenset()
    found: dict[str, Path] = {}
    for path in module_root.rglob("*.ko*"):
        name = module_name(path.name)
        if name in GUEST_MODULES and name not in found:
            found[name] = path
    modules = []
    for name in GUEST_MODULES:
        if name in builtin:
            continue
        if name not in found:
            raise DriverError(
                f"guest kernel {version}: module {name} is neither built in nor in {module_root}; "
                "install a Debian linux-image package"
            )
        path = found[name]
        if path.suffix != ".ko" and out_dir is not None:
            plain = out_dir / f"{name}.ko"
            plain.write_bytes(_decompress(path.name, path.read_bytes()))
            path = plain
        modules.append((name, path))
    return Kernel(version=version, vmlinuz=vmlinuz, modules=tuple(modules))


def machine_kernel(boot: Path = Path("/boot"),
                   modules_root: Path = Path("/lib/modules")) -> tuple[str, Path] | None:
    """The newest readable ``/boot/vmlinuz-<version>`` that has a module tree, if any."""
    candidates = sorted(boot.glob("vmlinuz-*"), key=lambda p: _natural_key(p.name), reverse=True)
    for path in candidates:
        version = path.name.removeprefix("vmlinuz-")
        try:
            with path.open("rb") as handle:
                handle.read(1)
        except OSError:
            continue
        if (modules_root / version).is_dir():
            return version, path
    return None


def cached_kernel(cache_dir: Path) -> Path | None:
    """The newest fully unpacked kernel in the cache, if any."""
    done = sorted((p.parent for p in (cache_dir / "kernel").glob("*/complete")),
                  key=lambda p: _natural_key(p.name), reverse=True)
    return done[0] if done else None


def kernel_package_name() -> str:
    """The versioned package ``linux-image-amd64`` currently depends on."""
    out = run(["apt-cache", "depends", KERNEL_META_PACKAGE],
              what="finding the guest kernel package").stdout
    match = re.search(r"Depends:\s*(linux-image-\S+-amd64)\b", out)
    if match is None:
        raise InputError(
            f"cannot find a guest kernel package: {KERNEL_META_PACKAGE} has no linux-image "
            "dependency; run apt-get update"
        )
    return match.group(1)


def download_kernel(cache_dir: Path, package: str | None = None) -> Path:
    """Download a Debian kernel package and unpack its vmlinuz and guest modules into the cache."""
    package = package or kernel_package_name()
    version = package.removeprefix("linux-image-")
    target = cache_dir / "kernel" / version
    if (target / "complete").is_file():
        return target
    downloads = cache_dir / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    debs = sorted(downloads.glob(f"{package}_*.deb"))
    if not debs:
        try:
            run(["apt-get", "download", package], what=f"downloading {package}",
                cwd=downloads, timeout_s=600.0)
        except DriverError as exc:
            raise DriverError(
                f"{exc}; run apt-get update, check the machine can reach its Debian mirror, "
                "or install a kernel in /boot"
            ) from exc
        debs = sorted(downloads.glob(f"{package}_*.deb"))
        if not debs:
            raise DriverError(f"apt-get download {package} produced no .deb in {downloads}")
    target.mkdir(parents=True, exist_ok=True)
    _unpack(debs[-1], version, target)
    (target / "complete").write_text(package + "\n")
    debs[-1].unlink()
    return target


def _unpack(deb: Path, version: str, target: Path) -> None:
    """Extract only vmlinuz, modules.builtin and the guest modules from a kernel .deb."""
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|*") as tar:
            for member in tar:
                base = Path(member.name).name
                name = module_name(base)
                if member.isfile() and base == f"vmlinuz-{version}":
                    out = target / "vmlinuz"
                elif member.isfile() and base == "modules.builtin":
                    out = target / "modules.builtin"
                elif member.isfile() and name in GUEST_MODULES:
                    out = target / f"{name}.ko"
                else:
                    continue
                handle = tar.extractfile(member)
                if handle is not None:
                    out.write_bytes(_decompress(base, handle.read()))
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise DriverError(f"unpacking {deb.name} failed: {err.strip() or proc.returncode}")
    if not (target / "vmlinuz").is_file():
        raise DriverError(f"{deb.name} holds no boot/vmlinuz-{version}")


def find_kernel(cache_dir: Path) -> Kernel:
    """The guest kernel: the machine's own if readable, else a cached or downloaded package."""
    own = machine_kernel()
    if own is not None:
        version, vmlinuz = own
        out_dir = cache_dir / "kernel-modules" / version
        out_dir.mkdir(parents=True, exist_ok=True)
        return _from_tree(version, vmlinuz, Path("/lib/modules") / version, out_dir)
    unpacked = cached_kernel(cache_dir) or download_kernel(cache_dir)
    return _from_tree(unpacked.name, unpacked / "vmlinuz", unpacked, None)
