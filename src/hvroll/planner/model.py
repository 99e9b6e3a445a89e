"""The plan: a versioned file, the executor's input (``hvroll plan -o plan.json``).

A plan is a list of waves. Wave 0 is the canary wave; the campaign holds after it for an
operator's go unless the plan says otherwise. In each wave every cluster works on at most
``hosts_per_wave`` of its hosts; a host step drains the host (its migrations, in order) and/or
reinstalls it. A canary host is drained in wave 0 and reinstalled in wave 1.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hvroll.domain import HostProfile
from hvroll.domain.enums import Vocabulary
from hvroll.errors import InventoryError, Problem

PLAN_VERSION = 1


class Strategy(Vocabulary):
    """How VMs leave a draining host.

    ``roll-forward`` (hvroll's): only to hosts already on the target profile, upgrading empty
    spares first, so each VM moves about once. ``evacuate-return``: to any compatible host,
    then back once its host is reinstalled (about two moves per VM). ``scheduler``: to the
    least-loaded compatible host whatever its profile, as Nova's scheduler or Watcher would.
    """

    ROLL_FORWARD = "roll-forward"
    EVACUATE_RETURN = "evacuate-return"
    SCHEDULER = "scheduler"


class MoveKind(Vocabulary):
    LIVE = "live"
    COLD = "cold"
    """The VM is off (or stopped in a maintenance window) and moves without running."""


class UnmovableAction(Vocabulary):
    """What the plan does with a VM it cannot live-migrate."""

    COLD_MIGRATE = "cold-migrate"
    """Stopped, moved and started again in a maintenance window (the policy allows it)."""
    OPERATOR = "operator"
    """Needs an operator or the tenant (e.g. a guest update); its host is skipped."""


class PlanModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


MAX_PER_WAVE = 10_000
"""Bound of the policy's counts (hosts per wave, concurrent migrations, canary hosts,
failed-host tolerance): beyond any fleet hvroll plans."""
MAX_REINSTALL_S = 7 * 24 * 3600.0
"""A week."""
MAX_DOWNTIME_MS = 3_600_000.0
"""An hour."""


class Policy(PlanModel):
    """Limits and choices of a campaign. Defaults are what an operator would start with."""

    hosts_per_wave: int | None = Field(default=None, ge=1, le=MAX_PER_WAVE)
    """Hosts of one cluster upgraded at once; default: the cluster's hot-spare count (≥ 1)."""
    drain_ahead: int = Field(default=2, ge=1, le=MAX_PER_WAVE)
    """Hosts of one cluster drained ahead of their reinstall (``roll-forward``): beside the
    ``k`` hosts of a wave, at most this many of the next wave are taken out of service at
    once. More keeps the reinstall slots busy (a shorter campaign), at the cost of that many
    hosts' capacity held empty while they wait: the VMs they held run on upgraded hosts,
    within the plan's placement (capacity and anti-affinity hold whatever the number)."""
    migrations_per_source: int = Field(default=2, ge=1, le=MAX_PER_WAVE)
    """Concurrent outgoing migrations per host; each shares the host's link."""
    migrations_per_dest: int = Field(default=2, ge=1, le=MAX_PER_WAVE)
    migrations_per_cluster: int = Field(default=8, ge=1, le=MAX_PER_WAVE)
    migrations_per_region: int = Field(default=64, ge=1, le=MAX_PER_WAVE)
    reinstall_s: float = Field(default=1800.0, gt=0, le=MAX_REINSTALL_S)
    """Time to reinstall and verify one host, seconds (30 min)."""
    downtime_ms: float = Field(default=500.0, gt=0, le=MAX_DOWNTIME_MS)
    """Downtime limit a live migration starts with, milliseconds."""
    canary_hosts: int = Field(default=6, ge=0, le=MAX_PER_WAVE)
    """At most this many canary hosts (at most one per cluster); 0 means no canary wave."""
    hold_after_canary: bool = True
    """Stop after the canary wave until an operator resumes the campaign."""
    allow_suspend: bool = False
    """May a live migration that does not converge pause its guest so that it completes
    (suspend-and-complete: seconds of downtime, no reboot), as a last rung of the ladder."""
    allow_cold_migration: bool = False
    """May VMs that cannot move live be stopped and cold-migrated in a maintenance window."""
    failed_host_tolerance: int = Field(default=2, ge=0, le=MAX_PER_WAVE)
    """Hosts whose reinstall or verification may fail before the campaign stops."""


class Estimate(PlanModel):
    seconds: float
    downtime_ms: float
    sent_mib: float
    converges: bool = True


class Migration(PlanModel):
    vm: str
    source: str
    dest: str
    kind: MoveKind = MoveKind.LIVE
    workarounds: tuple[str, ...] = ()
    estimate: Estimate
    returning: bool = False
    """A move back to the VM's original host once reinstalled (``evacuate-return``)."""


class HostStep(PlanModel):
    host: str
    cluster: str
    region: str
    target: str
    """The profile the host is reinstalled with (and must report afterwards)."""
    drain: tuple[Migration, ...] = ()
    reinstall: bool = True
    canary: bool = False


class Wave(PlanModel):
    index: int
    canary: bool = False
    steps: tuple[HostStep, ...] = ()
    returns: tuple[Migration, ...] = ()
    """Moves after this wave's reinstalls (``evacuate-return`` only)."""
    estimated_s: float = 0.0


class Unmovable(PlanModel):
    vm: str
    host: str
    reason: str
    action: UnmovableAction


class SkipCause(Vocabulary):
    """Why a host stays on its profile."""

    LEGACY_POOL = "legacy-pool"
    """Kept on the old profile to hold its cluster's VMs that cannot run on the target (its
    own and those consolidated onto it by live migration): the cluster's legacy pool."""
    BLOCKED_VM = "blocked-vm"
    """It holds a VM that can neither go to the target nor to the legacy pool."""
    NO_ROOM = "no-room"
    """No room for its VMs on compatible hosts of the cluster."""


class SkippedHost(PlanModel):
    host: str
    reason: str
    cause: SkipCause = SkipCause.BLOCKED_VM
    pinned_by: str = ""
    """A VM that cannot leave this kept-back host at all (it cannot move live, and a cold
    move would start it where it would not boot or the policy allows none): the host stays
    until an operator deals with that VM. Empty for a host the plan chose as a legacy pool."""


class Summary(PlanModel):
    hosts: int
    vms: int
    waves: int
    migrations: int
    migrations_per_vm: float
    max_moves_per_vm: int
    estimated_makespan_s: float
    lower_bound_s: float
    blocked_vms: int
    skipped_hosts: int
    planning_time_s: float
    kept_back_hosts: int = 0
    """Skipped hosts kept on the old profile as legacy pools (cause ``legacy-pool``)."""
    pinned_hosts: int = 0
    """Of ``kept_back_hosts``, those pinned by a VM that cannot leave them
    (:attr:`SkippedHost.pinned_by`): kept whatever the plan; the others the plan chose."""
    skipped_by_cause: dict[str, int] = Field(default_factory=dict)
    """Skipped hosts per :class:`SkipCause`."""
    policy_bound_s: float = 0.0
    """The lower bound under the policy's rules: ``lower_bound_s``, and what no plan under
    them avoids at a cluster's start and end (docs/planner.md, "The lower bound"); 0 in plans
    written before it."""


class CanaryCoverage(PlanModel):
    """What the canary wave covers: combinations (``generation/host-os/guest-family/device``)
    of internal tenants' VMs on the canary hosts, those it does not with why, and the
    (generation, host OS) pairs to upgrade that got no canary with why."""

    hosts: tuple[str, ...] = ()
    covered: tuple[str, ...] = ()
    uncovered: tuple[tuple[str, str], ...] = ()
    pairs_without: tuple[tuple[str, str], ...] = ()


class Plan(PlanModel):
    version: int = PLAN_VERSION
    strategy: Strategy
    target: str
    """Names of the target profiles, comma-separated."""
    targets: tuple[HostProfile, ...] = ()
    """Their definitions (a target may be given inline, not in the inventory)."""
    inventory: str = ""
    inventory_fingerprint: str = ""
    """:func:`hvroll.inventory.fingerprint` of the inventory the plan was made for ('' in
    plans of earlier versions); a campaign refuses the plan with another inventory."""
    policy: Policy
    waves: tuple[Wave, ...]
    unmovable: tuple[Unmovable, ...] = ()
    skipped: tuple[SkippedHost, ...] = ()
    canary: CanaryCoverage = CanaryCoverage()
    summary: Summary

    def host_steps(self) -> list[HostStep]:
        return [step for wave in self.waves for step in wave.steps]


def save_plan(plan: Plan, path: str | os.PathLike[str]) -> None:
    from hvroll.inventory import write_atomic

    write_atomic(os.fspath(path), plan.model_dump_json(exclude_defaults=False) + "\n")


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """Read a plan file; a wrong file is one line per problem (``FILE:LINE: …``)."""
    from hvroll.inventory.reading import read_text

    name = os.fspath(path)
    return parse_plan(read_text(name, _EXPECTED), name)


_EXPECTED = "a plan written by 'hvroll plan'"


def parse_plan(text: str, name: str) -> Plan:
    """Validate the text of a plan; ``name`` is only used in messages."""
    from hvroll.inventory.locate import LineIndex
    from hvroll.inventory.reading import load_json

    data = load_json(text, name)
    if not isinstance(data, dict) or "waves" not in data:
        got = type(data).__name__ if not isinstance(data, dict) else "an object without waves"
        raise InventoryError([Problem(name, 1, f"not a plan (expected {_EXPECTED}, got {got})")])
    if data.get("version") != PLAN_VERSION:
        raise InventoryError([Problem(name, 1, f"plan version is not supported (expected "
                                               f"{PLAN_VERSION}, got {data.get('version')!r})")])
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        lines = LineIndex(text)
        errors = exc.errors(include_url=False)
        problems = [Problem(name, lines.line_of(tuple(e["loc"])),
                            f"not a valid plan: {'.'.join(map(str, e['loc']))}: {e['msg']} "
                            f"(got {_short(e.get('input'))})")
                    for e in errors[:20]]
        if len(errors) > 20:
            problems.append(Problem(name, 0, f"… and {len(errors) - 20} more problems"))
        raise InventoryError(problems) from None


def _short(value: object) -> str:
    text = f"a {type(value).__name__}" if isinstance(value, (dict, list)) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
