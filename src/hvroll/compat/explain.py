"""``hvroll explain``: why can't this VM move? A readable "No valid host" diagnosis.

Every other host of the VM's region is a candidate. For each, the checks run in the
scheduler's order: scheduling disabled, profile downgrade, capacity under allocation ratios,
server-group policy, then the CPU check and the known-issue rules (:meth:`Checker.placement`);
the first one that blocks is the host's reason. The diagnosis counts hosts per reason, keeps a
few examples of each, and lists the hosts that would accept the VM.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from hvroll.compat.target import Targets
from hvroll.compat.verdict import Checker, Reason, Verdict, VerdictKind
from hvroll.domain import Fleet, Host, HostProfile, SchedulingState, Vm
from hvroll.errors import InputError
from hvroll.inventory.references import Usage, usage_by_host


@dataclass(frozen=True, slots=True)
class Candidate:
    host: Host
    verdict: Verdict
    first: Reason | None
    """The first blocking reason, in check order; None when the host accepts the VM."""

    @property
    def accepts(self) -> bool:
        return self.first is None


@dataclass
class Explanation:
    vm: Vm
    source: Host
    target: HostProfile | None
    candidates: list[Candidate]
    examples: dict[str, list[Candidate]] = field(default_factory=dict)

    @property
    def accepted(self) -> list[Candidate]:
        return [c for c in self.candidates if c.accepts]

    def carried(self) -> dict[str, list[Candidate]]:
        """Accepting hosts per next-boot risk the VM already carries where it runs (allowed,
        with a warning naming the risk: ``Reason.carried``)."""
        out: dict[str, list[Candidate]] = defaultdict(list)
        for c in self.accepted:
            for r in c.verdict.carried:
                out[r.code].append(c)
        return dict(out)

    def by_reason(self) -> dict[str, int]:
        """Hosts per first failing check, most frequent first."""
        counts = Counter(c.first.code for c in self.candidates if c.first is not None)
        return dict(counts.most_common())

    def data(self, limit: int | None = None) -> dict[str, Any]:
        """JSON-able diagnosis; ``limit`` caps the examples per reason (all hosts are listed
        under ``hosts`` anyway)."""
        vm = self.vm
        return {
            "vm": vm.name, "host": self.source.name, "generation": self.source.generation,
            "profile": self.source.profile,
            "target": self.target.name if self.target else None,
            "candidates": len(self.candidates), "accepted": [c.host.name for c in self.accepted],
            "by_reason": self.by_reason(),
            "examples": {code: [{"host": c.host.name, "message": c.first.message if c.first
                                 else ""} for c in cs[:limit]]
                         for code, cs in self.examples.items()},
            "workarounds": sorted({w for c in self.accepted for w in c.verdict.workarounds}),
            "carried": {code: {"hosts": len(cs), "message": _carried(cs[0], code).message,
                               "fix": _carried(cs[0], code).action}
                        for code, cs in self.carried().items()},
            "hosts": [{"host": c.host.name, "accepts": c.accepts,
                       "kind": c.verdict.kind.value,
                       "first": None if c.first is None else {"code": c.first.code,
                                                              "message": c.first.message},
                       "workarounds": list(c.verdict.workarounds),
                       "carried": [r.code for r in c.verdict.carried]}
                      for c in self.candidates],
        }


def _carried(candidate: Candidate, code: str) -> Reason:
    return next(r for r in candidate.verdict.carried if r.code == code)


def explain(fleet: Fleet, vm_name: str, target: HostProfile | Targets | None = None,
            checker: Checker | None = None) -> Explanation:
    """Judge every other host of ``vm_name``'s region as a destination (as reinstalled with
    ``target`` when given; with :class:`Targets`, each host as reinstalled with its own
    target when that ranks higher than what it runs)."""
    vm = fleet.vm_by_name.get(vm_name)
    if vm is None:
        raise InputError(f"no VM named {vm_name!r} in the inventory (expected a name such as "
                         f"{next(iter(fleet.vm_by_name), 'vm-000001')!r})")
    checker = checker if checker is not None else Checker(fleet)
    source = fleet.host_by_name[vm.host]
    region = fleet.region_of(source)
    usage = usage_by_host(fleet.vms)
    group_hosts = {m.host for m in fleet.members_by_group.get(vm.server_group or "", ())
                   if m.name != vm.name}
    candidates = []
    examples: dict[str, list[Candidate]] = defaultdict(list)
    for host in fleet.hosts:
        if host.name == source.name or fleet.region_of(host) != region:
            continue
        dest_profile: HostProfile | None
        if isinstance(target, Targets):
            own = target.for_host(host)
            dest_profile = own if target.moves(host, checker.profile_of(host)) else None
        else:
            dest_profile = target
        verdict = checker.placement(vm, source, host, usage.get(host.name, Usage()),
                                    group_hosts, dest_profile=dest_profile)
        if host.scheduling is SchedulingState.DISABLED:
            disabled = Reason("disabled", f"{host.name} has scheduling disabled",
                              VerdictKind.BLOCK)
            verdict = Verdict(VerdictKind.BLOCK, (disabled, *verdict.reasons),
                              verdict.workarounds)
        first = verdict.blocking[0] if verdict.blocking else None
        candidate = Candidate(host, verdict, first)
        candidates.append(candidate)
        if first is not None:
            examples[first.code].append(candidate)
    shown = target.default if isinstance(target, Targets) else target
    return Explanation(vm, source, shown, candidates, dict(examples))
