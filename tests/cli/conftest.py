"""Run the ``hvroll`` command line in this process, as ``hvroll.cli.main`` runs it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clirun import Result, invoke

Cli = Callable[..., Result]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli("plan", "f.yaml", "-o", "p.json")``: exit code, standard output and error."""

    def run(*args: str) -> Result:
        return invoke(capsys, args)

    return run
