"""Every command has help text and is documented in the README or docs/."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.core import TyperGroup, TyperOption
from typer.testing import CliRunner

from hvroll.cli import app

ROOT = Path(__file__).resolve().parents[2]


def commands(group: Any, prefix: str = "hvroll") -> Iterator[tuple[str, Any]]:
    if isinstance(group, TyperGroup):
        for name, sub in sorted(group.commands.items()):
            path = f"{prefix} {name}"
            yield path, sub
            yield from commands(sub, path)


ALL = list(commands(typer.main.get_command(app)))


def docs_text() -> str:
    parts = [(ROOT / "README.md").read_text()]
    parts += [p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))]
    return "\n".join(parts)


def test_there_are_commands() -> None:
    assert "hvroll fleet generate" in dict(ALL)


@pytest.mark.parametrize("path", [p for p, _ in ALL])
def test_command_has_help(path: str) -> None:
    command = dict(ALL)[path]
    assert (command.help or "").strip(), f"{path} has no help text"


@pytest.mark.parametrize("path", [p for p, _ in ALL])
def test_command_is_documented(path: str) -> None:
    assert f"`{path}" in docs_text(), f"{path} is not in README.md or docs/*.md"


@pytest.mark.parametrize("path", [p for p, c in ALL if not isinstance(c, TyperGroup)])
def test_options_have_help(path: str) -> None:
    command = dict(ALL)[path]
    missing = [p.name for p in command.params
               if isinstance(p, TyperOption) and not (p.help or "").strip()]
    assert missing == []


def shown(path: str) -> list[str]:
    """The lines of ``path --help`` on a wide terminal, each one's words joined by single
    spaces, without the panels' borders."""
    result = CliRunner().invoke(app, [*path.split()[1:], "--help"], env={"COLUMNS": "1000"},
                                terminal_width=1000)
    assert result.exit_code == 0, result.output
    return [" ".join(re.sub(r"[│╭╮╰╯─]", " ", line).split())
            for line in result.output.splitlines()]


@pytest.mark.parametrize("path", [p for p, _ in ALL])
def test_help_shows_each_paragraph_on_one_line_and_every_word_written(path: str) -> None:
    """A docstring's line breaks are not the terminal's, and no text in brackets or angle
    brackets is taken for markup and dropped ("[default: …]", "PREFIX")."""
    command = dict(ALL)[path]
    lines = shown(path)
    paragraphs = [" ".join(p.split()) for p in inspect.cleandoc(command.help).split("\n\n")]
    assert [p for p in paragraphs if p not in lines] == []
    options = [" ".join(p.help.split()) for p in command.params
               if isinstance(p, TyperOption) and p.help]
    assert [o for o in options if o not in " ".join(lines)] == []
