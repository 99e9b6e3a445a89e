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

from hvroll.compat.cpu import compare
from hvroll.compat.exposure import boot_cpu, running_cpu, visible_cpu
from hvroll.compat.guestos import FACT, SmapFact, smap_fact
from hvroll.compat.kinds import VerdictKind, kernel_flag
from hvroll.compat.target import Targets
from hvroll.compat.verdict import Checker, Reason, Verdict, combine, verdict_of
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
    clusters: tuple[str, ...] = ()
    """The clusters a kernel-flag recommendation is for (each judged on its own guests)."""

    def data(self) -> dict[str, Any]:
        return {"action": self.action, "rule": self.code, "generation": self.generation,
                "clusters": list(self.clusters), "vms": self.vms, "hosts": self.hosts,
                "kind": self.kind.value, "text": self.text}


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

    target: HostProfile | None
    results: list[VmVerdict]
    targets: dict[str, HostProfile] = field(default_factory=dict)
    """Per-generation or per-cluster targets that replace ``target`` for those hosts (a
    cluster's wins over its generation's)."""
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
            "target": None if self.target is None else self.target.model_dump(mode="json"),
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


def check_upgrade(fleet: Fleet, target: HostProfile | Targets | None,
                  checker: Checker | None = None,
                  targets: Mapping[str, HostProfile] | None = None) -> CheckReport:
    """Verdicts of every VM for an upgrade of the fleet to ``target`` (``targets`` maps a CPU
    generation or a cluster to the profile its hosts get instead, e.g.
    ``{"Broadwell": CPv2n, "c-bdw-rhel": CPv2-rhel}``; or give a :class:`Targets`).

    A VM moves exactly when the planner moves it: its host's target ranks higher than the
    profile the host runs. A kernel-flag fix (``nosmap``) is offered to a cluster only when,
    with the flag, its hosts still provide the CPU every running guest of the cluster has:
    it must keep the feature set, not take a feature away."""
    checker = checker if checker is not None else Checker(fleet)
    plan_targets = target if isinstance(target, Targets) else Targets(target, dict(targets or {}))
    keeps = _FlagJudge(fleet, checker)
    results = []
    for vm in fleet.vms:
        host = fleet.host_by_name[vm.host]
        dest = plan_targets.for_host(host)
        result = upgrade_verdict(checker, vm, host, dest, plan_targets)
        results.append(keeps.per_cluster(result, dest) if dest is not None else result)
    report = CheckReport(plan_targets.default, results, dict(plan_targets.by_name))
    report.recommendations = recommendations(fleet, checker, report)
    report.unverified = unverified_smap(fleet, report)
    report.cache_verdicts = checker.cache_size
    report.cache_vm_facts = len(checker.facts)
    return report


class _FlagJudge:
    """Whether a kernel flag offered as a fix keeps a cluster's feature set: with it, the
    cluster's upgraded hosts still provide the CPU every running guest of the cluster has.
    ``nosmap`` on Ubuntu CPv1 Broadwell clusters (libvirt 1.2.2 never exposed SMAP) keeps it;
    on RHEL 7.4 ones (libvirt 3.2.0 already did) it would take SMAP away from their guests."""

    def __init__(self, fleet: Fleet, checker: Checker) -> None:
        self.fleet, self.checker = fleet, checker
        self._keeps: dict[tuple[str, str, str, str], bool] = {}

    def keeps(self, cluster: str, generation: str, target: HostProfile, flag: str) -> bool:
        key = (cluster, generation, target.name, flag)
        found = self._keeps.get(key)
        if found is None:
            found = self._keeps[key] = self._judge(cluster, generation, target, flag)
        return found

    def _judge(self, cluster: str, generation: str, target: HostProfile, flag: str) -> bool:
        gen = self.fleet.generation_by_name[generation]
        flagged = visible_cpu(gen, target.model_copy(
            update={"kernel_flags": (*target.kernel_flags, flag)}))
        hosts = {h.name: h for h in self.fleet.hosts_by_cluster.get(cluster, ())
                 if h.generation == generation}
        older = [h for h in hosts.values() if self.checker.profile_of(h).rank < target.rank]
        if not older:
            return False  # no guest here runs with an older feature set to keep
        cpus = {running_cpu(vm.cpu, gen, self.checker.profile_of(h))
                for h in hosts.values() for vm in self.fleet.vms_by_host.get(h.name, ())
                if vm.power is not PowerState.SHUTOFF}
        cpus |= {visible_cpu(gen, self.checker.profile_of(h)) for h in older}
        return all(compare(cpu, flagged).compatible for cpu in cpus)

    def per_cluster(self, result: VmVerdict, target: HostProfile) -> VmVerdict:
        """``result`` with a kernel-flag fix replaced by the rule's next one where the flag
        would not keep the VM's cluster's feature set."""
        if not any(kernel_flag(r.action or "") for r in result.verdict.reasons):
            return result
        reasons = []
        changed = False
        for r in result.verdict.reasons:
            flag = kernel_flag(r.action or "")
            if flag is not None and not self.keeps(result.host.cluster, result.host.generation,
                                                    target, flag):
                rule = self.checker.rules.by_id.get(r.code)
                actions = getattr(rule, "actions", ())
                nxt = next((a for a in actions if kernel_flag(a) is None), None)
                r = Reason(r.code, f"{r.message} ({flag} would take a feature away from the "
                                   f"running guests of cluster {result.host.cluster})",
                           r.kind, nxt)
                changed = True
            reasons.append(r)
        if not changed:
            return result
        return VmVerdict(result.vm, result.host, verdict_of(reasons), result.moves)


def unverified_smap(fleet: Fleet, report: CheckReport) -> list[Unverified]:
    """VMs whose SMAP support no source decides and whose next boot on their target exposes
    SMAP (where it does not, the assumption changes nothing)."""
    out = []
    targets = Targets(report.target, report.targets)
    seen: dict[tuple[object, str, str], bool] = {}
    for r in report.results:
        fact = smap_fact(r.vm.guest)
        if fact.verified:
            continue
        target = targets.for_host(r.host)
        if target is None:
            continue
        key = (r.vm.cpu, r.host.generation, target.name)
        exposes = seen.get(key)
        if exposes is None:
            boot = boot_cpu(r.vm.cpu, fleet.generation_of(r.host), target)
            exposes = seen[key] = "smap" in boot.expanded()
        if exposes:
            out.append(Unverified(r.vm, r.host, fact))
    return out


def upgrade_verdict(checker: Checker, vm: Vm, host: Host, target: HostProfile | None,
                    targets: Targets | None = None) -> VmVerdict:
    """The verdict of one VM for an upgrade of its host to ``target``: the move and the next
    boot there when the host is upgraded (its target ranks higher), else the next boot where
    it is."""
    current = checker.profile_of(host)
    moves = target is not None and (targets.moves(host, current) if targets is not None
                                    else current != target)
    if not moves or target is None:
        return VmVerdict(vm, host, checker.spawn(vm, host), False)
    boot = checker.spawn(vm, host, profile=target)
    if vm.power is PowerState.SHUTOFF:
        move = checker.cold_migration(vm, host, host, dest_profile=target)
    else:
        move = checker.migration(vm, host, host, dest_profile=target)
    return VmVerdict(vm, host, combine(move, boot), True)


_Key = tuple[str, str, str, str]
"""(action, rule, CPU generation, target profile)."""


def recommendations(fleet: Fleet, checker: Checker, report: CheckReport) -> list[Recommendation]:
    """Actions grouped by (action, rule, CPU generation, target), blocks first, most VMs
    first; a kernel flag names the clusters it is offered to (judged per cluster)."""
    groups: dict[_Key, set[str]] = defaultdict(set)
    kinds: dict[_Key, VerdictKind] = {}
    guests: dict[_Key, Counter[str]] = defaultdict(Counter)
    clusters: dict[_Key, set[str]] = defaultdict(set)
    targets = Targets(report.target, report.targets)
    for r in report.results:
        target = targets.for_host(r.host)
        for reason in r.verdict.reasons:
            if reason.action is None or target is None:
                continue
            key = (reason.action, reason.code, r.host.generation, target.name)
            groups[key].add(r.vm.name)
            kinds[key] = max(kinds.get(key, reason.kind), reason.kind)
            guests[key][r.vm.guest.label] += 1
            if kernel_flag(reason.action):
                # offered per cluster (judged on its guests): the hosts of those clusters
                clusters[key].add(r.host.cluster)
    profiles = {p.name: p for p in targets.profiles()}
    out = []
    for key, vms in groups.items():
        action, code, generation, target_name = key
        target = profiles[target_name]
        named = tuple(sorted(clusters.get(key, ())))
        hosts = sum(1 for h in fleet.hosts if h.generation == generation
                    and (not named or h.cluster in named)
                    and (t := targets.for_host(h)) is not None and t.name == target_name)
        n = len(vms)
        out.append(Recommendation(action, code, generation, n, hosts, kinds[key],
                                  _words(fleet, checker, target, key, named, n, hosts,
                                         guests[key]), named))
    return sorted(out, key=lambda r: (-r.kind.rank, -r.vms, r.action, r.generation))


def _words(fleet: Fleet, checker: Checker, target: HostProfile, key: _Key,
           clusters: tuple[str, ...], n: int, hosts: int, guests: Counter[str]) -> str:
    action, code, generation, _target = key
    examples = ", ".join(g for g, _ in guests.most_common(3))
    vms = f"{n} VM{'' if n == 1 else 's'}"
    flag = kernel_flag(action)
    if flag is not None:
        older = sorted({h.profile for c in clusters for h in fleet.hosts_by_cluster.get(c, ())
                        if h.generation == generation
                        and checker.profile_of(h).rank < target.rank})
        shown = ", ".join(clusters[:5]) + (f", … ({len(clusters)} clusters)"
                                           if len(clusters) > 5 else "")
        return (f"boot the {hosts} {generation} hosts of cluster{'s' if len(clusters) > 1 else ''} "
                f"{shown} on {target.name} with kernel flag {flag}: they then keep the CPU "
                f"feature set their running guests have (from {', '.join(older)}); {vms} "
                f"({examples}) would not boot otherwise [{code}]")
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
