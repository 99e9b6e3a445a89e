"""Argument checks every backend makes the same way, with the same words.

A backend calls these at the top of its methods, before anything changes; each raises the
:mod:`hvroll.errors` error the conformance suite expects (``DriverError`` naming the host,
``SafetyError`` for a host that is not empty, ``CapabilityError`` for an option the backend
does not declare), so the executor and the operator read one message whatever the backend.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from hvroll.drivers.base import Capability, JobKind, JobPhase, MigrationOptions
from hvroll.errors import CapabilityError, DriverError, SafetyError


def unknown(what: str, name: str, where: str = "") -> DriverError:
    """``unknown VM 'x'`` (``what`` is ``VM``, ``host`` or ``job``), with an optional hint."""
    return DriverError(f"unknown {what} {name!r}" + (f" ({where})" if where else ""))


OPTION_CAPABILITY: Sequence[tuple[str, Capability]] = (
    ("auto_converge", Capability.AUTO_CONVERGE),
    ("post_copy", Capability.POST_COPY),
    ("block", Capability.BLOCK_MIGRATION),
)


def migration(capabilities: Collection[Capability], driver: str, vm: str,
              options: MigrationOptions, *, host: str | None = None) -> None:
    """A live migration's options: values in range, and each feature they ask for declared
    by the backend."""
    if options.max_downtime_ms < 0 or (options.bandwidth_mib_s is not None
                                       and not options.bandwidth_mib_s > 0):
        raise DriverError(f"cannot migrate {vm}: max_downtime_ms must be >= 0 and "
                          f"bandwidth_mib_s > 0 (got {options.max_downtime_ms}, "
                          f"{options.bandwidth_mib_s})", host=host)
    asked = [cap for option, cap in OPTION_CAPABILITY if getattr(options, option)]
    if options.bandwidth_mib_s is not None:
        asked.append(Capability.BANDWIDTH_LIMIT)
    for cap in (Capability.LIVE_MIGRATION, *asked):
        if cap not in capabilities:
            raise CapabilityError(cap.value, driver)


def downtime(job: str, downtime_ms: int, *, host: str | None = None) -> None:
    if downtime_ms < 0:
        raise DriverError(f"max downtime of {job} must be >= 0 ms (got {downtime_ms})",
                          host=host)


def route(vm: str, source: str, dest: str, running_job: str | None) -> None:
    """A move of ``vm`` from ``source`` to ``dest``: not already moving, not to itself."""
    if running_job is not None:
        raise DriverError(f"{vm} is already being migrated by job {running_job}", host=source)
    if dest == source:
        raise DriverError(f"{vm} is already on this host", host=dest)


def profile(profile: str, known: Collection[str], *, host: str) -> None:
    """A reinstall's target profile is one the backend knows."""
    if profile not in known:
        raise DriverError(f"cannot reinstall as {profile!r}: no such profile (known: "
                          f"{', '.join(sorted(known))})", host=host)


def empty_host(host: str, vms: Sequence[str], *, moving: str | None = None,
               what: str = "VM(s)") -> None:
    """The safety check of a reinstall, asked of the backend: ``SafetyError`` if ``host``
    holds any VM (``vms``, in any power state) or a migration to or from it runs."""
    if moving is not None:
        raise SafetyError(f"{host}: refusing to reinstall, migration {moving} to or from it "
                          f"is still running")
    if vms:
        names = sorted(vms)
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3
                                         else "")
        raise SafetyError(f"{host}: refusing to reinstall, it still holds {len(names)} "
                          f"{what}: {shown}")


def live_job(job: str, kind: JobKind, phase: JobPhase, what: str, *,
             host: str | None = None) -> None:
    """An operation on a running live migration (``what``: ``abort``, ``switch to
    post-copy``, …): refused for another kind of job or one that ended."""
    if kind is not JobKind.LIVE_MIGRATION:
        raise DriverError(f"cannot {what} {job}: it is a {kind.value}, not a live migration",
                          host=host)
    if phase in (JobPhase.COMPLETED, JobPhase.FAILED, JobPhase.CANCELLED):
        raise DriverError(f"cannot {what} {job}: it already ended {phase.value}", host=host)


def workaround(action: str, known: Collection[str], vm: str, driver: str) -> None:
    if action not in known:
        raise DriverError(f"unknown workaround {action!r} for {vm} (the {driver} driver knows "
                          f"{', '.join(known)})")


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
    if not job:
        raise DriverError("a job id must not be empty")
    if found is None:
        return False
    same = ((found.source, found.profile) if kind is JobKind.REINSTALL
            else (found.vm, found.dest))
    if found.kind is kind and same == (subject, target):
        return True
    raise DriverError(f"job id {job!r} is already used by a {found.kind.value} of "
                      f"{found.vm or found.source}")
