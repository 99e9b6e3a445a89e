"""Verdicts: may this VM be live-migrated to, or started on, that host, and why not.

A verdict combines the CPU check (:mod:`hvroll.compat.cpu`), the known-issue rules
(:mod:`hvroll.compat.ruleset`) and, for :meth:`Checker.placement`, capacity under allocation
ratios, server-group policy and the one-way profile graph. Decisions are pure; the
:class:`Checker` only caches them on what they depend on, so that the planner can ask millions
of times: a verdict is keyed on (the VM's rule-relevant facts, source generation and profile,
destination generation and profile), and a fleet has a few thousand distinct keys.

Worked example (seed 000): a CentOS 5.11 guest (``smap_support: false``) started on a
Broadwell CPv1 host runs with ``Broadwell-noTSX -smap`` (libvirt 1.2.2 does not expose SMAP).
Live-migrated to a Broadwell host reinstalled as CPv2 (libvirt 4.0.0) its CPU is still
provided (compatible), but at its next boot it would get SMAP and not boot: rule
``smap-legacy-guest`` blocks, offering ``host_kernel_flag:nosmap`` because with ``nosmap`` the
CPv2 host shows exactly the CPU Broadwell hosts show on CPv1.

A next-boot condition (``cpu.boot_exposes``) judges a *live* migration against what the VM
already has: the same guest on a Broadwell host of a profile whose libvirt exposes SMAP
(public preset: ``mitaka``) would not boot at its next boot where it runs now. Moving it live to
another such host adds no risk, so the rule only warns (``Reason.carried``, its message saying
so); so does a cold move of such a VM that is shut off (it stays off). A spawn, a cold
migration of a running VM (it boots there) and a move to a host whose next-boot CPU newly
exposes SMAP (from CPv1) still block.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hvroll.compat.conditions import (
    HostSide,
    Situation,
    VmFacts,
    applies,
    carriable,
    carried,
)
from hvroll.compat.cpu import CpuCheck, CpuDef, compare
from hvroll.compat.exposure import boot_cpu, running_cpu, visible_cpu
from hvroll.compat.kinds import Affects, VerdictKind, kernel_flag
from hvroll.compat.ruleset import IssueRule, RuleSet, shipped_rules
from hvroll.domain import CpuGeneration, CpuMode, Fleet, GroupPolicy, Host, HostProfile, Vm
from hvroll.errors import InputError
from hvroll.inventory.references import Usage, over_capacity

__all__ = ["Checker", "Reason", "Verdict", "VerdictKind", "combine"]


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a verdict is what it is.

    ``code`` is a rule id, or ``cpu``, ``capacity``, ``anti-affinity``, ``affinity``,
    ``profile-downgrade``, ``same-host``; ``action`` the workaround (``workaround``/``warn``)
    or the fix offered for a ``block`` (e.g. ``host_kernel_flag:nosmap``), if any.
    """

    code: str
    message: str
    kind: VerdictKind
    action: str | None = None
    carried: bool = False
    """A risk of the VM's next boot that it already carries where it is (the rule holds for a
    boot on its source too): the move, which does not start it (live, or cold while it is shut
    off), adds nothing, so the rule warns instead of blocking; ``action`` is the fix that would
    lift the risk."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The worst kind among the reasons, the reasons, and the workarounds to do first."""

    kind: VerdictKind
    reasons: tuple[Reason, ...] = ()
    workarounds: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Allowed (possibly with warnings or workarounds): ``kind != BLOCK``."""
        return self.kind is not VerdictKind.BLOCK

    @property
    def allowed(self) -> bool:
        return self.kind is not VerdictKind.BLOCK

    @property
    def blocking(self) -> tuple[Reason, ...]:
        """The reasons that block, in check order."""
        return tuple(r for r in self.reasons if r.kind is VerdictKind.BLOCK)

    @property
    def fixes(self) -> tuple[str, ...]:
        """Actions offered to lift the blocks."""
        return _unique(r.action for r in self.blocking if r.action)

    @property
    def carried(self) -> tuple[Reason, ...]:
        """Next-boot risks the VM already carries where it is (warnings, see
        :attr:`Reason.carried`): allowed for the move, but the VM would not boot there."""
        return tuple(r for r in self.reasons if r.carried)


OK = Verdict(VerdictKind.OK)


def verdict_of(reasons: Iterable[Reason]) -> Verdict:
    """The verdict a list of reasons makes."""
    rs = tuple(reasons)
    kind = max((r.kind for r in rs), default=VerdictKind.OK)
    workarounds = _unique(r.action for r in rs
                          if r.kind is VerdictKind.WORKAROUND and r.action)
    return Verdict(kind, rs, workarounds)


def combine(*verdicts: Verdict) -> Verdict:
    """One verdict from several (e.g. a live migration and the next boot there)."""
    seen: set[tuple[str, str]] = set()
    reasons: list[Reason] = []
    for v in verdicts:
        for r in v.reasons:
            if (r.code, r.message) not in seen:
                seen.add((r.code, r.message))
                reasons.append(r)
    return verdict_of(reasons)


def _unique(items: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))


@dataclass
class _Interned:
    """Objects mapped to small ints by identity (the object is kept so its id stays unique)."""

    by_id: dict[int, tuple[object, int]] = field(default_factory=dict)


class Checker:
    """Verdicts for one fleet, cached on what they depend on.

    ``rules`` defaults to the shipped rules. Profiles are looked up by name in the fleet, so a
    host whose ``profile`` was changed (a copy with ``profile="CPv2"``) is judged as
    reinstalled; ``dest_profile``/``profile`` arguments override that for one question.
    """

    def __init__(self, fleet: Fleet, rules: RuleSet | None = None) -> None:
        self.fleet = fleet
        self.rules = rules if rules is not None else shipped_rules()
        self._facts_of_vm: dict[int, tuple[Vm, int]] = {}
        self._facts_index: dict[VmFacts, int] = {}
        self._facts_by_shape: dict[tuple[object, ...], int] = {}
        self.facts: list[VmFacts] = []
        self._profile_index: dict[int, tuple[HostProfile, int]] = {}
        self._profiles: list[HostProfile] = []
        self._verdicts: dict[tuple[object, ...], Verdict] = {}
        self._older: dict[tuple[str, int], frozenset[CpuDef]] = {}
        self._issues_by_action = {
            a: tuple(r for r in self.rules.issues
                     if a in r.affects or Affects.TELEMETRY in r.affects)
            for a in (Affects.SPAWN, Affects.LIVE_MIGRATION, Affects.COLD_MIGRATION)}

    # -- public questions --------------------------------------------------------------

    def migration(self, vm: Vm, source: Host, dest: Host, *,
                  dest_profile: HostProfile | None = None) -> Verdict:
        """May ``vm`` be live-migrated from ``source`` to ``dest`` (running ``dest_profile``,
        e.g. after its reinstall)? CPU and rules, not capacity."""
        return self._ask(Affects.LIVE_MIGRATION, vm, source, dest, dest_profile)

    def cold_migration(self, vm: Vm, source: Host, dest: Host, *,
                       dest_profile: HostProfile | None = None) -> Verdict:
        """May ``vm`` be moved powered off to ``dest`` and started there?"""
        return self._ask(Affects.COLD_MIGRATION, vm, source, dest, dest_profile)

    def spawn(self, vm: Vm, host: Host, *, profile: HostProfile | None = None) -> Verdict:
        """Would ``vm`` start on ``host`` (running ``profile``), e.g. after a power cycle?"""
        return self._ask(Affects.SPAWN, vm, None, host, profile)

    def placement(self, vm: Vm, source: Host, dest: Host, used: Usage, group_hosts: set[str],
                  *, dest_profile: HostProfile | None = None) -> Verdict:
        """:meth:`migration` plus the scheduler's checks, in this order: never to a profile of
        lower rank, capacity under allocation ratios given ``used`` (what ``dest`` holds
        now), server-group policy (``group_hosts``: hosts holding other members of
        ``vm.server_group``)."""
        reasons = self._placement_reasons(vm, source, dest, used, group_hosts, dest_profile)
        live = self.migration(vm, source, dest, dest_profile=dest_profile)
        return verdict_of((*reasons, *live.reasons)) if reasons else live

    def baseline(self, hosts: Iterable[Host], profile: HostProfile | None = None) -> CpuDef:
        """The best CPU model all ``hosts`` (running their profile, or ``profile``) can give a
        new VM: the fix for CPU mismatches in a mixed cluster."""
        from hvroll.compat.cpu import baseline

        cpus = {visible_cpu(self.fleet.generation_of(h), profile or self.profile_of(h))
                for h in hosts}
        return baseline(sorted(cpus, key=lambda c: c.label()))

    def profile_of(self, host: Host) -> HostProfile:
        try:
            return self.fleet.profile_by_name[host.profile]
        except KeyError:
            raise InputError(f"host {host.name!r} runs profile {host.profile!r}, which the "
                             f"inventory does not define (expected one of: "
                             f"{', '.join(self.fleet.profile_by_name)})") from None

    def facts_of(self, vm: Vm) -> VmFacts:
        return self.facts[self._facts_id(vm)]

    @property
    def cache_size(self) -> int:
        """Distinct verdicts computed so far."""
        return len(self._verdicts)

    # -- evaluation --------------------------------------------------------------------

    def _ask(self, action: Affects, vm: Vm, source: Host | None, dest: Host,
             dest_profile: HostProfile | None) -> Verdict:
        dprof = dest_profile if dest_profile is not None else self.profile_of(dest)
        key: tuple[object, ...]
        if source is None:
            key = (action, self._facts_id(vm), dest.generation, self._profile_id(dprof))
        else:
            key = (action, self._facts_id(vm), source.generation,
                   self._profile_id(self.profile_of(source)), dest.generation,
                   self._profile_id(dprof))
        found = self._verdicts.get(key)
        if found is None:
            src = None if source is None else HostSide(self._generation(source),
                                                       self.profile_of(source))
            found = self.judge(action, self.facts_of(vm), src,
                               HostSide(self._generation(dest), dprof))
            self._verdicts[key] = found
        return found

    def judge(self, action: Affects, facts: VmFacts, source: HostSide | None,
              dest: HostSide) -> Verdict:
        """The verdict for one situation (uncached)."""
        situation = self.situation(action, facts, source, dest)
        reasons = [self._reason(rule, situation)
                   for rule in self._issues_by_action[action] if applies(rule, situation)]
        return verdict_of(reasons)

    def situation(self, action: Affects, facts: VmFacts, source: HostSide | None,
                  dest: HostSide) -> Situation:
        boot = boot_cpu(facts.cpu, dest.generation, dest.profile)
        check: CpuCheck
        if action is Affects.LIVE_MIGRATION and source is not None:
            passthrough = facts.cpu.mode is CpuMode.HOST_PASSTHROUGH
            running = running_cpu(facts.cpu, source.generation, source.profile)
            check = compare(running, visible_cpu(dest.generation, dest.profile),
                            exact=passthrough)
        else:
            check = compare(boot, visible_cpu(dest.generation, dest.profile))
        caps = (self.rules.capabilities(source.profile, dest.profile) if source is not None
                else frozenset())
        return Situation(action, facts, source, dest, check, boot.expanded(), caps)

    def _reason(self, rule: IssueRule, s: Situation) -> Reason:
        message = rule.message.format_map(s.words)
        kind = rule.verdict
        if kind > VerdictKind.WARN and carriable(rule.when, s) and s.source is not None \
                and carried(rule.when, s, self.situation(Affects.SPAWN, s.vm, None, s.source)):
            action = next((a for a in rule.actions if self._applicable(a, rule, s)), None)
            return Reason(rule.id, f"{message} (as already on {s.source.label}, where it is "
                                   f"now: a risk the VM carries, the move adds none)",
                          VerdictKind.WARN, action, carried=True)
        if rule.requires:
            missing = [c for c in rule.requires if c not in s.capabilities]
            if missing:
                needs = "; ".join(f"{c.value} needs {self.rules.by_capability[c].needs()}"
                                  if c in self.rules.by_capability else c.value
                                  for c in missing)
                between = f"{s.source.label} and " if s.source else ""
                return Reason(rule.id, f"{message}; not possible between {between}"
                                       f"{s.destination.label} ({needs} on both hosts)",
                              VerdictKind.BLOCK, rule.fallback)
        action = next((a for a in rule.actions if self._applicable(a, rule, s)), None)
        return Reason(rule.id, message, kind, action)

    def _applicable(self, action: str, rule: IssueRule, s: Situation) -> bool:
        """Whether ``action`` would lift ``rule`` here. ``host_kernel_flag:F`` applies when the
        destination lacks F, the rule no longer holds with F, and with F the destination shows
        the CPU its generation shows on an older profile in this fleet (it keeps a feature set
        guests already run with, as ``nosmap`` keeps CPv1's on Broadwell)."""
        flag = kernel_flag(action)
        if flag is None:
            return True
        dest = s.destination
        if flag in dest.profile.kernel_flags:
            return False
        flagged = dest.profile.model_copy(
            update={"kernel_flags": (*dest.profile.kernel_flags, flag)})
        side = HostSide(dest.generation, flagged)
        if applies(rule, self.situation(s.action, s.vm, s.source, side)):
            return False
        return visible_cpu(dest.generation, flagged) in self._older_cpus(dest)

    def _older_cpus(self, dest: HostSide) -> frozenset[CpuDef]:
        """CPUs that hosts of ``dest``'s generation show on profiles of lower rank."""
        key = (dest.generation.name, dest.profile.rank)
        found = self._older.get(key)
        if found is None:
            profiles = {h.profile for h in self.fleet.hosts
                        if h.generation == dest.generation.name}
            found = frozenset(
                visible_cpu(dest.generation, self.fleet.profile_by_name[p])
                for p in profiles
                if p in self.fleet.profile_by_name
                and self.fleet.profile_by_name[p].rank < dest.profile.rank)
            self._older[key] = found
        return found

    def _placement_reasons(self, vm: Vm, source: Host, dest: Host, used: Usage,
                           group_hosts: set[str],
                           dest_profile: HostProfile | None) -> list[Reason]:
        reasons: list[Reason] = []
        block = VerdictKind.BLOCK
        if dest.name == source.name:
            reasons.append(Reason("same-host", f"{dest.name} is the VM's own host", block))
        sprof = self.profile_of(source)
        dprof = dest_profile if dest_profile is not None else self.profile_of(dest)
        if dprof.rank < sprof.rank:
            reasons.append(Reason(
                "profile-downgrade",
                f"{dest.name} runs {dprof.name} (rank {dprof.rank}), older than {sprof.name} "
                f"(rank {sprof.rank}) of {source.name}: VMs never move back to an older profile",
                block))
        disk = vm.local_disk_gib
        if (used.vcpus + vm.vcpus > dest.vcpu_capacity
                or used.ram_mib + vm.ram_mib > dest.ram_capacity_mib
                or used.disk_gib + disk > dest.disk_capacity_gib):
            after = Usage(used.vcpus + vm.vcpus, used.ram_mib + vm.ram_mib,
                          used.disk_gib + disk, used.vms + 1)
            reasons.append(Reason("capacity", f"{dest.name} would be over its "
                                              f"{'; '.join(over_capacity(dest, after))}", block))
        if vm.server_group is not None:
            group = self.fleet.group_by_name.get(vm.server_group)
            policy = group.policy if group is not None else GroupPolicy.ANTI_AFFINITY
            if policy in (GroupPolicy.ANTI_AFFINITY, GroupPolicy.SOFT_ANTI_AFFINITY) \
                    and dest.name in group_hosts:
                kind = block if policy is GroupPolicy.ANTI_AFFINITY else VerdictKind.WARN
                reasons.append(Reason("anti-affinity", f"{dest.name} already holds a member of "
                                      f"{policy.value} group {vm.server_group!r}", kind))
            elif policy in (GroupPolicy.AFFINITY, GroupPolicy.SOFT_AFFINITY) \
                    and group_hosts and dest.name not in group_hosts:
                kind = block if policy is GroupPolicy.AFFINITY else VerdictKind.WARN
                reasons.append(Reason("affinity", f"{dest.name} holds no member of "
                                      f"{policy.value} group {vm.server_group!r} (they are on "
                                      f"{', '.join(sorted(group_hosts))})", kind))
        return reasons

    def _generation(self, host: Host) -> CpuGeneration:
        try:
            return self.fleet.generation_by_name[host.generation]
        except KeyError:
            raise InputError(f"host {host.name!r} has CPU generation {host.generation!r}, "
                             f"which the inventory does not define") from None

    def _facts_id(self, vm: Vm) -> int:
        """The index of ``vm``'s facts in :attr:`facts` (equal facts: one index, in the order
        first seen). Looked up by the VM's identity, then by its shape: the plain values that
        :meth:`VmFacts.of` reads (the guest's, the CPU's, the devices', the live migrations
        since its power cycle, its disks' kinds, its power), so that facts are made, hashed
        and interned once per shape instead of once per VM (the public preset: 175,000 VMs,
        about 11 % of planning)."""
        entry = self._facts_of_vm.get(id(vm))
        if entry is not None and entry[0] is vm:
            return entry[1]
        guest, cpu, devices = vm.guest, vm.cpu, vm.devices
        shape = (guest.family, guest.distro, guest.version, guest.kernel, guest.smap_support,
                 cpu.mode, cpu.model, cpu.features, cpu.disabled, devices.balloon,
                 devices.config_drive, devices.passthrough,
                 vm.history.live_migrations_since_power_cycle,
                 tuple(d.kind for d in vm.disks), vm.power)
        index = self._facts_by_shape.get(shape)
        if index is None:
            facts = VmFacts.of(vm)
            index = self._facts_index.get(facts)
            if index is None:
                index = self._facts_index[facts] = len(self.facts)
                self.facts.append(facts)
            self._facts_by_shape[shape] = index
        self._facts_of_vm[id(vm)] = (vm, index)
        return index

    def _profile_id(self, profile: HostProfile) -> int:
        entry = self._profile_index.get(id(profile))
        if entry is not None and entry[0] is profile:
            return entry[1]
        index = next((i for i, known in enumerate(self._profiles) if known == profile), None)
        if index is None:
            index = len(self._profiles)
            self._profiles.append(profile)
        self._profile_index[id(profile)] = (profile, index)
        return index
