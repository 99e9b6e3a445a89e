"""Fixtures for the Nova lab tests.

Tests marked ``nova`` get one lab per test module (``nova_lab``), in a temporary work directory,
stopped at the module's end. Nova's virtual environment is installed once into the shared cache
(``HVROLL_LAB_CACHE``, default ``/var/cache/hvroll-lab``) the first time any lab starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clirun import Result, invoke
from hvroll.lab import nova


@dataclass(frozen=True)
class RunningLab:
    workdir: Path
    report: nova.UpReport

    @property
    def clouds_yaml(self) -> Path:
        return self.report.clouds_yaml


def start_lab(tmp: Path, computes: int, servers: int) -> RunningLab:
    if os.geteuid() != 0:
        pytest.fail("the Nova lab tests need root (run them as CI does, as root)")
    report = nova.up(tmp, computes, servers)
    return RunningLab(workdir=tmp, report=report)


@pytest.fixture(scope="module")
def nova_lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[RunningLab]:
    """A lab for this module: ``LAB_COMPUTES`` and ``LAB_SERVERS`` of the module (3 and 6)."""
    computes = getattr(request.module, "LAB_COMPUTES", 3)
    servers = getattr(request.module, "LAB_SERVERS", 6)
    lab = start_lab(tmp_path_factory.mktemp("novalab"), computes, servers)
    try:
        yield lab
    finally:
        nova.down(lab.workdir)


@pytest.fixture
def hv(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
       ) -> Callable[..., Result]:
    """``hv("lab", "nova", "status", env={...})``: ``hvroll`` run as ``hvroll.cli.main`` runs
    it, in this process: exit code, standard output and error."""

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        with monkeypatch.context() as m:
            for key in ("OS_CLOUD", "OS_CLIENT_CONFIG_FILE"):
                m.delenv(key, raising=False)
            for key, value in (env or {}).items():
                m.setenv(key, value)
            return invoke(capsys, args)

    return run
