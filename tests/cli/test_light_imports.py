"""Help and light commands do not import the store, the executor, the control plane's journal,
the labs or SQLAlchemy: the modules under ``hvroll/cli/`` import those in the commands that use
them (docs/performance.md, section 34).

Each case runs in a fresh interpreter, where ``sys.modules`` shows exactly what was imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "sqlalchemy",
    "structlog",
    "hvroll.store.store",
    "hvroll.store.models",
    "hvroll.store.lease",
    "hvroll.executor.engine",
    "hvroll.executor.regions",
    "hvroll.controlplane.journal",
    "hvroll.controlplane.runner",
    "hvroll.compat.verdict",
    "hvroll.planner.build",
    "hvroll.drivers.sim",
    "hvroll.scaleout",
    "hvroll.lab.nova.api",
    "hvroll.lab.nova.control",
    "hvroll.testbed.hosts",
    "hvroll.testbed.canaries",
)
"""Modules a light invocation must not import (each costs tens to hundreds of milliseconds)."""

SCRIPT = """
import contextlib, io, json, sys
from hvroll.cli import main
seen = {}
for args in json.loads(sys.argv[1]):
    code = 0
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code
    seen[" ".join(args)] = [code, sorted(sys.modules)]
print(json.dumps(seen))
"""
"""Runs each invocation in turn in one interpreter and prints, after each, its exit code and
every module imported so far: a heavy module shows first after the invocation that imported
it."""

LIGHT = [
    ["--help"],
    ["--version"],
    ["run", "--help"],
    ["status", "--help"],
    ["worker", "--help"],
    ["demo", "--help"],
    ["check", "--help"],
    ["controlplane", "run", "--help"],
    ["lab", "nova", "up", "--help"],
    ["testbed", "guest", "add", "--help"],
    ["fleet", "schema"],
]


Seen = dict[str, tuple[int, list[str]]]


def imported_after(invocations: list[list[str]]) -> Seen:
    """Each invocation's exit code and the modules imported once it ran."""
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(invocations)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    return {args: (code, modules) for args, (code, modules) in seen.items()}


@pytest.fixture(scope="module")
def light() -> Seen:
    return imported_after(LIGHT)


@pytest.mark.parametrize("args", [" ".join(a) for a in LIGHT])
def test_a_light_invocation_imports_no_heavy_module(light: Seen, args: str) -> None:
    code, modules = light[args]
    assert (code, [m for m in HEAVY if m in modules]) == (0, [])


def test_a_command_still_imports_what_it_uses(tmp_path: Path) -> None:
    """The check above can fail: ``hvroll status`` on an empty file opens the store (and
    refuses the file, exit 2)."""
    state = tmp_path / "empty.db"
    state.touch()
    code, modules = imported_after([["status", "--state", str(state)]])[f"status --state {state}"]
    assert code == 2
    assert {"sqlalchemy", "hvroll.store.store"} <= set(modules)
