"""What the executor needs from a cloud: a narrow contract every backend implements.

The executor only talks to the cloud through a :class:`Driver`: a live view of hosts and VMs,
scheduling on/off, the jobs it started, and a lifecycle (``close()``, or ``with``). Everything
else is a *feature*, which a backend declares as data in ``capabilities`` and implements as
one small protocol; the executor asks :func:`require` for it before using it, so a backend
without :attr:`Capability.REINSTALL` is never asked to reinstall, and asking anyway is a
:class:`~hvroll.errors.CapabilityError` that names the capability::

    Capability            feature protocol       methods
    live_migration        Migrates               migrate(job, vm, dest, options), abort(job)
    auto_converge         (an option)            MigrationOptions.auto_converge
    bandwidth_limit       (an option)            MigrationOptions.bandwidth_mib_s
    block_migration       (an option)            MigrationOptions.block
    post_copy             SwitchesToPostCopy     MigrationOptions.post_copy, start_post_copy(job)
    post_copy_block       SwitchesToPostCopy     start_post_copy(job) of a block migration too
    max_downtime          TunesDowntime          set_max_downtime(job, downtime_ms)
    measured_downtime     (a report)             JobProgress.downtime_ms once completed
    suspend               Suspends               suspend(vm), resume(vm)
    cold_migration        ColdMigrates           cold_migrate(job, vm, dest)
    reinstall             Reinstalls             reinstall(job, host, profile)
    probe                 Probes                 probe(vm)
    remove_balloon        AppliesWorkarounds     apply_workaround(vm, "remove_balloon")
    copy_config_drive     AppliesWorkarounds     apply_workaround(vm, "copy_config_drive")

Backends translate their native states into these types (the raw payload stays in ``extra``)
and their errors into :mod:`hvroll.errors` (``raise DriverError(...) from exc``); they refuse
bad arguments through the shared checks of :mod:`hvroll.drivers.checks`, and remember what
must survive their process in one :mod:`hvroll.drivers.journal`.

Long operations — live and cold migrations, reinstalls — are *jobs*: the executor names each
with its own idempotency key (``job``), starts it, and follows it with :meth:`Driver.wait` and
:meth:`Driver.job` until it ends in ``completed``, ``failed`` or ``cancelled``. After a crash
a new driver opened on the same journal finds those jobs again (:meth:`Driver.jobs`), and the
executor reconciles them with the live view of hosts and VMs.

A backend is a class with ``name``, ``capabilities``, ``clock`` and the methods of
:class:`Driver` and of each feature it declares; :class:`Lifecycle` gives it ``with``. The
conformance suite (``tests/drivers/contract/``) runs every backend through the same checks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from types import MappingProxyType, TracebackType
from typing import Literal, NamedTuple, Protocol, Self, cast, overload, runtime_checkable

from hvroll.domain import PowerState, SchedulingState
from hvroll.errors import CapabilityError


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
    """A feature a backend has at all, declared as data (what both hosts' versions allow is
    decided by compat). See the table at the top of this module."""

    LIVE_MIGRATION = "live_migration"
    AUTO_CONVERGE = "auto_converge"
    BANDWIDTH_LIMIT = "bandwidth_limit"
    BLOCK_MIGRATION = "block_migration"
    POST_COPY = "post_copy"
    POST_COPY_BLOCK = "post_copy_block"
    """Post-copy also for a block migration (local disks mirrored first, then the memory
    switched over), so the ladder offers post-copy to VMs with local disks. Nova's
    force-complete does it; the simulator and the libvirt driver do not declare it."""
    MAX_DOWNTIME = "max_downtime"
    MEASURED_DOWNTIME = "measured_downtime"
    """A completed live migration reports the guest's real downtime; without it
    ``JobProgress.downtime_ms`` stays None (Nova's API does not report it)."""
    SUSPEND = "suspend"
    COLD_MIGRATION = "cold_migration"
    REINSTALL = "reinstall"
    PROBE = "probe"
    REMOVE_BALLOON = "remove_balloon"
    COPY_CONFIG_DRIVE = "copy_config_drive"


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


# The records of the live view and of jobs are named tuples: as immutable as a frozen
# dataclass (a changed copy is ``record._replace(...)``), and built in a fraction of its time,
# which sets each field through ``object.__setattr__``. The simulator answers about 100,000
# reads a run with them.


class HostState(NamedTuple):
    """A host as the backend sees it now."""

    name: str
    profile: str
    scheduling: SchedulingState
    up: bool
    vms: tuple[str, ...]
    """Every VM defined on this host, whatever its power state: a host is empty, and may be
    reinstalled, only when this is empty."""


class VmState(NamedTuple):
    """A VM as the backend sees it now. ``hosts`` lists every host it is defined on, in any
    power state (normally one; two is a split brain; none means it exists nowhere)."""

    name: str
    hosts: tuple[str, ...]
    power: PowerState


class JobProgress(NamedTuple):
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
    """The real downtime, once completed, from a backend that declares
    ``measured_downtime``; otherwise None."""
    error: str | None = None
    extra: Mapping[str, object] = MappingProxyType({})
    """The backend's raw payload (empty and read-only unless given)."""

    @property
    def final(self) -> bool:
        return self.phase in FINAL_PHASES


@runtime_checkable
class Driver(Protocol):
    """A cloud the executor can drive: what every backend implements.

    Unknown names raise ``DriverError`` (``unknown host 'x'``, ``unknown VM 'x'``,
    ``unknown job 'x'``); a host that cannot be reached raises ``ConnectionLostError``.
    """

    name: str
    capabilities: frozenset[Capability]
    """What this backend (as configured) can do beyond this protocol; see :func:`require`."""
    clock: Clock
    durable: bool
    """Whether the cloud keeps its state through a crash of the machine running hvroll: a
    real cloud does (its hosts and VMs are the truth, the executor reconciles with them), so
    the campaign's state file waits for the disk; the simulator's world lives only in its
    journal, written without a sync, so the state file need not either
    (:meth:`~hvroll.store.Store.sync_to_disk`)."""

    def host(self, name: str) -> HostState:
        """One host's live state."""
        ...

    def vm(self, name: str) -> VmState:
        """One VM's live state; ``hosts`` is empty if the backend knows it but it exists
        nowhere now."""
        ...

    def vms(self) -> list[VmState]:
        """Every VM the backend sees, one entry per name."""
        ...

    def host_profile(self, host: str) -> str:
        """The profile the host reports now, asked of the host (to verify a reinstall)."""
        ...

    def set_scheduling(self, host: str, enabled: bool) -> None:
        """Allow or stop new VMs being placed on ``host`` (idempotent)."""
        ...

    def job(self, job: str) -> JobProgress:
        """The progress of a job this driver or its journal started."""
        ...

    def jobs(self) -> list[JobProgress]:
        """Every job this driver or its journal still knows, running or final (for
        reconciliation after a restart)."""
        ...

    def wait(self, timeout_s: float) -> list[str]:
        """Wait until some jobs may have progressed, at most ``timeout_s``; return their ids.

        The simulator jumps virtual time to its next event; real backends sleep at most a
        poll interval and return the jobs that changed and every running one.
        """
        ...

    def close(self) -> None:
        """Release connections and the journal (idempotent). Jobs running in the cloud go on;
        a driver opened on the same journal finds them again."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None: ...


class Lifecycle:
    """``with driver: ...`` closes the driver at the end of the block (its ``close()``)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


# --- features: each one protocol, declared by a capability ------------------------------------


@runtime_checkable
class Migrates(Driver, Protocol):
    """``live_migration``; its options need ``auto_converge``, ``bandwidth_limit``,
    ``block_migration`` and ``post_copy`` (see :func:`hvroll.drivers.checks.migration`)."""

    def migrate(self, job: str, vm: str, dest: str, options: MigrationOptions) -> None:
        """Start a live migration of ``vm`` to ``dest`` as job ``job``; returns at once."""
        ...

    def abort(self, job: str) -> None:
        """Cancel a running live migration; the VM keeps running on its source."""
        ...


@runtime_checkable
class SwitchesToPostCopy(Migrates, Protocol):
    """``post_copy`` (Nova: force-complete with post-copy permitted)."""

    def start_post_copy(self, job: str) -> None:
        """Switch a live migration started with ``post_copy`` to post-copy now."""
        ...


@runtime_checkable
class TunesDowntime(Migrates, Protocol):
    """``max_downtime``: raise a running live migration's downtime limit."""

    def set_max_downtime(self, job: str, downtime_ms: int) -> None: ...


@runtime_checkable
class Suspends(Driver, Protocol):
    """``suspend``: pause a guest (to let its migration complete) and resume it."""

    def suspend(self, vm: str) -> None: ...

    def resume(self, vm: str) -> None: ...


@runtime_checkable
class ColdMigrates(Driver, Protocol):
    """``cold_migration``."""

    def cold_migrate(self, job: str, vm: str, dest: str) -> None:
        """Start moving a VM that is off, or stop, move and start it (``job``)."""
        ...


@runtime_checkable
class Reinstalls(Driver, Protocol):
    """``reinstall``: run the operator's reinstall for an empty host."""

    def reinstall(self, job: str, host: str, profile: str) -> None:
        """Start reinstalling ``host`` as ``profile`` (``job``); ``SafetyError`` if the backend
        sees any VM or migration on it."""
        ...


@runtime_checkable
class Probes(Driver, Protocol):
    """``probe``: is a guest reachable (answers on its network) right now?"""

    def probe(self, vm: str) -> bool: ...


@runtime_checkable
class AppliesWorkarounds(Driver, Protocol):
    """``remove_balloon``, ``copy_config_drive``: a named workaround before migrating."""

    def apply_workaround(self, vm: str, action: str) -> None: ...


@runtime_checkable
class WaitsUntil(Driver, Protocol):
    """A backend that answers a whole poll in one call (the simulator, whose time moves only
    when asked, and whose ``wait`` returns at each event): not a feature but a shortcut, with
    the answer of the loop it replaces."""

    def wait_until(self, until_s: float) -> list[str]:
        """What :func:`poll` returns for ``until_s``, with the same effects (the same waits,
        so the same virtual time and journal)."""
        ...


POLL_SLACK_S = 1e-9
"""A change this close before a poll's end ends the poll: the clock's sums of seconds may
stop a hair short of the end the poll computed (:func:`poll_over`)."""


def poll_over(now_s: float, until_s: float, left_s: float) -> bool:
    """Whether a poll until ``until_s`` is over once a :meth:`Driver.wait` given ``left_s``
    (``until_s`` minus the clock before it) returned at ``now_s``: the clock is within
    :data:`POLL_SLACK_S` of the end or past it, or the wait was given no time.

    >>> poll_over(10.0, 10.0, 2.5), poll_over(10.0 - 1e-10, 10.0, 2.5), poll_over(9.5, 10.0, 2.5)
    (True, True, False)
    >>> poll_over(9.5, 10.0, 0.0)
    True
    """
    return now_s >= until_s - POLL_SLACK_S or left_s <= 0


def poll(driver: Driver, until_s: float, clock: Clock | None = None,
         wait: Callable[[float], Iterable[str]] | None = None) -> list[str]:
    """Every job ``driver`` reports changed until ``clock`` (the driver's by default) reads
    ``until_s``, each once, in the order first reported: waits (``driver.wait`` by default),
    each given the time left, until the poll is over (:func:`poll_over`). A real backend's
    wait returns when something changes or at its poll interval, the simulator's at each
    instant a job changes."""
    clock = driver.clock if clock is None else clock
    wait = driver.wait if wait is None else wait
    changed: dict[str, None] = {}
    while True:
        left = until_s - clock.now()
        changed.update(dict.fromkeys(wait(max(left, 0.0))))
        if poll_over(clock.now(), until_s, left):
            return list(changed)


FEATURES: Mapping[Capability, type] = {
    Capability.LIVE_MIGRATION: Migrates,
    Capability.AUTO_CONVERGE: Migrates,
    Capability.BANDWIDTH_LIMIT: Migrates,
    Capability.BLOCK_MIGRATION: Migrates,
    Capability.POST_COPY: SwitchesToPostCopy,
    Capability.POST_COPY_BLOCK: SwitchesToPostCopy,
    Capability.MAX_DOWNTIME: TunesDowntime,
    Capability.MEASURED_DOWNTIME: Migrates,
    Capability.SUSPEND: Suspends,
    Capability.COLD_MIGRATION: ColdMigrates,
    Capability.REINSTALL: Reinstalls,
    Capability.PROBE: Probes,
    Capability.REMOVE_BALLOON: AppliesWorkarounds,
    Capability.COPY_CONFIG_DRIVE: AppliesWorkarounds,
}
"""The protocol a backend must implement for each capability it declares."""

NEEDS: Mapping[Capability, frozenset[Capability]] = {
    Capability.AUTO_CONVERGE: frozenset({Capability.LIVE_MIGRATION}),
    Capability.BANDWIDTH_LIMIT: frozenset({Capability.LIVE_MIGRATION}),
    Capability.BLOCK_MIGRATION: frozenset({Capability.LIVE_MIGRATION}),
    Capability.POST_COPY: frozenset({Capability.LIVE_MIGRATION}),
    Capability.POST_COPY_BLOCK: frozenset({Capability.POST_COPY, Capability.BLOCK_MIGRATION}),
    Capability.MAX_DOWNTIME: frozenset({Capability.LIVE_MIGRATION}),
    Capability.MEASURED_DOWNTIME: frozenset({Capability.LIVE_MIGRATION}),
}
"""Capabilities that only make sense with others."""

WORKAROUND_CAPABILITY: Mapping[str, Capability] = {
    "remove_balloon": Capability.REMOVE_BALLOON,
    "copy_config_drive": Capability.COPY_CONFIG_DRIVE,
}
"""The capability each workaround the executor applies before a migration needs."""


@cache
def implements(cls: type, feature: type) -> bool:
    """Whether ``cls`` has every method of the protocol ``feature`` (checked once per class;
    the data members ``name``, ``capabilities`` and ``clock`` belong to every driver)."""
    return all(callable(getattr(cls, method, None)) for method in _methods(feature))


@cache
def _methods(feature: type) -> frozenset[str]:
    names: set[str] = set()
    for klass in feature.__mro__:
        if klass in (object, Protocol) or not getattr(klass, "_is_protocol", False):
            continue
        names.update(n for n, v in vars(klass).items()
                     if callable(v) and (not n.startswith("_") or n in ("__enter__",
                                                                          "__exit__")))
    return frozenset(names)


def declaration_problems(driver: Driver) -> list[str]:
    """What is wrong with a backend's declaration: a declared capability whose protocol it
    does not implement, or that needs another it does not declare (empty: consistent)."""
    out = []
    for cap in sorted(driver.capabilities):
        feature = FEATURES[cap]
        if not implements(type(driver), feature):
            out.append(f"declares {cap.value} but does not implement {feature.__name__}")
        missing = NEEDS.get(cap, frozenset()) - driver.capabilities
        if missing:
            out.append(f"declares {cap.value} without {', '.join(sorted(missing))}")
    return out


@overload
def require(driver: Driver, capability: Literal[Capability.LIVE_MIGRATION]) -> Migrates: ...
@overload
def require(driver: Driver, capability: Literal[Capability.POST_COPY]) -> SwitchesToPostCopy: ...
@overload
def require(driver: Driver, capability: Literal[Capability.MAX_DOWNTIME]) -> TunesDowntime: ...
@overload
def require(driver: Driver, capability: Literal[Capability.SUSPEND]) -> Suspends: ...
@overload
def require(driver: Driver, capability: Literal[Capability.COLD_MIGRATION]) -> ColdMigrates: ...
@overload
def require(driver: Driver, capability: Literal[Capability.REINSTALL]) -> Reinstalls: ...
@overload
def require(driver: Driver, capability: Literal[Capability.PROBE]) -> Probes: ...
@overload
def require(driver: Driver, capability: Literal[Capability.REMOVE_BALLOON,
                                                Capability.COPY_CONFIG_DRIVE]
            ) -> AppliesWorkarounds: ...
@overload
def require(driver: Driver, capability: Capability) -> Driver: ...


def require(driver: Driver, capability: Capability) -> Driver:
    """``driver`` as the protocol of ``capability``, checked: the one place where a feature's
    use meets its declaration. Raises :class:`~hvroll.errors.CapabilityError` naming the
    capability when the backend does not declare it (or declares it without implementing
    it)::

        require(driver, Capability.REINSTALL).reinstall(job, host, profile)
    """
    if capability not in driver.capabilities:
        raise CapabilityError(capability.value, driver.name)
    feature = FEATURES[capability]
    if not implements(type(driver), feature):
        raise CapabilityError(capability.value, driver.name,
                              f"it declares it but does not implement {feature.__name__}")
    return driver


def require_workaround(driver: Driver, action: str) -> AppliesWorkarounds:
    """:func:`require` for the capability of a workaround (see ``WORKAROUND_CAPABILITY``)."""
    capability = WORKAROUND_CAPABILITY.get(action)
    if capability is None:
        raise CapabilityError(action, driver.name, "no capability names this workaround "
                              f"(known: {', '.join(WORKAROUND_CAPABILITY)})")
    # require checked that the driver's class implements the protocol (a runtime isinstance
    # of a Protocol costs more than the workaround's whole bookkeeping in a simulated run)
    return cast(AppliesWorkarounds, require(driver, capability))


def has(driver: Driver, capability: Capability) -> bool:
    """Whether ``driver`` declares ``capability`` (to choose a path; :func:`require` to use
    it)."""
    return capability in driver.capabilities
