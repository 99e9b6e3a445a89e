"""``hvroll check``: what an upgrade of the whole fleet to one profile means for every VM.

For each VM whose host gets the target profile, the verdict is that of the moves the rolling
upgrade makes: a live migration from its host (current profile) to a host of the same CPU
generation running the target (a cold migration if the VM is shut off), and its next boot
there. A VM whose host already runs the target only needs the next-boot check. Capacity and
anti-affinity are the planner's business and are not part of this report.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hvroll.compat.exposure import boot_cpu
from hvroll.compat.guestos import FACT, SmapFact, smap_fact
from hvroll.compat.kinds import VerdictKind, kernel_flag
from hvroll.compat.verdict import Checker, Verdict, combine
from hvroll.domain import Fleet, Host, HostProfile, PowerState, Vm


@dataclass(frozen=True, slots=True)
class VmVerdict:
    vm: Vm
    host: Host
    verdict: Verdict
    moves: bool
    """Whether the VM's host is reinstalled (the VM must be migrated off and back)."""


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A host-level or fleet-level action, with how many VMs need it."""

    action: str
    code: str
    generation: str
    vms: int
    hosts: int
    kind: VerdictKind
    text: str

    def data(self) -> dict[str, Any]:
        return {"action": self.action, "rule": self.code, "generation": self.generation,
                "vms": self.vms, "hosts": self.hosts, "kind": self.kind.value,
                "text": self.text}


@dataclass(frozen=True, slots=True)
class Unverified:
    """A VM whose verdict rests on an assumed fact (no source decides it)."""

    vm: Vm
    host: Host
    fact: SmapFact

    def data(self) -> dict[str, Any]:
        return {"vm": self.vm.name, "host": self.host.name, "generation": self.host.generation,
                "guest": self.vm.guest.label, "fact": FACT, "assumed": self.fact.value,
                "why": self.fact.basis}


@dataclass
class CheckReport:
    """Per-VM verdicts for an upgrade to ``target``, summarized."""

    target: HostProfile
    results: list[VmVerdict]
    targets: dict[str, HostProfile] = field(default_factory=dict)
    """Per-generation targets that replace ``target`` for hosts of that generation."""
    recommendations: list[Recommendation] = field(default_factory=list)
    unverified: list[Unverified] = field(default_factory=list)
    """VMs whose SMAP support is assumed and matters: their next boot on the target exposes
    SMAP."""
    cache_verdicts: int = 0
    cache_vm_facts: int = 0

    def count(self, kind: VerdictKind) -> int:
        return sum(1 for r in self.results if r.verdict.kind is kind)

    @property
    def ok(self) -> int:
        """VMs with nothing to do first (verdict ok or warn)."""
        return self.count(VerdictKind.OK) + self.count(VerdictKind.WARN)

    @property
    def blocked(self) -> list[VmVerdict]:
        return [r for r in self.results if r.verdict.kind is VerdictKind.BLOCK]

    def by_reason(self) -> dict[str, int]:
        """VMs per reason code (a VM counts once per code), most frequent first."""
        counts: Counter[str] = Counter()
        for r in self.results:
            counts.update({reason.code for reason in r.verdict.reasons})
        return dict(counts.most_common())

    def reason_kinds(self) -> dict[str, str]:
        kinds: dict[str, VerdictKind] = {}
        for r in self.results:
            for reason in r.verdict.reasons:
                kinds[reason.code] = max(kinds.get(reason.code, reason.kind), reason.kind)
        return {code: kind.value for code, kind in kinds.items()}

    def workarounds(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for r in self.results:
            counts.update(r.verdict.workarounds)
        return dict(counts.most_common())

    def data(self) -> dict[str, Any]:
        """The report as JSON-able data (``hvroll check --json``)."""
        return {
            "target": self.target.model_dump(mode="json"),
            "targets": {g: p.name for g, p in self.targets.items()},
            "vms": len(self.results),
            "moving": sum(1 for r in self.results if r.moves),
            "ok": self.ok,
            "warn": self.count(VerdictKind.WARN),
            "workaround": self.count(VerdictKind.WORKAROUND),
            "blocked": len(self.blocked),
            "by_reason": self.by_reason(),
            "reason_kinds": self.reason_kinds(),
            "workarounds": self.workarounds(),
            "recommendations": [r.data() for r in self.recommendations],
            "blocked_vms": [
                {"vm": r.vm.name, "host": r.host.name, "generation": r.host.generation,
                 "guest": r.vm.guest.label,
                 "reasons": [{"code": x.code, "message": x.message, "fix": x.action}
                             for x in r.verdict.blocking]}
                for r in self.blocked],
            "unverified_vms": [u.data() for u in self.unverified],
            "cache": {"verdicts": self.cache_verdicts, "vm_facts": self.cache_vm_facts},
        }


def check_upgrade(fleet: Fleet, target: HostProfile, checker: Checker | None = None,
                  targets: Mapping[str, HostProfile] | None = None) -> CheckReport:
    """Verdicts of every VM for an upgrade of the fleet to ``target`` (``targets`` maps a CPU
    generation to the profile its hosts get instead, e.g. ``{"Broadwell": CPv2n}``)."""
    checker = checker if checker is not None else Checker(fleet)
    per_gen = dict(targets or {})
    results = []
    for vm in fleet.vms:
        host = fleet.host_by_name[vm.host]
        results.append(upgrade_verdict(checker, vm, host, per_gen.get(host.generation, target)))
    report = CheckReport(target, results, per_gen)
    report.recommendations = recommendations(fleet, checker, report)
    report.unverified = unverified_smap(fleet, report)
    report.cache_verdicts = checker.cache_size
    report.cache_vm_facts = len(checker.facts)
    return report


def unverified_smap(fleet: Fleet, report: CheckReport) -> list[Unverified]:
    """VMs whose SMAP support no source decides and whose next boot on their target exposes
    SMAP (where it does not, the assumption changes nothing)."""
    out = []
    for r in report.results:
        fact = smap_fact(r.vm.guest)
        if fact.verified:
            continue
        target = report.targets.get(r.host.generation, report.target)
        boot = boot_cpu(r.vm.cpu, fleet.generation_of(r.host), target)
        if "smap" in boot.expanded():
            out.append(Unverified(r.vm, r.host, fact))
    return out


def upgrade_verdict(checker: Checker, vm: Vm, host: Host, target: HostProfile) -> VmVerdict:
    """The verdict of one VM for an upgrade of its host to ``target``."""
    boot = checker.spawn(vm, host, profile=target)
    moves = checker.profile_of(host) != target
    if not moves:
        return VmVerdict(vm, host, boot, False)
    if vm.power is PowerState.SHUTOFF:
        move = checker.cold_migration(vm, host, host, dest_profile=target)
    else:
        move = checker.migration(vm, host, host, dest_profile=target)
    return VmVerdict(vm, host, combine(move, boot), True)


def recommendations(fleet: Fleet, checker: Checker, report: CheckReport) -> list[Recommendation]:
    """Actions grouped by (action, rule, CPU generation), blocks first, most VMs first."""
    groups: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    kinds: dict[tuple[str, str, str], VerdictKind] = {}
    guests: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    for r in report.results:
        for reason in r.verdict.reasons:
            if reason.action is None:
                continue
            key = (reason.action, reason.code, r.host.generation)
            groups[key].add(r.vm.name)
            kinds[key] = max(kinds.get(key, reason.kind), reason.kind)
            guests[key][r.vm.guest.label] += 1
    def target_of(generation: str) -> HostProfile:
        return report.targets.get(generation, report.target)

    hosts_of: Counter[str] = Counter(h.generation for h in fleet.hosts)
    out = []
    for key, vms in groups.items():
        action, code, generation = key
        n, hosts = len(vms), hosts_of[generation]
        target = target_of(generation)
        out.append(Recommendation(action, code, generation, n, hosts, kinds[key],
                                  _words(fleet, checker, target, key, n, hosts,
                                         guests[key])))
    return sorted(out, key=lambda r: (-r.kind.rank, -r.vms, r.action, r.generation))


def _words(fleet: Fleet, checker: Checker, target: HostProfile, key: tuple[str, str, str],
           n: int, hosts: int, guests: Counter[str]) -> str:
    action, code, generation = key
    examples = ", ".join(g for g, _ in guests.most_common(3))
    vms = f"{n} VM{'' if n == 1 else 's'}"
    flag = kernel_flag(action)
    if flag is not None:
        older = sorted({h.profile for h in fleet.hosts if h.generation == generation
                        and checker.profile_of(h).rank < target.rank})
        return (f"boot the {hosts} {generation} hosts on {target.name} with kernel flag "
                f"{flag}: they then show the CPU feature set {generation} hosts show on "
                f"{', '.join(older)}; {vms} ({examples}) would not boot otherwise [{code}]")
    if action == "require_guest_update":
        return (f"{vms} on {generation} hosts need a guest OS update before they can run on "
                f"{target.name} ({examples}) [{code}]")
    if action == "pin_cpu_model":
        gen_hosts = [h for h in fleet.hosts if h.generation == generation]
        model = checker.baseline(gen_hosts, target).label() if gen_hosts else "?"
        return (f"{vms} on {generation} hosts have a CPU that {target.name} hosts cannot "
                f"provide: restart them with CPU model {model} (the baseline of those "
                f"hosts) [{code}]")
    if action == "cold_migrate":
        return (f"{vms} on {generation} hosts cannot be live-migrated: power them off, "
                f"move them and start them ({examples}) [{code}]")
    if action == "normalize_iface_stats":
        return (f"normalize interface RX/TX stats by the reporting host's libvirt version for "
                f"{vms} on {generation} hosts [{code}]")
    return f"{action} before moving {vms} on {generation} hosts ({examples}) [{code}]"
