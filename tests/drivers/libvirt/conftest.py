"""Fixtures of the libvirt driver's tests: one testbed of three hosts for the session."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from drivers.libvirt.bed import Bed, cannot_run


@pytest.fixture(scope="session")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    """The session's testbed; taken down at the end, and checked to leave nothing behind."""
    reason = cannot_run()
    if reason:
        pytest.skip(f"testbed {reason}")
    b = Bed(workdir=tmp_path_factory.mktemp("lv"), prefix=f"l{secrets.token_hex(3)}")
    try:
        b.up()
        yield b
    finally:
        b.down_and_check()
