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

from hvroll.drivers.base import Capability, Driver, JobProgress, MigrationOptions, has


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
    slow: float | None = None
    """For a driver that declares ``bandwidth_limit``: a cap, MiB/s, that keeps a fresh VM's
    live migration running for several waits (long enough to watch its progress, abort it,
    or restart the driver)."""
    make_slow: Callable[[str], None] | None = None
    """For a driver without ``bandwidth_limit``: make the next live migration of this VM run
    for several waits (the Nova lab: its fake migration's knobs)."""
    opened: list[Driver] = field(default_factory=list)

    def driver(self) -> Driver:
        d = self.opener(self.journal)
        self.opened.append(d)
        return d

    def vm(self, *, running: bool = True) -> str:
        return self.make_vm(running)

    def slow_options(self, driver: Driver, vm: str) -> MigrationOptions:
        """Options for a live migration of ``vm`` that runs long enough to be watched: a
        bandwidth cap where the driver declares one, else the backend's own way."""
        if has(driver, Capability.BANDWIDTH_LIMIT):
            assert self.slow is not None, f"{self.name}: declares bandwidth_limit, no cap given"
            return MigrationOptions(bandwidth_mib_s=self.slow)
        assert self.make_slow is not None, f"{self.name}: no way to slow a migration"
        self.make_slow(vm)
        return MigrationOptions()

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
