"""The per-VM migration ladder: pure decisions from what a migration's progress shows.

Rungs, in order, each used only if both hosts' qemu/libvirt support it and the policy allows:

1. pre-copy, its downtime limit raised in steps as time passes (as Nova does);
2. auto-converge: restart with the guest's vCPUs throttled while it dirties too fast;
3. post-copy: switch the running job over; the guest runs on the destination at once;
4. block migration: a failed migration of a VM with local disks is retried copying them;
5. suspend-and-complete: pause the guest so it stops dirtying memory, resume it there;
6. cold migration (stop, move, start), if the policy allows.

A migration is stalled when the memory left to send has not shrunk over
``stall_iterations`` iterations, or when it has sent more than ``max_sent_ratio`` × its RAM.
A stalled job first gets its whole downtime budget; stalled again, it climbs to the next
rung. Decisions come from observed progress, not only from a time-out.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from hvroll.domain.states import IN_PLACE_RUNGS, Rung
from hvroll.drivers.base import Capability, JobPhase

RESTART_RUNGS = frozenset({Rung.PRECOPY, Rung.AUTO_CONVERGE, Rung.BLOCK, Rung.COLD})
"""Rungs that start a new job; the others act on the running one."""


@dataclass(frozen=True, slots=True)
class LadderPolicy:
    """How hard to push a migration; units in names."""

    downtime_ms: int = 500
    """The downtime limit the schedule climbs to (Nova's live_migration_downtime)."""
    downtime_steps: int = 10
    downtime_delay_s_per_gib: float = 75.0
    """Time between downtime steps, per GiB of guest RAM (Nova's delay)."""
    stall_iterations: int = 2
    max_sent_ratio: float = 3.0
    attempt_timeout_s_per_gib: float = 600.0
    """An attempt running longer than this per GiB (at least 10 minutes) is escalated."""
    retries: int = 1
    """Retries of a failed job on the same rung (seed 003: retry once)."""
    allow_auto_converge: bool = True
    allow_post_copy: bool = True
    allow_suspend: bool = False
    allow_cold: bool = False


def downtime_steps(policy: LadderPolicy, ram_mib: float) -> list[tuple[float, int]]:
    """``(after_s, downtime_ms)`` pairs: the downtime limit climbs from ``limit/steps`` to the
    limit, one step every ``delay × RAM in GiB`` seconds (Nova's ``downtime_steps``).

    >>> downtime_steps(LadderPolicy(downtime_ms=400, downtime_steps=3), 2048)
    [(0.0, 133), (150.0, 222), (300.0, 311), (450.0, 400)]
    """
    steps = max(1, policy.downtime_steps)
    base = policy.downtime_ms / steps
    offset = (policy.downtime_ms - base) / steps
    delay = policy.downtime_delay_s_per_gib * max(ram_mib / 1024.0, 0.1)
    return [(round(delay * i, 3), int(base + offset * i)) for i in range(steps + 1)]


def ladder(caps: frozenset[str], policy: LadderPolicy, *, local_disk: bool) -> list[Rung]:
    """The rungs open to a migration, in order. ``caps`` are what both hosts support
    (``auto_converge``, ``post_copy``) and the driver can do; a VM with local disks gets
    post-copy only from a driver that switches block migrations too (``post_copy_block``)."""
    out = [Rung.PRECOPY]
    if policy.allow_auto_converge and "auto_converge" in caps:
        out.append(Rung.AUTO_CONVERGE)
    if policy.allow_post_copy and "post_copy" in caps and (
            not local_disk or "post_copy_block" in caps):
        out.append(Rung.POST_COPY)
    if local_disk:
        out.append(Rung.BLOCK)
    if policy.allow_suspend and "suspend" in caps:
        out.append(Rung.SUSPEND)
    if policy.allow_cold and "cold_migration" in caps:
        out.append(Rung.COLD)
    return out


@dataclass(frozen=True, slots=True)
class Sample:
    """Progress of a job at the end of one iteration."""

    iteration: int
    remaining_mib: float
    processed_mib: float


class Act(StrEnum):
    WAIT = "wait"
    RAISE_DOWNTIME = "raise_downtime"
    CLIMB = "climb"
    """Move to the next rung (``Decision.rung``)."""
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Decision:
    act: Act
    downtime_ms: int = 0
    rung: Rung | None = None
    reason: str = ""


def stalled(samples: Sequence[Sample], total_mib: float, policy: LadderPolicy) -> str:
    """Why a migration is not converging, or ``""``: the memory left has not shrunk over the
    last ``stall_iterations`` iterations, or it has sent more than the cap: ``max_sent_ratio``
    × what it has to move (RAM, plus local disks in a block migration)."""
    if samples and samples[-1].processed_mib > policy.max_sent_ratio * total_mib:
        return (f"sent {samples[-1].processed_mib:.0f} MiB > {policy.max_sent_ratio:g} × its "
                f"{total_mib:.0f} MiB")
    by_iteration: dict[int, float] = {}
    for s in samples:
        by_iteration[s.iteration] = s.remaining_mib
    iterations = sorted(by_iteration)
    n = policy.stall_iterations
    if len(iterations) > n and iterations[-1] >= 2:
        now, before = by_iteration[iterations[-1]], by_iteration[iterations[-1 - n]]
        if now >= before:
            return (f"{now:.0f} MiB left after iteration {iterations[-1]}, not less than "
                    f"{before:.0f} MiB {n} iterations before")
    return ""


def decide(*, rung: Rung, rungs: Sequence[Rung], elapsed_s: float, samples: Sequence[Sample],
           total_mib: float, downtime_ms: int, schedule: Sequence[tuple[float, int]],
           policy: LadderPolicy) -> Decision:
    """What to do with a running job on ``rung``; ``samples`` are those since the last act.

    The downtime limit follows the schedule as time passes. A stalled job (or one past its
    time-out) first gets the whole downtime budget at once, and climbs to the next rung when
    it stalls again at the full budget; with no rung left, it fails.
    """
    limit = schedule[-1][1] if schedule else downtime_ms
    why = stalled(samples, total_mib, policy)
    timeout_s = max(600.0, policy.attempt_timeout_s_per_gib * total_mib / 1024.0)
    if not why and elapsed_s > timeout_s:
        why = f"running for {elapsed_s:.0f} s > {timeout_s:.0f} s"
    if why:
        if downtime_ms < limit:
            return Decision(Act.RAISE_DOWNTIME, downtime_ms=limit, reason=why)
        return next_rung(rung, rungs, why)
    due = max((ms for after, ms in schedule if elapsed_s >= after), default=downtime_ms)
    if due > downtime_ms:
        return Decision(Act.RAISE_DOWNTIME, downtime_ms=due)
    return Decision(Act.WAIT)


def next_rung(rung: Rung, rungs: Sequence[Rung], reason: str,
              *, failed: bool = False) -> Decision:
    """The rung after ``rung`` that helps: a stalled job needs convergence help (not a block
    retry); a failed job may retry with block migration."""
    later = list(rungs[rungs.index(rung) + 1:]) if rung in rungs else []
    for candidate in later:
        if candidate is Rung.BLOCK and not failed:
            continue
        if candidate is Rung.POST_COPY and failed:
            continue
        return Decision(Act.CLIMB, rung=candidate, reason=reason)
    return Decision(Act.FAIL, reason=reason)


def _new_job(d: Decision) -> Rung | None:
    """The rung ``d`` climbs to when that rung starts a new job, else None (it acts on the
    running job, or there is none)."""
    return d.rung if d.rung is not None and d.rung not in IN_PLACE_RUNGS else None


def after_failure(history: Sequence[Rung], rungs: Sequence[Rung],
                  policy: LadderPolicy) -> Rung | None:
    """The rung a migration whose job failed restarts on, or None (it fails): the same rung
    while it has been used at most ``retries`` times (never post-copy), else the next one a
    failed job may use that starts a new job. ``history`` is every rung the migration used,
    in order, in-place climbs included (its ``rungs`` record); the last is the failed one.

    >>> after_failure([Rung.PRECOPY, Rung.PRECOPY], [Rung.PRECOPY, Rung.BLOCK], LadderPolicy())
    <Rung.BLOCK: 'block'>
    """
    rung = history[-1]
    if history.count(rung) <= policy.retries and rung is not Rung.POST_COPY:
        return rung
    return _new_job(next_rung(rung, rungs, "", failed=True))


def resumed_rung(history: Sequence[Rung], phase: str, rungs: Sequence[Rung],
                 policy: LadderPolicy) -> Rung | None:
    """The rung a pending migration whose last attempt ended (``phase``, as stored) restarts
    on, recomputed from its records after a restart — the run that stopped kept it only in
    memory: a cancelled job was aborted to climb (a stall or time-out; an aborting campaign
    never resumes), so the next rung that helps convergence; a failed one as
    :func:`after_failure`; None for a migration that has not run yet.

    >>> resumed_rung([Rung.PRECOPY], "cancelled", [Rung.PRECOPY, Rung.AUTO_CONVERGE],
    ...              LadderPolicy())
    <Rung.AUTO_CONVERGE: 'auto_converge'>
    """
    if not history:
        return None
    if phase == JobPhase.CANCELLED.value:
        return _new_job(next_rung(history[-1], rungs, ""))
    return after_failure(history, rungs, policy)


_LIVE = frozenset({Capability.LIVE_MIGRATION})
RUNG_NEEDS: Mapping[Rung, frozenset[Capability]] = {
    Rung.PRECOPY: _LIVE,
    Rung.AUTO_CONVERGE: _LIVE | {Capability.AUTO_CONVERGE},
    Rung.POST_COPY: _LIVE | {Capability.POST_COPY},
    Rung.BLOCK: _LIVE | {Capability.BLOCK_MIGRATION},
    Rung.SUSPEND: _LIVE | {Capability.SUSPEND},
    Rung.COLD: frozenset({Capability.COLD_MIGRATION}),
}
"""What the driver must declare for each rung."""


def missing(rung: Rung, declared: Collection[Capability], *,
            local_disk: bool) -> list[Capability]:
    """The capabilities ``rung`` needs that the driver does not declare; every live rung of a
    VM with local disks copies them (``block_migration``).

    >>> missing(Rung.POST_COPY, {Capability.LIVE_MIGRATION}, local_disk=False)
    [<Capability.POST_COPY: 'post_copy'>]
    """
    needs = set(RUNG_NEEDS[rung])
    if local_disk and Capability.LIVE_MIGRATION in needs:
        needs.add(Capability.BLOCK_MIGRATION)
    return sorted(needs - set(declared))


def usable(rungs: Sequence[Rung], declared: Collection[Capability], *,
           local_disk: bool) -> list[Rung]:
    """The rungs of ``rungs`` the driver can climb (consulted before each attempt)."""
    return [r for r in rungs if not missing(r, declared, local_disk=local_disk)]
