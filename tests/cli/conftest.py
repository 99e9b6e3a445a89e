"""Run the ``hvroll`` command line in this process, as ``hvroll.cli.main`` runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from hvroll.cli import main


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


Cli = Callable[..., Result]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli("plan", "f.yaml", "-o", "p.json")``: exit code, standard output and error."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run
