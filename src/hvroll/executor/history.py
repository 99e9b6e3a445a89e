"""Each VM's state as the campaign moves it, and how a hop's workarounds are chosen on it.

A VM's rule-relevant state changes with the campaign (seed 000's Windows guests moved
CPv1 → CPv1 → CPv2): a completed live migration adds one to its live migrations since the
last power cycle; a balloon hot-unplugged before a hop (``remove_balloon``) stays removed
until the next power cycle, even if that hop then fails; a cold migration is a power cycle:
the count starts again at 0, the balloon is back as the inventory has it, and a host-model
guest boots with its new host's CPU.

The plan judged each hop on the state it expected the VM to be in (:func:`planned_states`).
The executor carries the state the VM is really in (:func:`carried_states` rebuilds it from
the store on start; the runner updates it as hops and workarounds happen) and
:func:`hop_workarounds` decides on it: where the hop is the one planned on the state
planned, the plan's workarounds are done as written (what the operator approved — a
rehearsal of a plan that ignores a known issue fails as the cloud would); where reality
diverged (another destination, a hop skipped or failed before, a cold move meanwhile), the
rules are judged again on the VM as it is.

Worked example (``tests/executor/test_history.py``, seed 000's Haswell cluster,
``evacuate-return``): a Windows guest with a balloon, never migrated, is planned hsw-u1 →
hsw-u3 (CPv1 → CPv1, no workaround), then back to hsw-u1 reinstalled as CPv2 with
``remove_balloon``: the plan expected one live migration since its power cycle there. Both hops
go as planned, so the plan's workarounds are done; the simulator, carrying the same state,
finds the balloon gone at the second switch-over and the rehearsal shows no balloon failure.
Had the return been sent elsewhere, the rules, asked again on (1 migration, balloon present),
would have wanted ``remove_balloon`` all the same.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Protocol

from hvroll.compat.cpu import model_features
from hvroll.compat.exposure import host_model_cpu
from hvroll.compat.verdict import Verdict
from hvroll.domain import CpuGeneration, CpuMode, HostProfile, Vm
from hvroll.domain.states import MigrationState, Rung
from hvroll.planner.model import MoveKind
from hvroll.planner.state import REMOVE_BALLOON, after_move
from hvroll.store.models import loads, loads_items

REBOOT_GUEST = "reboot_guest"


class HopRow(Protocol):
    """What :func:`planned_states` and :func:`carried_states` read of a migration row."""

    @property
    def id(self) -> int: ...
    @property
    def vm(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def workarounds(self) -> str: ...
    @property
    def applied(self) -> str: ...
    @property
    def state(self) -> MigrationState: ...
    @property
    def rung(self) -> Rung: ...


def state_key(vm: Vm) -> tuple[object, ...]:
    """What of a VM's state the rules of a hop depend on and a campaign changes."""
    return (vm.history.live_migrations_since_power_cycle, vm.devices.balloon, vm.cpu)


def after_workaround(vm: Vm, action: str, original: Vm) -> Vm:
    """The VM once ``action`` was applied to it: ``remove_balloon`` unplugs the balloon until
    the next power cycle; ``reboot_guest`` is a power cycle (history cleared, balloon back);
    the others change nothing the rules look at."""
    if action == REMOVE_BALLOON and vm.devices.balloon:
        return vm.model_copy(update={"devices": vm.devices.model_copy(
            update={"balloon": False})})
    if action == REBOOT_GUEST:
        return after_move(vm, live=False, workarounds=(), original=original)
    return vm


def after_hop(vm: Vm, *, live: bool, workarounds: Sequence[str], original: Vm,
              dest: tuple[CpuGeneration, HostProfile] | None = None) -> Vm:
    """The VM after a completed hop (:func:`hvroll.planner.state.after_move`); after a cold
    one a host-model guest runs with the CPU of ``dest`` (its generation and profile), which
    it booted on."""
    moved = after_move(vm, live=live, workarounds=workarounds, original=original)
    if live or dest is None or moved.cpu.mode is not CpuMode.HOST_MODEL:
        return moved
    generation, profile = dest
    cpu = host_model_cpu(generation, profile, model_features(generation.model, generation.vendor))
    return moved.model_copy(update={"cpu": cpu})


def planned_states(original: dict[str, Vm], rows: Iterable[HopRow]) -> dict[int, Vm]:
    """The state the plan expected each VM in before each of its hops (rows in plan order,
    i.e. by id): every earlier hop completed with its planned workarounds."""
    out: dict[int, Vm] = {}
    current = dict(original)
    for row in sorted(rows, key=lambda r: r.id):
        vm = current[row.vm]
        out[row.id] = vm
        current[row.vm] = after_move(vm, live=row.kind == MoveKind.LIVE.value,
                                     workarounds=loads(row.workarounds) or [],
                                     original=original[row.vm])
    return out


def planned_keys(original: dict[str, Vm], rows: Iterable[HopRow]) -> dict[int, tuple[object, ...]]:
    """The :func:`state_key` of :func:`planned_states`, by migration id, computed on the keys
    alone (no copy of a VM per hop): a live hop adds one live migration and keeps the balloon
    unless ``remove_balloon`` is among its workarounds; a cold hop starts the count at 0 and
    brings the inventory's balloon back; neither changes the CPU the key holds."""
    out: dict[int, tuple[object, ...]] = {}
    current: dict[str, tuple[int, bool]] = {}
    live_kind = MoveKind.LIVE.value
    for row in sorted(rows, key=attrgetter("id")):
        name = row.vm
        vm = original[name]
        count, balloon = current.get(name) or (
            vm.history.live_migrations_since_power_cycle, vm.devices.balloon)
        out[row.id] = (count, balloon, vm.cpu)
        if row.kind == live_kind:
            if balloon and REMOVE_BALLOON in row.workarounds:
                balloon = REMOVE_BALLOON not in loads_items(row.workarounds)
            current[name] = (count + 1, balloon)
        else:
            current[name] = (0, vm.devices.balloon)
    return out


def carried_states(original: dict[str, Vm], rows: Iterable[HopRow],
                   boots: dict[int, tuple[CpuGeneration, HostProfile]] | None = None,
                   ) -> dict[str, Vm]:
    """Each moved VM's state as the store records it (after a restart): the workarounds
    applied (``applied``) and the hops completed, in order. ``boots`` gives, for completed
    cold hops, the generation and profile of the host the VM booted on."""
    by_vm: dict[str, list[HopRow]] = defaultdict(list)
    for row in rows:
        by_vm[row.vm].append(row)
    out: dict[str, Vm] = {}
    for name, hops in by_vm.items():
        vm = original[name]
        for row in sorted(hops, key=lambda r: r.id):
            applied = loads(row.applied) or []
            for action in applied:
                vm = after_workaround(vm, action, original[name])
            if row.state is MigrationState.COMPLETED:
                vm = after_hop(vm, live=row.rung is not Rung.COLD, workarounds=applied,
                               original=original[name], dest=(boots or {}).get(row.id))
        out[name] = vm
    return out


@dataclass(frozen=True, slots=True)
class HopChoice:
    """The workarounds to do before a hop, or why the hop must not happen now."""

    workarounds: tuple[str, ...]
    rejudged: bool = False
    """True when the rules were asked again on the VM as it is (reality diverged)."""
    blocked: str = ""


def hop_workarounds(*, planned: Sequence[str], as_planned: bool,
                    verdict: Verdict | None) -> HopChoice:
    """The workarounds of one hop. ``as_planned``: the hop goes to its planned destination
    with the VM in the state the plan expected — the plan's workarounds are done as written.
    Otherwise ``verdict`` (the rules on the VM as it is, from its source to the destination)
    decides: its workarounds, or the reason it blocks.

    >>> hop_workarounds(planned=["remove_balloon"], as_planned=True, verdict=None)
    HopChoice(workarounds=('remove_balloon',), rejudged=False, blocked='')
    """
    if as_planned or verdict is None:
        return HopChoice(tuple(planned))
    if not verdict.allowed:
        reasons = verdict.blocking or verdict.reasons
        return HopChoice((), True, reasons[0].message if reasons else "the rules block it")
    return HopChoice(verdict.workarounds, True)
