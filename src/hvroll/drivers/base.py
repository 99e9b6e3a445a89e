"""What the executor needs from a cloud: a narrow protocol every backend implements.

The executor only talks to the cloud through a :class:`Driver`. Backends (the simulator, real
libvirt, later Nova) declare what they can do as data (:class:`Capability`), translate their
native states into these types (the raw payload stays in ``extra``) and their errors into
:mod:`hvroll.errors` (``raise DriverError(...) from exc``).

Long operations — live and cold migrations, reinstalls — are *jobs*: the executor names each
with its own idempotency key (``job``), starts it, and follows it with :meth:`Driver.wait` and
:meth:`Driver.job` until it ends in ``completed``, ``failed`` or ``cancelled``. After a crash
the executor finds its jobs again with :meth:`Driver.jobs` and the live view of hosts and VMs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from hvroll.domain import PowerState, SchedulingState
from hvroll.errors import DriverError


class Clock(Protocol):
    """Time as the executor sees it; the simulator's runs in virtual time."""

    def now(self) -> float:
        """Seconds since an arbitrary origin (monotonic)."""
        ...

    def sleep(self, seconds: float) -> None: ...


class RealClock:
    """Wall-clock time."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class Capability(StrEnum):
    """What a backend can do at all (what both hosts' versions allow is decided by compat)."""

    SCHEDULING = "scheduling"
    LIVE_MIGRATION = "live_migration"
    MAX_DOWNTIME = "max_downtime"
    BANDWIDTH_LIMIT = "bandwidth_limit"
    AUTO_CONVERGE = "auto_converge"
    POST_COPY = "post_copy"
    BLOCK_MIGRATION = "block_migration"
    COLD_MIGRATION = "cold_migration"
    SUSPEND = "suspend"
    REMOVE_BALLOON = "remove_balloon"
    REINSTALL = "reinstall"
    PROBE = "probe"


class JobKind(StrEnum):
    LIVE_MIGRATION = "live_migration"
    COLD_MIGRATION = "cold_migration"
    REINSTALL = "reinstall"


class JobPhase(StrEnum):
    """A job's phase; ``completed``, ``failed`` and ``cancelled`` are final."""

    RUNNING = "running"
    POSTCOPY = "postcopy"
    """A live migration switched to post-copy: the guest runs on the destination already."""
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_PHASES = frozenset({JobPhase.COMPLETED, JobPhase.FAILED, JobPhase.CANCELLED})


@dataclass(frozen=True, slots=True)
class MigrationOptions:
    """How to run one live migration; units in names."""

    max_downtime_ms: int = 500
    bandwidth_mib_s: float | None = None
    """None: as fast as the link allows."""
    auto_converge: bool = False
    post_copy: bool = False
    """Allow a later switch to post-copy with :meth:`Driver.start_post_copy`."""
    block: bool = False
    """Copy local disks too (block migration)."""


@dataclass(frozen=True, slots=True)
class HostState:
    """A host as the backend sees it now."""

    name: str
    profile: str
    scheduling: SchedulingState
    up: bool
    vms: tuple[str, ...]
    """Every VM defined on this host, whatever its power state: a host is empty, and may be
    reinstalled, only when this is empty."""


@dataclass(frozen=True, slots=True)
class VmState:
    """A VM as the backend sees it now. ``hosts`` lists every host it is defined on, in any
    power state (normally one; two is a split brain; none means it exists nowhere)."""

    name: str
    hosts: tuple[str, ...]
    power: PowerState


@dataclass(frozen=True, slots=True)
class JobProgress:
    """A job's progress and, once final, its outcome. Sizes in MiB, times in seconds."""

    job: str
    kind: JobKind
    phase: JobPhase
    vm: str | None = None
    source: str | None = None
    dest: str | None = None
    started_s: float = 0.0
    elapsed_s: float = 0.0
    total_mib: float = 0.0
    processed_mib: float = 0.0
    remaining_mib: float = 0.0
    iteration: int = 0
    dirty_rate_mib_s: float = 0.0
    expected_downtime_ms: float = 0.0
    throttle_pct: int = 0
    downtime_ms: float | None = None
    """The real downtime, once completed."""
    error: str | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.phase in FINAL_PHASES


@runtime_checkable
class Driver(Protocol):
    """A cloud the executor can drive."""

    name: str
    capabilities: frozenset[Capability]
    clock: Clock

    def hosts(self) -> list[HostState]: ...

    def vms(self) -> list[VmState]: ...

    def host(self, name: str) -> HostState:
        """One host's live state (raises ``DriverError`` if unknown)."""
        ...

    def vm(self, name: str) -> VmState:
        """One VM's live state; ``hosts`` is empty if it exists nowhere."""
        ...

    def set_scheduling(self, host: str, enabled: bool) -> None:
        """Allow or stop new VMs being placed on ``host`` (idempotent)."""
        ...

    def migrate(self, job: str, vm: str, dest: str, options: MigrationOptions) -> None:
        """Start a live migration of ``vm`` to ``dest`` as job ``job``; returns at once."""
        ...

    def cold_migrate(self, job: str, vm: str, dest: str) -> None:
        """Start moving a VM that is off, or stop, move and start it (``job``)."""
        ...

    def reinstall(self, job: str, host: str, profile: str) -> None:
        """Start the operator's reinstall hook for an empty ``host`` (``job``)."""
        ...

    def job(self, job: str) -> JobProgress:
        """The progress of a job this driver started (raises ``DriverError`` if unknown)."""
        ...

    def jobs(self) -> list[JobProgress]:
        """Every job the backend still knows, running or final (for reconciliation)."""
        ...

    def wait(self, timeout_s: float) -> list[str]:
        """Wait until some jobs may have progressed, at most ``timeout_s``; return their ids.

        The simulator jumps virtual time to its next event; real backends sleep a poll
        interval and return every running job.
        """
        ...

    def set_max_downtime(self, job: str, downtime_ms: int) -> None: ...

    def start_post_copy(self, job: str) -> None: ...

    def abort(self, job: str) -> None:
        """Cancel a running live migration; the VM keeps running on its source."""
        ...

    def suspend(self, vm: str) -> None: ...

    def resume(self, vm: str) -> None: ...

    def apply_workaround(self, vm: str, action: str) -> None:
        """Apply a named workaround before migrating (e.g. ``remove_balloon``)."""
        ...

    def host_profile(self, host: str) -> str:
        """The profile the host reports now (to verify a reinstall)."""
        ...

    def probe(self, vm: str) -> bool:
        """Is the VM reachable (answers on its network) right now?"""
        ...


class JobRecord(Protocol):
    """What a backend remembers of a job it started (for idempotent starts)."""

    kind: JobKind
    vm: str | None
    source: str | None
    dest: str | None
    profile: str | None


def job_reused(job: str, found: JobRecord | None, kind: JobKind, subject: str,
               target: str) -> bool:
    """True if ``job`` was already started with these arguments (starting it again is a
    no-op); ``DriverError`` if the id names another job. ``subject``/``target`` are the VM and
    destination of a migration, the host and profile of a reinstall."""
    if found is None:
        return False
    same = ((found.source, found.profile) if kind is JobKind.REINSTALL
            else (found.vm, found.dest))
    if found.kind is kind and same == (subject, target):
        return True
    raise DriverError(f"job id {job!r} is already used by a {found.kind.value} of "
                      f"{found.vm or found.source}")
