"""A minimal writer for the ``newc`` cpio format the Linux kernel unpacks as its initramfs.

Entries carry no timestamps or owners, so the same content always gives the same bytes (and the
same image hash).
"""

from __future__ import annotations

import stat
from dataclasses import dataclass

_MAGIC = b"070701"


@dataclass(frozen=True, slots=True)
class Entry:
    """One archive member. ``data`` is the file content or, for a symlink, its target."""

    path: str
    mode: int
    data: bytes = b""
    rdev_major: int = 0
    rdev_minor: int = 0


def directory(path: str) -> Entry:
    return Entry(path, stat.S_IFDIR | 0o755)


def file(path: str, data: bytes, *, executable: bool = False) -> Entry:
    return Entry(path, stat.S_IFREG | (0o755 if executable else 0o644), data)


def symlink(path: str, target: str) -> Entry:
    return Entry(path, stat.S_IFLNK | 0o777, target.encode())


def char_device(path: str, major: int, minor: int) -> Entry:
    return Entry(path, stat.S_IFCHR | 0o600, b"", major, minor)


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


def _header(ino: int, entry: Entry, name: bytes) -> bytes:
    fields = (ino, entry.mode, 0, 0, 2 if stat.S_ISDIR(entry.mode) else 1, 0, len(entry.data),
              0, 0, entry.rdev_major, entry.rdev_minor, len(name) + 1, 0)
    return _MAGIC + b"".join(f"{value:08x}".encode() for value in fields)


def archive(entries: list[Entry]) -> bytes:
    """The cpio archive of ``entries`` in order, with its trailer. Paths are relative
    (``bin/busybox``); parents must come before their children."""
    out = bytearray()
    for ino, entry in enumerate([*entries, Entry("TRAILER!!!", 0)], start=1):
        name = entry.path.lstrip("/").encode()
        head = _header(ino if entry.mode else 0, entry, name) + name + b"\0"
        out += head + _pad(len(head)) + entry.data + _pad(len(entry.data))
    return bytes(out)
