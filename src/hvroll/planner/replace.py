"""Where a VM goes when the destination the plan gave it cannot take it any more.

While a campaign runs, a host the plan sends VMs to may fail its own upgrade (drain,
reinstall or verification), be skipped (too many failed hosts), or be full or down when the
move comes. The executor then asks :func:`replace` for another destination: a pure decision
over the executor's working model (:class:`~hvroll.planner.state.PlanState`), the verdicts,
and how far each host of the cluster has got (:class:`Readiness`, from its steps by
:func:`readiness`).

A new destination is a host that is ready to receive (:data:`RECEIVING`: upgraded by this
campaign, or not part of it), of at least ``required_rank`` (the rank the VM must reach: its
source's target under ``roll-forward``, its source's own rank otherwise, so never an older
profile), allowed by the VM's verdicts, with room under its allocation ratios and no other
member of the VM's anti-affinity group; the one with the most free RAM (the planner's own
:func:`~hvroll.planner.placement.pick`). Under the baselines (``evacuate-return``,
``scheduler``), whose VMs go to hosts not upgraded yet by design, a host whose upgrade has not
started (:attr:`Readiness.WAITING`) is a candidate too. When there is none, the answer says
why, naming the hosts left out.

Worked example: cluster ``c1`` has ``h1`` (draining, the source), ``h2`` (its reinstall
failed), ``h3`` (upgraded to CPv2, rank 2, 4 GiB free) and ``h4`` (not started yet, CPv1).
A VM of 2 GiB leaving ``h1`` under roll-forward (``required_rank=2``) goes to ``h3``; one of
8 GiB gets ``Placement(None, "no ready host of rank ≥ 2 has room for it (8192 MiB RAM, 2
vCPU) within allocation ratios and anti-affinity (h3); not ready: h2 failed, h4 waiting")``;
were ``h3`` down at that moment, the 2 GiB VM would get "no host of its cluster of rank ≥ 2 is
ready to receive it; not ready: h2 failed, h4 waiting; down: h3".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from hvroll.compat.verdict import Checker, Verdict
from hvroll.domain import Vm
from hvroll.domain.states import ACTIVE_HOST, HostStepState
from hvroll.planner.placement import move_verdict, pick
from hvroll.planner.state import PlanState

SHOWN = 5
"""Hosts named in a reason, at most (then "…")."""


class Readiness(StrEnum):
    """How far a host has got in the campaign, as a destination sees it."""

    UPGRADED = "upgraded"
    """Its upgrade is done: reinstalled and verified on its target profile."""
    UNCHANGED = "unchanged"
    """Not upgraded by this campaign: it keeps its profile."""
    WAITING = "waiting"
    """Its upgrade has not started: it is still on its old profile."""
    BUSY = "busy"
    """Being disabled, drained, reinstalled or verified, or next in its cluster's wave."""
    FAILED = "failed"
    """Its drain, reinstall or verification failed: it stays on its old profile, disabled."""
    SKIPPED = "skipped"
    """Its upgrade was skipped (too many failed hosts): it stays on its old profile."""


RECEIVING = frozenset({Readiness.UPGRADED, Readiness.UNCHANGED})
"""Hosts any VM may be sent to (rank and verdicts permitting)."""


def readiness(steps: Iterable[tuple[HostStepState, bool]], *, next_up: bool = False,
              ) -> Readiness:
    """A host's :class:`Readiness` from its steps' ``(state, reinstall)``, in wave order;
    ``next_up``: a pending step of it is in its cluster's current wave.

    >>> readiness([])
    <Readiness.UNCHANGED: 'unchanged'>
    >>> readiness([(HostStepState.DONE, False), (HostStepState.FAILED, True)])
    <Readiness.FAILED: 'failed'>
    >>> readiness([(HostStepState.DONE, False), (HostStepState.PENDING, True)])
    <Readiness.WAITING: 'waiting'>
    """
    steps = list(steps)
    if not steps:
        return Readiness.UNCHANGED
    states = [s for s, _ in steps]
    if HostStepState.FAILED in states:
        return Readiness.FAILED
    if HostStepState.SKIPPED in states:
        return Readiness.SKIPPED
    if next_up or any(s in ACTIVE_HOST for s in states):
        return Readiness.BUSY
    if all(s is HostStepState.DONE for s in states) and any(r for _, r in steps):
        return Readiness.UPGRADED
    return Readiness.WAITING


@dataclass(frozen=True, slots=True)
class Placement:
    """A new destination, or ``None`` with why there is none."""

    dest: str | None
    reason: str = ""


def replace(state: PlanState, checker: Checker, vm: Vm, source: str,
            hosts: Mapping[str, Readiness], *, required_rank: int, may_wait: bool = False,
            live: bool = True, down: Iterable[str] = ()) -> Placement:
    """The best destination for ``vm`` leaving ``source`` now among ``hosts`` (the hosts of
    its cluster that are up, with their readiness), or why there is none; the reason also
    names the hosts of the cluster that are ``down`` (none is a candidate)."""
    ready: list[str] = []
    not_ready: list[str] = []
    low: list[str] = []
    for host, ready_as in hosts.items():
        if host == source:
            continue
        if ready_as not in RECEIVING and not (may_wait and ready_as is Readiness.WAITING):
            not_ready.append(f"{host} {ready_as.value}")
        elif state.rank(host) < max(required_rank, state.rank(source)):
            low.append(host)
        else:
            ready.append(host)
    allowed: list[tuple[str, Verdict]] = []
    forbidden: list[tuple[str, Verdict]] = []
    for dest in ready:
        verdict = move_verdict(checker, vm, state.host[source], state.host[dest], live=live)
        (allowed if verdict.allowed else forbidden).append((dest, verdict))
    choice = pick(state, vm, allowed)
    if choice is not None:
        return Placement(choice[0])
    rank = max(required_rank, state.rank(source))
    if allowed:
        why = (f"no ready host of rank ≥ {rank} has room for it ({vm.ram_mib} MiB RAM, "
               f"{vm.vcpus} vCPU) within allocation ratios and anti-affinity "
               f"({_names(d for d, _ in allowed)})")
    elif forbidden:
        dest, verdict = forbidden[0]
        first = verdict.blocking[0].message if verdict.blocking else "blocked"
        why = (f"its verdicts forbid every ready host of rank ≥ {rank} "
               f"({_names(d for d, _ in forbidden)}; {dest}: {first})")
    else:
        why = f"no host of its cluster of rank ≥ {rank} is ready to receive it"
    if low:
        why += f"; below rank {rank}: {_names(low)}"
    if not_ready:
        why += f"; not ready: {_names(not_ready)}"
    gone = [h for h in down if h != source]
    if gone:
        why += f"; down: {_names(gone)}"
    return Placement(None, why)


def _names(names: Iterable[str]) -> str:
    items = list(names)
    shown = ", ".join(items[:SHOWN])
    return shown + (f" … ({len(items)} in all)" if len(items) > SHOWN else "")
