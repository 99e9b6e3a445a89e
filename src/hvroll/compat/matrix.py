"""The verification matrix of seed 000: CPU generation × {spawn on the old profile, spawn on
the new profile, live migration old → new, live migration new → new}.

Each cell is computed from the fleet's own VMs of that generation (every VM once, verdicts
cached per distinct VM facts): ✓ when none is blocked, ✗ with the blocking rules otherwise,
N/A when the generation has no host on an older profile (Skylake in seed 000), untested when
it has hosts but no VM to judge. A failing cell whose blocks one fix lifts shows the cell
after that fix (e.g. "✓ after nosmap").

Cells carry ``source``: ``computed`` here; canary results of the executor can replace a cell
with an ``observed`` one (:meth:`Matrix.observe`), which keeps the computed cell beside it.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hvroll.compat.conditions import HostSide, VmFacts
from hvroll.compat.kinds import Affects, VerdictKind, kernel_flag
from hvroll.compat.target import Targets
from hvroll.compat.verdict import Checker, Verdict, combine
from hvroll.domain import CpuGeneration, CpuMode, Fleet, HostProfile, PowerState


class Column(StrEnum):
    SPAWN_OLD = "spawn_old"
    SPAWN_NEW = "spawn_new"
    LM_OLD_NEW = "lm_old_new"
    LM_NEW_NEW = "lm_new_new"


COLUMN_TITLES = {
    Column.SPAWN_OLD: "spawn on old",
    Column.SPAWN_NEW: "spawn on new",
    Column.LM_OLD_NEW: "LM old→new",
    Column.LM_NEW_NEW: "LM new→new",
}


class Status(StrEnum):
    OK = "ok"
    FAIL = "fail"
    NA = "n/a"
    UNTESTED = "untested"


class Origin(StrEnum):
    COMPUTED = "computed"
    OBSERVED = "observed"


@dataclass(frozen=True)
class Cell:
    status: Status
    source: Origin = Origin.COMPUTED
    vms: int = 0
    """VMs judged."""
    blocked: int = 0
    workaround: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    """Blocking rule → VMs."""
    workarounds: dict[str, int] = field(default_factory=dict)
    fixes: dict[str, int] = field(default_factory=dict)
    """Fix offered → blocked VMs it lifts (a blocked VM without a fix is not counted)."""
    carried: dict[str, int] = field(default_factory=dict)
    """Rule → VMs allowed to move only because they already carry its next-boot risk where
    they run (``Reason.carried``: the move adds none, the VM would not boot there either)."""
    after_fix: Status | None = None
    """The status once every offered fix is applied (None when not computable)."""
    profiles: tuple[str, ...] = ()
    note: str = ""
    computed: Cell | None = None
    """For an observed cell: what was computed."""

    def symbol(self) -> str:
        """``✓``, ``✗ rule ×n``, ``N/A``, ``untested``, with workarounds and fixes."""
        if self.status is Status.NA:
            return "N/A"
        if self.status is Status.UNTESTED:
            return "untested"
        if self.status is Status.OK:
            notes = []
            if self.workarounds:
                notes.append("workaround: " + ", ".join(f"{a} ×{n}"
                                                        for a, n in self.workarounds.items()))
            if self.carried:
                notes.append("risk already there: " + ", ".join(f"{c} ×{n}"
                                                                for c, n in self.carried.items()))
            text = f"✓ ({'; '.join(notes)})" if notes else "✓"
        else:
            why = ", ".join(f"{c} ×{n}" for c, n in self.reasons.items())
            text = f"✗ {why}" if why else "✗"
            if self.fixes and self.after_fix is not None:
                fixes = list(self.fixes.items())
                after = (_fix_words(fixes[0][0]) if len(fixes) == 1 else
                         " + ".join(f"{_fix_words(a)} ({n})" for a, n in fixes))
                done = "✓" if self.after_fix is Status.OK else "still ✗"
                text += f" → {done} after {after}"
        return text + (" [observed]" if self.source is Origin.OBSERVED else "")

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status.value, "source": self.source.value, "vms": self.vms,
            "blocked": self.blocked, "workaround": self.workaround, "reasons": self.reasons,
            "workarounds": self.workarounds, "fixes": self.fixes, "carried": self.carried,
            "after_fix": self.after_fix.value if self.after_fix else None,
            "profiles": list(self.profiles), "note": self.note,
        }
        if self.computed is not None:
            out["computed"] = self.computed.data()
        return out


@dataclass(frozen=True)
class Row:
    generation: str
    hosts: int
    cells: dict[Column, Cell]
    clusters: tuple[str, ...] = ()
    """The clusters of the row when a generation's clusters go to different targets (one row
    per target), else ``()``."""


@dataclass(frozen=True)
class Matrix:
    target: HostProfile
    rows: tuple[Row, ...]

    def observe(self, generation: str, column: Column | str, ok: bool, note: str = "") -> Matrix:
        """This matrix with one cell replaced by an observed result (e.g. a canary's)."""
        col = Column(column)
        rows = []
        for row in self.rows:
            if row.generation == generation:
                old = row.cells[col]
                new = Cell(Status.OK if ok else Status.FAIL, Origin.OBSERVED, note=note,
                           profiles=old.profiles,
                           computed=old.computed if old.source is Origin.OBSERVED else old)
                row = dataclasses.replace(row, cells={**row.cells, col: new})
            rows.append(row)
        return dataclasses.replace(self, rows=tuple(rows))

    def data(self) -> dict[str, Any]:
        return {
            "target": self.target.name,
            "columns": {c.value: COLUMN_TITLES[c] for c in Column},
            "rows": [{"generation": r.generation, "clusters": list(r.clusters), "hosts": r.hosts,
                      "cells": {c.value: cell.data() for c, cell in r.cells.items()}}
                     for r in self.rows],
        }




def build_matrix(fleet: Fleet, target: HostProfile | Targets,
                 checker: Checker | None = None,
                 targets: Mapping[str, HostProfile] | None = None) -> Matrix:
    """The matrix for an upgrade to ``target`` (or, per generation or cluster,
    ``targets[name]``; or a :class:`Targets`). A generation whose clusters go to different
    targets gets one row per target, naming its clusters."""
    checker = checker if checker is not None else Checker(fleet)
    plan = target if isinstance(target, Targets) else Targets(target, dict(targets or {}))
    default = plan.default or next(iter(plan.profiles()))
    rows: list[Row] = []
    for gen in fleet.generations:
        hosts = [h for h in fleet.hosts if h.generation == gen.name]
        groups: dict[str, list[str]] = {}
        profiles: dict[str, HostProfile] = {}
        for h in hosts:
            p = plan.for_host(h)
            if p is not None:
                groups.setdefault(p.name, []).append(h.name)
                profiles[p.name] = p
        if not groups:
            rows.append(_row(checker, gen, default, None))
            continue
        for name, members in groups.items():
            only = set(members) if len(groups) > 1 else None
            clusters = tuple(sorted({fleet.host_by_name[m].cluster for m in members})) \
                if only is not None else ()
            rows.append(dataclasses.replace(_row(checker, gen, profiles[name], only),
                                            clusters=clusters))
    return Matrix(default, tuple(rows))


def _row(checker: Checker, gen: CpuGeneration, new: HostProfile,
         only: set[str] | None) -> Row:
    fleet = checker.fleet
    hosts = [h for h in fleet.hosts if h.generation == gen.name
             and (only is None or h.name in only)]
    if not hosts:
        return Row(gen.name, 0, {c: Cell(Status.NA, note="no such hosts") for c in Column})
    old_hosts = {h.name: checker.profile_of(h) for h in hosts
                 if checker.profile_of(h).rank < new.rank}
    on_gen = {h.name for h in hosts}
    vms = [vm for vm in fleet.vms if vm.host in on_gen]
    old: Counter[tuple[VmFacts, HostProfile]] = Counter(
        (checker.facts_of(vm), old_hosts[vm.host]) for vm in vms if vm.host in old_hosts)
    old_running = Counter({k: n for k, n in old.items() if k[0].power is not PowerState.SHUTOFF})
    every: Counter[VmFacts] = Counter(checker.facts_of(vm) for vm in vms)
    running = Counter({f: n for f, n in every.items() if f.power is not PowerState.SHUTOFF})

    def side(profile: HostProfile) -> HostSide:
        return HostSide(gen, profile)

    def spawn(f: VmFacts, profile: HostProfile) -> Verdict:
        return checker.judge(Affects.SPAWN, f, None, side(profile))

    def old_to_new(f: VmFacts, was: HostProfile, profile: HostProfile) -> Verdict:
        return combine(checker.judge(Affects.LIVE_MIGRATION, f, side(was), side(profile)),
                       spawn(f, profile))

    def new_to_new(f: VmFacts, profile: HostProfile) -> Verdict:
        return checker.judge(Affects.LIVE_MIGRATION, _started_on_new(f), side(profile),
                             side(profile))

    def spawn_old(_profile: HostProfile) -> list[tuple[Verdict, int]]:
        return [(spawn(f, was), n) for (f, was), n in old.items()]

    def spawn_new(profile: HostProfile) -> list[tuple[Verdict, int]]:
        return [(spawn(f, profile), n) for f, n in every.items()]

    def lm_old_new(profile: HostProfile) -> list[tuple[Verdict, int]]:
        return [(old_to_new(f, was, profile), n) for (f, was), n in old_running.items()]

    def lm_new_new(profile: HostProfile) -> list[tuple[Verdict, int]]:
        return [(new_to_new(f, profile), n) for f, n in running.items()]

    names = tuple(sorted({p.name for p in old_hosts.values()}))
    na = Cell(Status.NA, note=f"no {gen.name} host runs a profile older than {new.name}")
    cells = {
        Column.SPAWN_OLD: _cell(spawn_old, new, names, rejudge=False) if old_hosts else na,
        Column.SPAWN_NEW: _cell(spawn_new, new, (new.name,)),
        Column.LM_OLD_NEW: _cell(lm_old_new, new, (*names, new.name)) if old_hosts else na,
        Column.LM_NEW_NEW: _cell(lm_new_new, new, (new.name,)),
    }
    return Row(gen.name, len(hosts), cells)


def _sides(checker: Checker, generation: str) -> Callable[[HostProfile], HostSide]:
    gen = checker.fleet.generation_by_name[generation]
    return lambda profile: HostSide(gen, profile)


def _started_on_new(facts: VmFacts) -> VmFacts:
    """A VM as it runs after it (re)started on the new profile: a host-model guest then has the
    new host's CPU (left unrecorded so that the host's is used)."""
    if facts.cpu.mode is not CpuMode.HOST_MODEL:
        return facts
    cpu = facts.cpu.model_copy(update={"model": None, "features": (), "disabled": ()})
    return dataclasses.replace(facts, cpu=cpu)


def _cell(judge: Callable[[HostProfile], Iterable[tuple[Verdict, int]]], profile: HostProfile,
          profiles: tuple[str, ...], *, rejudge: bool = True) -> Cell:
    """A cell from ``judge(profile)`` (verdicts with VM counts). Fixes such as kernel flags are
    applied to ``profile`` and judged again, unless ``rejudge`` is false (old profiles)."""
    vms = blocked = workaround = 0
    reasons: Counter[str] = Counter()
    workarounds: Counter[str] = Counter()
    fixes: Counter[str] = Counter()
    carried: Counter[str] = Counter()
    unfixable = 0
    for verdict, n in judge(profile):
        vms += n
        carried.update({r.code: n for r in verdict.carried})
        if verdict.kind is VerdictKind.BLOCK:
            blocked += n
            reasons.update({r.code: n for r in verdict.blocking})
            actions = verdict.fixes
            if len(actions) == 1 and len(verdict.blocking) == len(
                    [r for r in verdict.blocking if r.action]):
                fixes[actions[0]] += n
            else:
                unfixable += n
        elif verdict.kind is VerdictKind.WORKAROUND:
            workaround += n
        workarounds.update(dict.fromkeys(verdict.workarounds, n))
    if vms == 0:
        return Cell(Status.UNTESTED, profiles=profiles, note="no VM to judge")
    status = Status.FAIL if blocked else Status.OK
    after = None
    if blocked and not unfixable:
        after = _after_fix(fixes, judge, profile if rejudge else None)
    return Cell(status, vms=vms, blocked=blocked, workaround=workaround,
                reasons=dict(reasons.most_common()), workarounds=dict(workarounds.most_common()),
                fixes=dict(fixes.most_common()), carried=dict(carried.most_common()),
                after_fix=after, profiles=profiles)


def _after_fix(fixes: Mapping[str, int],
               redo: Callable[[HostProfile], Iterable[tuple[Verdict, int]]],
               profile: HostProfile | None) -> Status | None:
    """The cell's status once every fix is applied. Guest-side fixes (``require_guest_update``,
    ``pin_cpu_model``, ``cold_migrate``) lift exactly the blocks that offered them; kernel
    flags are applied to the profile and the cell judged again: what still blocks there must
    be lifted by a guest-side fix."""
    flags = [f for f in (kernel_flag(a) for a in fixes) if f is not None]
    if not flags:
        return Status.OK
    if profile is None:
        return None
    flagged = profile.model_copy(update={"kernel_flags": (*profile.kernel_flags, *flags)})
    for verdict, _n in redo(flagged):
        if verdict.kind is VerdictKind.BLOCK and any(
                r.action is None or kernel_flag(r.action) is not None or r.action not in fixes
                for r in verdict.blocking):
            return Status.FAIL
    return Status.OK


def _fix_words(fix: str) -> str:
    flag = kernel_flag(fix)
    return flag if flag is not None else fix.replace("_", " ").replace("require ", "")
