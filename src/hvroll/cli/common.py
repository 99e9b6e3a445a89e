"""What every command shares: consoles, JSON output, progress bars, exit codes."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from pathlib import Path

    from hvroll.drivers.settings import DriverSettings
    from hvroll.executor.regions import DriverSpec

from hvroll.errors import HvrollError, InputError, SafetyError

console = Console()
err_console = Console(stderr=True)

JSON_HELP = "Print machine-readable JSON on standard output instead of tables."


def exit_code_for(exc: HvrollError) -> int:
    if isinstance(exc, InputError):
        return 2
    if isinstance(exc, SafetyError):
        return 3
    return 1


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


@contextmanager
def progress(description: str, *, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on standard error; yields ``update(done, total)``. Silent when not a
    terminal or when ``enabled`` is false (e.g. with ``--json``)."""
    if not enabled or not err_console.is_terminal:
        yield lambda _done, _total: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console, transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def require(condition: bool, message: str) -> None:
    """Raise an :class:`InputError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise InputError(message)


def finite(value: float | None) -> float | None:
    """Option callback: refuse ``nan`` and ``inf`` (click's ranges let ``nan`` through)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"expected a finite number, got {value}")
    return value


CRASH_HOSTS_HELP = ("Simulator: host crashes per host per hour of campaign (virtual) time, "
                    "e.g. 0.001. Each host crashes at most once, at a time drawn from --seed "
                    "and its name (the same run crashes the same hosts at the same times); HA "
                    "restarts its VMs on other hosts of its cluster, those with nowhere to go "
                    "are left crashed. 0: none.")


def sim_faults(*, known_issues: bool = True, crash_hosts: float = 0.0,
               fail_migrations: float = 0.0, fail_reinstalls: float = 0.0) -> dict[str, Any]:
    """The simulator's faults (keyword arguments of :class:`hvroll.drivers.sim.Faults`) that
    ``hvroll run``'s and ``hvroll worker``'s options ask for.

    >>> sim_faults(crash_hosts=0.001)
    {'known_issues': True, 'host_crash_rate_per_h': 0.001}
    """
    faults: dict[str, Any] = {"known_issues": known_issues}
    if crash_hosts:
        faults["host_crash_rate_per_h"] = crash_hosts
    if fail_migrations:
        faults["migration_failure_rate"] = fail_migrations
    if fail_reinstalls:
        faults["reinstall_failure_rate"] = fail_reinstalls
    return faults


def driver_spec(name: str, *, seed: int = 1, faults: dict[str, Any] | None = None,
                settings: DriverSettings | None = None, cloud: str | None = None,
                journal: Path | None = None, poll_s: float | None = None) -> DriverSpec:
    """What ``hvroll run``'s driver options say, the testbed's hooks included for libvirt."""
    from hvroll.executor.regions import DriverSpec
    from hvroll.testbed.driver import testbed_defaults

    return DriverSpec(name=name, seed=seed, faults=dict(faults or {}), settings=settings,
                      cloud=cloud, journal=journal, libvirt_defaults=testbed_defaults,
                      poll_s=poll_s)
