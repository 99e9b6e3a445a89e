"""Fixtures for the testbed tests.

Tests marked ``libvirt`` share one testbed of three hosts per session, in a temporary work
directory and under a namespace prefix of their own, so leftovers of other runs cannot interfere.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hvroll import testbed as tb

N_HOSTS = 3


@dataclass(frozen=True)
class Session:
    """Where this session's testbed lives."""

    workdir: Path
    prefix: str

    def up(self) -> tb.Testbed:
        """The session's testbed, brought up (again) if needed: ``up`` is idempotent."""
        return tb.up(N_HOSTS, self.workdir, "CPv1", prefix=self.prefix)


def _can_run_testbed() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if shutil.which("libvirtd") is None and not Path("/usr/sbin/libvirtd").exists():
        return "needs libvirt-daemon-system"
    return None


@pytest.fixture(scope="session")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    reason = _can_run_testbed()
    if reason:
        pytest.skip(f"testbed {reason}")
    bed = Session(workdir=tmp_path_factory.mktemp("tb"), prefix=f"t{secrets.token_hex(4)}")
    try:
        yield bed
    finally:
        tb.down(bed.workdir)


@pytest.fixture
def testbed(session: Session) -> tb.Testbed:
    return session.up()
