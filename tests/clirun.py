"""Run the ``hvroll`` command line in this process, as ``hvroll.cli.main`` runs it: one place
for the CLI fixtures of every test package."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from hvroll.cli import main


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def invoke(capsys: pytest.CaptureFixture[str], args: tuple[str, ...]) -> Result:
    """Exit code, standard output and error of ``hvroll ARGS``."""
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return Result(code, out, err)
