"""The initramfs archive writer, checked by an independent reader (busybox cpio)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hvroll.testbed import cpio

ENTRIES = [
    cpio.directory("bin"),
    cpio.file("bin/tool", b"#!/bin/sh\necho hi\n", executable=True),
    cpio.symlink("bin/alias", "tool"),
    cpio.file("data", b"x" * 4097),
]


def test_same_content_gives_the_same_bytes() -> None:
    assert cpio.archive(ENTRIES) == cpio.archive(list(ENTRIES))


def test_members_are_four_byte_aligned_and_trailed() -> None:
    data = cpio.archive(ENTRIES)
    assert len(data) % 4 == 0
    assert b"TRAILER!!!\0" in data[-128:]


@pytest.mark.skipif(shutil.which("busybox") is None, reason="needs busybox")
def test_busybox_cpio_extracts_what_was_archived(tmp_path: Path) -> None:
    subprocess.run(["busybox", "cpio", "-i", "-d"], input=cpio.archive(ENTRIES), cwd=tmp_path,
                   check=True, capture_output=True)
    assert (tmp_path / "bin" / "tool").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert (tmp_path / "bin" / "tool").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "bin" / "alias").readlink() == Path("tool")
    assert (tmp_path / "data").read_bytes() == b"x" * 4097
