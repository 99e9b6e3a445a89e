"""The examples in the package's docstrings (``>>>``) are run, so none goes stale."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def modules_with_examples() -> list[str]:
    names = []
    for path in sorted((SRC / "hvroll").rglob("*.py")):
        if ">>> " in path.read_text(encoding="utf-8"):
            parts = path.with_suffix("").relative_to(SRC).parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = modules_with_examples()


def test_there_are_examples() -> None:
    assert "hvroll.executor.context" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_of_a_module_hold(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS,
                             report=False)
    assert (result.attempted > 0, result.failed) == (True, 0), \
        f"{name}: {result.failed} of {result.attempted} examples failed (python -m doctest -v)"
