"""Finding the guest kernel and its modules."""

from __future__ import annotations

import lzma
from pathlib import Path

import pytest

from hvroll.errors import DriverError
from hvroll.testbed.kernel import (
    GUEST_MODULES,
    _from_tree,
    builtin_modules,
    machine_kernel,
    module_name,
)


@pytest.mark.parametrize(("filename", "name"), [
    ("virtio_pci.ko", "virtio_pci"),
    ("net_failover.ko.xz", "net_failover"),
    ("virtio-ring.ko.gz", "virtio_ring"),
    ("modules.dep", None),
])
def test_module_names(filename: str, name: str | None) -> None:
    assert module_name(filename) == name


def test_virtio_ring_is_loaded_before_virtio() -> None:
    assert GUEST_MODULES.index("virtio_ring") < GUEST_MODULES.index("virtio")
    assert GUEST_MODULES[-2:] == ("virtio_net", "virtio_balloon")


def test_builtin_modules_are_skipped_and_compressed_ones_unpacked(tmp_path: Path) -> None:
    tree = tmp_path / "6.1.0-test"
    (tree / "kernel" / "drivers").mkdir(parents=True)
    (tree / "modules.builtin").write_text(
        "kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_ring.ko\n")
    for name in GUEST_MODULES[2:]:
        (tree / "kernel" / "drivers" / f"{name}.ko.xz").write_bytes(lzma.compress(name.encode()))
    out = tmp_path / "out"
    out.mkdir()
    kernel = _from_tree("6.1.0-test", tmp_path / "vmlinuz", tree, out)
    assert [name for name, _ in kernel.modules] == list(GUEST_MODULES[2:])
    assert all(path.read_bytes() == name.encode() for name, path in kernel.modules)


def test_a_missing_module_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="module virtio_ring"):
        _from_tree("6.1.0-test", tmp_path / "vmlinuz", tmp_path, None)


def test_the_machine_kernel_needs_a_module_tree(tmp_path: Path) -> None:
    boot, modules = tmp_path / "boot", tmp_path / "modules"
    boot.mkdir()
    (boot / "vmlinuz-6.1.0-9-amd64").write_bytes(b"k")
    (boot / "vmlinuz-6.1.0-10-amd64").write_bytes(b"k")
    assert machine_kernel(boot, modules) is None
    (modules / "6.1.0-9-amd64").mkdir(parents=True)
    (modules / "6.1.0-10-amd64").mkdir(parents=True)
    assert machine_kernel(boot, modules) == ("6.1.0-10-amd64", boot / "vmlinuz-6.1.0-10-amd64")


def test_builtin_list_parsing() -> None:
    assert builtin_modules("kernel/a/virtio.ko\n\nkernel/b/x-y.ko\n") == {"virtio", "x_y"}
