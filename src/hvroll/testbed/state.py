"""What a work directory owns: its namespace prefix and hosts (``testbed.json``).

The record is written *before* a namespace is created, so ``down`` can always find and remove
everything a crashed ``up`` left behind, and ``up`` can tell its own leftovers from namespaces that
belong to someone else.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hvroll.errors import InputError
from hvroll.testbed.layout import DEFAULT_PREFIX, Layout, check_prefix

STATE_FORMAT = 1


@dataclass(frozen=True, slots=True)
class State:
    """The prefix and the host numbers a work directory owns."""

    prefix: str = DEFAULT_PREFIX
    hosts: tuple[int, ...] = field(default=())

    def with_hosts(self, hosts: tuple[int, ...]) -> State:
        return State(prefix=self.prefix, hosts=tuple(sorted(set(hosts))))

    def owned_netns(self) -> tuple[str, ...]:
        """Every namespace name this work directory may have created."""
        if not self.hosts:
            return ()
        return (f"{self.prefix}-sw", *(f"{self.prefix}-h{n}" for n in self.hosts))


def absolute(workdir: Path | str) -> Path:
    return Path(workdir).expanduser().absolute()


def load_state(workdir: Path) -> State | None:
    """The work directory's record, or None if it never held a testbed."""
    path = Layout(absolute(workdir)).state_file
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable testbed record ({exc}); remove it by hand") from exc
    if data.get("format") != STATE_FORMAT:
        raise InputError(f"{path}: unknown testbed record format {data.get('format')!r}")
    return State(prefix=check_prefix(str(data["prefix"])),
                 hosts=tuple(int(n) for n in data.get("hosts", ())))


def save_state(workdir: Path, state: State) -> None:
    path = Layout(absolute(workdir)).state_file
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"format": STATE_FORMAT, "prefix": state.prefix,
                               "hosts": list(state.hosts)}, indent=2) + "\n")
    tmp.replace(path)


def load_layout(workdir: Path | str) -> tuple[Layout, State]:
    """The layout and record of an existing testbed; ``InputError`` if there is none."""
    path = absolute(workdir)
    state = load_state(path)
    if state is None:
        raise InputError(f"no testbed in {path}: run 'hvroll testbed up --workdir {path}' first")
    return Layout(path, state.prefix), state


@contextmanager
def locked(workdir: Path) -> Iterator[None]:
    """Hold the work directory's lock: one ``up``, ``down`` or restart at a time."""
    workdir.mkdir(parents=True, exist_ok=True)
    with (workdir / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
