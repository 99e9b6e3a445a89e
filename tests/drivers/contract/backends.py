"""The backends the conformance suite runs against, each behind one small adapter.

A backend is added to the suite by one fixture in ``conftest.py`` that yields a
:class:`Backend`: it opens drivers on one journal, names three hosts, and makes VMs on the
first. Everything the tests check goes through the driver contract
(:mod:`hvroll.drivers.base`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hvroll.drivers.base import Driver, JobProgress


@dataclass
class Backend:
    """One backend under test."""

    name: str
    opener: Callable[[Path], Driver]
    """A new driver on a journal (a restart is a new driver on the same journal)."""
    make_vm: Callable[[bool], str]
    """A new VM on :attr:`source`: running (``True``) or shut off; returns its name."""
    source: str
    dest: str
    profile: str
    """A profile the backend can reinstall a host as."""
    journal: Path
    poll_s: float
    """How long one ``wait`` may take (virtual time for the simulator)."""
    patience: int
    """How many ``wait`` calls a migration may take to end."""
    slow: float
    """A bandwidth cap, MiB/s, that keeps a fresh VM's live migration running for several
    waits (long enough to watch its progress, abort it, or restart the driver)."""
    opened: list[Driver] = field(default_factory=list)

    def driver(self) -> Driver:
        d = self.opener(self.journal)
        self.opened.append(d)
        return d

    def vm(self, *, running: bool = True) -> str:
        return self.make_vm(running)

    def until_final(self, driver: Driver, job: str) -> JobProgress:
        for _ in range(self.patience):
            if driver.job(job).final:
                return driver.job(job)
            driver.wait(self.poll_s)
        raise AssertionError(f"{self.name}: {job} did not end: {driver.job(job)}")

    def until(self, driver: Driver, job: str, ok: Callable[[JobProgress], bool],
              what: str) -> JobProgress:
        for _ in range(self.patience):
            p = driver.job(job)
            if ok(p):
                return p
            assert not p.final, f"{self.name}: {job} ended before {what}: {p}"
            driver.wait(self.poll_s)
        raise AssertionError(f"{self.name}: {job} never {what}: {driver.job(job)}")

    def close_all(self) -> None:
        for d in self.opened:
            d.close()
        self.opened.clear()
