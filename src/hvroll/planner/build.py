"""Build a campaign plan: canary wave, then waves of at most k hosts per cluster.

``roll-forward`` (hvroll's strategy) upgrades a cluster's empty hosts (its hot spares) first,
then drains k hosts at a time onto hosts already on the target profile, so that every VM moves
once, straight to its final profile. The baselines use the same loop with other destination
rules: ``scheduler`` sends each VM to the least-loaded compatible host whatever its profile,
``evacuate-return`` does the same and moves the VMs back once their host is reinstalled.

Every placement holds capacity under allocation ratios, anti-affinity, the compatibility
verdicts and the one-way profile graph (never to a lower rank). A VM that cannot move live is
listed with what the plan does instead; a host that cannot be emptied is skipped and listed.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain

from hvroll.bulk import construct, long_lived
from hvroll.compat.target import Targets as Targets  # re-exported: the planner's input
from hvroll.compat.verdict import Checker, Verdict
from hvroll.domain import Fleet, Host, HostProfile, HostRole, PowerState, Vm
from hvroll.errors import InputError
from hvroll.inventory import serialized
from hvroll.planner import estimate as est
from hvroll.planner.bounds import aggregate_link_mib_s, bounds, cluster_work, hosts_per_wave
from hvroll.planner.canary import choose_canaries, label
from hvroll.planner.model import (
    CanaryCoverage,
    Estimate,
    HostStep,
    Migration,
    MoveKind,
    Plan,
    Policy,
    SkipCause,
    SkippedHost,
    Strategy,
    Summary,
    Unmovable,
    UnmovableAction,
    Wave,
)
from hvroll.planner.placement import move_verdict, pick
from hvroll.planner.state import Move, PlanState, after_move

LIGHT_WAVES = 2
"""Under ``roll-forward`` a cluster's first this many waves (after its empty hosts) take its
lightest hosts, lightest first: capacity on the target grows before the big drains. The
rest are dealt out so that each wave mixes heavy and light hosts, heaviest first, and the
cluster's last host — whose drain and reinstall nothing else overlaps — is its lightest
(:func:`light_at_both_ends`)."""
DEFAULT_DIRTY_MIB_S = 10.0
"""Dirty rate assumed for a running VM whose rate is not known."""
COLD_BOOT_S = 60.0
"""Stop, re-home and start of a VM without local disk, seconds."""


def plan(fleet: Fleet, targets: Targets | HostProfile, policy: Policy | None = None,
         strategy: Strategy = Strategy.ROLL_FORWARD, *, inventory: str = "",
         clock: Callable[[], float] = time.perf_counter) -> Plan:
    """The campaign plan for upgrading ``fleet`` to ``targets`` under ``policy``."""
    started = clock()
    if isinstance(targets, HostProfile):
        targets = Targets(default=targets)
    with long_lived():
        return _planned(fleet, targets, policy or Policy(), strategy, inventory, clock,
                        started)


def _planned(fleet: Fleet, targets: Targets, policy: Policy, strategy: Strategy,
             inventory: str, clock: Callable[[], float], started: float) -> Plan:
    """The plan, built with the cyclic collector paused (:func:`plan`): the builder and its
    state are freed on return, before what is alive is frozen.

    Planning allocates millions of objects and makes no garbage cycles worth collecting,
    but each allocation burst triggered collections, and every full one walked the whole
    heap, the fleet's models included: a third of the enterprise plan's CPU time (0.9-1.7 s
    of 2.3-3.3 s, measured with ``gc.callbacks``). The plan itself lives as long as the
    command's work (it is written, or created and run as a campaign): it is frozen
    (:func:`hvroll.bulk.long_lived`), so that the collections that follow (the first one
    walked the planner's whole state, 0.6 s for the public preset) and those of a campaign
    created from it do not walk it."""
    digest = serialized(fleet).fingerprint  # and its JSON kept, for a campaign made of it
    fleet = with_profiles(fleet, targets.profiles())
    builder = _Builder(fleet, targets, policy, strategy)
    waves = builder.build()
    result = builder.finish(waves, inventory, clock() - started)
    return result.model_copy(update={"inventory_fingerprint": digest})


def with_profiles(fleet: Fleet, profiles: Sequence[HostProfile]) -> Fleet:
    """The fleet with target profiles it does not list yet (e.g. given inline)."""
    known = fleet.profile_by_name
    for p in profiles:
        if p.name in known and known[p.name] != p:
            raise InputError(f"target profile {p.name!r} differs from the inventory's profile "
                             f"of that name (expected the same definition or a new name)")
    extra = tuple(p for p in profiles if p.name not in known)
    if not extra:
        return fleet
    fields = {name: getattr(fleet, name) for name in Fleet.model_fields}
    fields["profiles"] = (*fleet.profiles, *extra)
    return Fleet.model_construct(**fields)


@dataclass(slots=True)
class _Draft:
    """A host step being built."""

    host: str
    moves: list[tuple[Move, MoveKind, Verdict]] = field(default_factory=list)
    reinstall: bool = True
    canary: bool = False


@dataclass(slots=True)
class _ClusterWave:
    cluster: str
    first: list[_Draft] = field(default_factory=list)
    """Empty hosts that later steps of the same wave drain into: reinstalled first."""
    then: list[_Draft] = field(default_factory=list)
    returns: list[tuple[Move, Verdict]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Dests:
    """Destinations of one drain, grouped by what a verdict depends on: (CPU generation,
    profile), each class in the order of its first host."""

    classes: tuple[list[str], ...]

    @classmethod
    def of(cls, state: PlanState, hosts: list[str]) -> _Dests:
        by_class: dict[tuple[str, str], list[str]] = {}
        for d in hosts:
            h = state.host[d]
            by_class.setdefault((h.generation, h.profile), []).append(d)
        return cls(tuple(by_class.values()))


class _BlockedError(Exception):
    def __init__(self, vm: Vm, reason: str, action: UnmovableAction) -> None:
        self.vm, self.reason, self.action = vm, reason, action


class _NoRoomError(Exception):
    pass


class _Builder:
    def __init__(self, fleet: Fleet, targets: Targets, policy: Policy,
                 strategy: Strategy) -> None:
        self.fleet = fleet
        self.targets = targets
        self.policy = policy
        self.strategy = strategy
        self.checker = Checker(fleet)
        self.state = PlanState(fleet)
        self.target = {h.name: t for h in fleet.hosts
                       if (t := targets.for_host(h)) is not None
                       and fleet.profile_of(h).rank < t.rank}
        self.unmovable: list[Unmovable] = []
        self.skipped: list[SkippedHost] = []
        self._verdicts: dict[tuple[int, bool, str, str, str, str], Verdict] = {}
        self._movable_by_class: dict[tuple[int, str, str, str], bool] = {}
        self._classes_by_host: dict[str, tuple[Host, list[tuple[int, str, str, str]]]] = {}
        self.pool_moves: dict[str, list[tuple[Move, MoveKind, Verdict]]] = {}
        """Moves of VMs that cannot run on the target, by source host, to the legacy pool:
        reserved when the pool is chosen, run in their source's drain."""
        self.evictions: dict[str, list[str]] = {}
        """VMs of a kept host that can run on the target, lifted off it (:meth:`PlanState.lift`)
        to make room for legacy VMs: each leaves for the target in the first drain that sends
        a legacy VM there (:meth:`_evict`), before that VM arrives."""
        self.room_made: dict[str, tuple[str, tuple[str, ...]]] = {}
        """Legacy VM → the kept host it goes to and the VMs lifted off it for it."""
        self.kept: set[str] = set()
        self.initial_vms = {vm.name for h in self.target for vm in fleet.vms_by_host[h]}
        self.canary = CanaryCoverage()
        self.links = {h.name: h.link_mib_s for h in fleet.hosts}
        """Each host's link, MiB/s (a reinstall keeps it)."""
        self._estimates: dict[tuple[int, float, float | None, float], Estimate] = {}
        self._runs_by_class: dict[tuple[int, str, str, str], bool] = {}

    # -- waves ---------------------------------------------------------------------------

    def build(self) -> dict[int, list[_ClusterWave]]:
        fleet = self.fleet
        candidates = [h for h in fleet.hosts if h.name in self.target
                      and h.role is HostRole.ACTIVE and fleet.vms_by_host[h.name]]
        choice = choose_canaries(fleet, candidates, self.policy.canary_hosts, self._movable)
        self.canary = CanaryCoverage(
            hosts=tuple(h.name for h in choice.hosts),
            covered=tuple(label(c) for c in choice.covered),
            uncovered=tuple((label(c), why) for c, why in choice.uncovered),
            pairs_without=tuple((f"{g}/{os_name}", why)
                                for (g, os_name), why in choice.pairs_without))
        canaries = {h.cluster: h.name for h in choice.hosts}
        waves: dict[int, list[_ClusterWave]] = defaultdict(list)
        for cluster in fleet.clusters:
            for index, cw in self._cluster(cluster.name, canaries.get(cluster.name)).items():
                waves[index].append(cw)
        return waves

    def _movable(self, host: Host) -> bool:
        """Whether every VM of ``host`` can leave it for a host of its generation on the
        host's target (capacity aside): the canary never takes a host holding a VM that
        cannot. Asked once per class of (VM facts, power, passthrough; host generation,
        profile, target)."""
        known, target = self._movable_by_class, self.target[host.name]
        for vm, key in zip(self.fleet.vms_by_host[host.name], self._classes(host),
                           strict=True):
            found = known.get(key)
            if found is None:
                found = known[key] = self._movable_now(vm, host, target)
            if not found:
                return False
        return True

    def _classes(self, host: Host) -> list[tuple[int, str, str, str]]:
        """The class of each VM of ``host`` (in ``fleet.vms_by_host``'s order) that whether
        it may leave ``host`` or run on its target depends on: (its facts, ``host``'s
        generation and profile, its target). The checker interns equal facts as one object:
        its identity names the class (facts hold the power state and passthrough devices),
        without hashing the facts. Made once per host: the canary's choice asks whether
        each VM may leave, the legacy pool whether each may run on the target (the public
        preset: 170,000 VMs, each looked up in the checker once instead of twice)."""
        entry = self._classes_by_host.get(host.name)
        if entry is not None and entry[0] is host:
            return entry[1]
        facts_of = self.checker.facts_of
        generation, profile, target = host.generation, host.profile, self.target[host.name].name
        classes = [(id(facts_of(vm)), generation, profile, target)
                   for vm in self.fleet.vms_by_host[host.name]]
        self._classes_by_host[host.name] = (host, classes)
        return classes

    def _movable_now(self, vm: Vm, host: Host, target: HostProfile) -> bool:
        if vm.devices.passthrough and not self.policy.allow_cold_migration:
            return False
        if vm.power is PowerState.SHUTOFF:
            return _at_home(self.checker.cold_migration(vm, host, host, dest_profile=target))
        if not vm.devices.passthrough and _at_home(self.checker.migration(
                vm, host, host, dest_profile=target)):
            return True
        return (self.policy.allow_cold_migration
                and self.checker.spawn(vm, host, profile=target).allowed)

    def _k(self, cluster: str) -> int:
        return hosts_per_wave(self.fleet, cluster, self.policy)

    def _cluster(self, cluster: str, canary: str | None) -> dict[int, _ClusterWave]:
        state = self.state
        hosts = [h.name for h in self.fleet.hosts_by_cluster[cluster]]
        pending = [h for h in hosts if h in self.target]
        if not pending:
            return {}
        k = self._k(cluster)
        for h in self._legacy_pool(hosts, pending):
            pending.remove(h)
        if self.strategy is Strategy.ROLL_FORWARD:
            # Empty hosts (the spares) first, then the lightest: capacity on the target
            # profile grows before the big drains.
            pending.sort(key=lambda h: (not self._empty(h),
                                        state.host[h].role is not HostRole.SPARE,
                                        state.usage[h].ram_mib, h))
            if pending and not self._empty(pending[0]):  # no spare: its VMs move twice
                first = next((h for h in pending if not self._rehop_wants(h)), pending[0])
                pending.remove(first)
                pending.insert(0, first)
            head = sum(self._empty(h) for h in pending) + LIGHT_WAVES * k
            pending = light_at_both_ends(pending, {h: state.usage[h].ram_mib for h in pending},
                                         head, k)
        # The baselines work through the hosts in the order an operator lists them.
        out: dict[int, _ClusterWave] = {}
        wave0 = out[0] = _ClusterWave(cluster)
        if self.strategy is Strategy.ROLL_FORWARD:
            for h in [h for h in pending if self._empty(h)][:k]:
                wave0.first.append(_Draft(h))
                pending.remove(h)
                self._upgrade(h)
        drained_canary: str | None = None
        if canary is not None and canary in pending:
            try:
                moves = self._drain(canary, hosts, busy={canary})
            except _BlockedError as blocked:
                self._skip(canary, blocked)
                pending.remove(canary)
            except _NoRoomError:
                pass
            else:
                wave0.then.append(_Draft(canary, moves, reinstall=False, canary=True))
                drained_canary = canary
        if not wave0.first and not wave0.then:
            del out[0]
        index = 1
        previous = {d.host for d in wave0.first}
        while pending:
            wave = self._batch(cluster, hosts, pending, k, drained_canary, previous)
            if wave is None:
                break
            out[index] = wave
            previous = {d.host for d in wave.then if d.reinstall}
            index += 1
        return out

    def _batch(self, cluster: str, hosts: list[str], pending: list[str], k: int,
               drained_canary: str | None, previous: set[str]) -> _ClusterWave | None:
        """The cluster's next wave: up to ``k`` hosts of ``pending``, in order, whose VMs all
        fit. Under ``roll-forward`` a host's VMs go first to hosts other than ``previous``
        (the hosts reinstalled in the wave before), so that its drain may start while those
        are still being reinstalled (the executor's overlap); only if they do not all fit
        there, to any host on the target."""
        overlap = self.strategy is Strategy.ROLL_FORWARD and bool(previous)
        wave = _ClusterWave(cluster)
        busy: set[str] = set()
        received: set[str] = set()
        for h in list(pending):
            if len(busy) == k:
                break
            if h in received:
                continue  # it took VMs in this wave: draining it now would move them twice
            if self._empty(h):
                wave.then.append(_Draft(h, canary=h == drained_canary))
                busy.add(h)
                continue
            try:
                moves = self._drain_after(h, hosts, busy | {h}, previous if overlap else set())
            except _BlockedError as blocked:
                self._skip(h, blocked)
                pending.remove(h)
                continue
            except _NoRoomError:
                continue
            wave.then.append(_Draft(h, moves))
            busy.add(h)
            received.update(m.dest for m, _, _ in moves)
        if not busy:
            # Nothing fits on target-profile hosts (a cluster without empty hosts): empty one
            # host onto any compatible host to start the roll; its VMs move twice.
            first = next((h for h in pending if not self._empty(h)), None)
            try:
                if first is None:
                    raise _NoRoomError
                wave.then.append(_Draft(first, self._drain(first, hosts, busy={first},
                                                           anywhere=True)))
                busy.add(first)
            except (_BlockedError, _NoRoomError):
                for h in pending:
                    for move, _, _ in reversed(self.pool_moves.pop(h, [])):
                        self._unreserve(move)
                    self.skipped.append(SkippedHost(
                        host=h, reason="no room for its VMs on compatible hosts of the cluster",
                        cause=SkipCause.NO_ROOM))
                pending.clear()
                return None
        for draft in wave.then:
            pending.remove(draft.host)
            self._upgrade(draft.host)
        if self.strategy is Strategy.EVACUATE_RETURN:
            wave.returns = self._returns(wave)
        return wave

    def _drain_after(self, host: str, cluster_hosts: list[str], busy: set[str],
                     previous: set[str]) -> list[tuple[Move, MoveKind, Verdict]]:
        """:meth:`_drain` of ``host`` avoiding the ``previous`` wave's hosts if its VMs all
        fit elsewhere, else onto any host :meth:`_drain` allows."""
        if previous:
            try:
                return self._drain(host, cluster_hosts, busy=busy | previous)
            except (_BlockedError, _NoRoomError):
                pass  # undone: try again with every destination
        return self._drain(host, cluster_hosts, busy=busy)

    def _returns(self, wave: _ClusterWave) -> list[tuple[Move, Verdict]]:
        """Move each evacuated VM back to its original, now reinstalled, host."""
        out = []
        for draft in wave.then:
            for move, kind, _ in draft.moves:
                if kind is not MoveKind.LIVE:
                    continue
                vm = self.state.vm(move.vm)
                verdict = self._verdict(vm, self.state.location[vm.name], draft.host)
                if verdict.allowed and self.state.fits(vm, draft.host) \
                        and self.state.anti_affinity_ok(vm, draft.host):
                    out.append((self.state.move(vm, draft.host, live=True,
                                                workarounds=verdict.workarounds), verdict))
        return out

    def _upgrade(self, host: str) -> None:
        self.state.upgrade(host, self.target[host])

    def _legacy_pool(self, hosts: list[str], pending: list[str]) -> list[str]:
        """Keep the fewest hosts of the cluster on their old profile to hold the VMs that
        cannot run on the target (a legacy guest that would not boot there): greedily keep
        first a host holding such a VM that cannot leave it at all (it is kept anyway), then
        the host holding most such VMs (then the most free RAM, then the first name), and
        reserve a move for each such VM elsewhere onto a kept host that allows it, has room
        and no member of its anti-affinity group, or, once every pinned host is kept, one
        where room can be made (:meth:`_make_room`); repeat while some are left. Returns the
        kept hosts; each such VM moves in its host's drain."""
        state = self.state
        legacy: dict[str, list[Vm]] = {}
        for h in pending:
            host = state.host[h]
            vms = [vm for vm, key in zip(self.fleet.vms_by_host[h], self._classes(host),
                                         strict=True)
                   if not self._runs_on_target(vm, host, key)]
            if vms:
                legacy[h] = sorted(vms, key=lambda v: (-v.ram_mib, v.name))
        kept: list[str] = []
        left = {h: list(vms) for h, vms in legacy.items()}
        held: dict[str, tuple[Vm, str]] = {}
        for h, vms in legacy.items():
            for vm in vms:
                why = self._held(vm, h)
                if why is not None:
                    held.setdefault(h, (vm, why))
        apart: dict[str, str] = {}
        """Why a host kept after others could not send its VMs to them."""
        names = self._legacy_names(legacy)
        while left:
            best = min(left, key=lambda h: (h not in held, -len(left[h]),
                                            -state.free_ram_share(h), h))
            if kept and best not in held:
                apart[best] = self._not_pooled(left[best][0], best, kept, names)
            kept.append(best)
            del left[best]
            for move, _, _ in reversed(self.pool_moves.pop(best, [])):
                self._unreserve(move)  # it stays: the host is kept
            pool = _Dests.of(state, kept)
            # Room is made on a kept host once every pinned host is kept (one of them may
            # have room as it is), and for a VM whose host is not pinned (it stays there).
            make_room = not held.keys() & left.keys()
            for h in sorted(left):
                placed = []
                for vm in left[h]:
                    current = state.vm(vm.name)
                    try:
                        kind, allowed = self._candidates(current, h, pool)
                    except (_BlockedError, _NoRoomError):
                        continue
                    choice = pick(state, current, allowed) or (
                        self._make_room(current, allowed, names) if make_room else None)
                    if choice is None:
                        continue
                    move = state.move(current, choice[0], live=kind is MoveKind.LIVE,
                                      workarounds=choice[1].workarounds)
                    self.pool_moves.setdefault(h, []).append((move, kind, choice[1]))
                    placed.append(vm)
                left[h] = [vm for vm in left[h] if vm not in placed]
                if not left[h]:
                    del left[h]
        target = {self.target[h].name for h in legacy}
        for h in kept:
            holds = sorted(n for n in state.on_host[h] if n in self._legacy_names(legacy))
            first = legacy[h][0]
            reason = _first_reason(self._blocked_verdict(first, h), "cannot run there")
            pinned, by = "", ""
            if h in held:
                vm, why = held[h]
                pinned, by = f"; {vm.name!r} cannot leave it either: {why}", vm.name
            elif h in apart:
                pinned = f"; {apart[h]}"
            leaving = self.evictions.get(h)
            if leaving:
                pinned += (f"; {len(leaving)} VM{'' if len(leaving) == 1 else 's'} that can run "
                           f"on {self.target[h].name} leave{'s' if len(leaving) == 1 else ''} "
                           f"it first to make room ({', '.join(repr(n) for n in leaving[:3])}"
                           f"{', …' if len(leaving) > 3 else ''})")
            self.skipped.append(SkippedHost(
                host=h, cause=SkipCause.LEGACY_POOL, pinned_by=by,
                reason=f"kept on {state.host[h].profile} as its cluster's legacy pool: holds "
                       f"{len(holds)} VM{'' if len(holds) == 1 else 's'} that cannot run on "
                       f"{', '.join(sorted(target))} "
                       f"(e.g. {first.name!r}: {reason}){pinned}"))
        for h, vms in legacy.items():
            for vm in vms:
                self.unmovable.append(Unmovable(
                    vm=vm.name, host=h, action=UnmovableAction.OPERATOR,
                    reason=f"{_first_reason(self._blocked_verdict(vm, h), 'blocked')}; "
                           f"stays on {state.host[h].profile} in the legacy pool "
                           f"({state.location[vm.name]})"))
        self.kept.update(kept)
        return kept

    def _unreserve(self, move: Move) -> None:
        """Undo a legacy VM's move to the pool, and the room made for it that has not been
        made yet (the VMs lifted for it count on their host again)."""
        self.state.undo(self.fleet.vm_by_name[move.vm], move)
        pool, lifted = self.room_made.pop(move.vm, ("", ()))
        waiting = self.evictions.get(pool, [])
        for name in lifted:
            if name in waiting:
                waiting.remove(name)
                self.state.set_down(self.fleet.vm_by_name[name])
        if not waiting:
            self.evictions.pop(pool, None)

    def _make_room(self, vm: Vm, allowed: list[tuple[str, Verdict]], legacy: set[str],
                   ) -> tuple[str, Verdict] | None:
        """A kept host for legacy ``vm`` that has no room for it, or holds a member of its
        anti-affinity group, once some of its VMs that can run on the target leave it for
        the target (``roll-forward`` only: they go, as every other VM, to hosts already
        upgraded, before ``vm`` arrives, in the same drain): among the hosts ``allowed``, the
        one that needs the fewest to leave (then the first); those are lifted
        (:meth:`PlanState.lift`) and recorded to leave (:attr:`evictions`). None: no such
        host. Without it the legacy VM's own host would be kept as a second pool."""
        if self.strategy is not Strategy.ROLL_FORWARD:
            return None
        best: tuple[str, Verdict, list[Vm]] | None = None
        for dest, verdict in allowed:
            leaving = self._to_evict(vm, dest, legacy)
            if leaving is not None and (best is None or len(leaving) < len(best[2])):
                best = (dest, verdict, leaving)
        if best is None:
            return None
        dest, verdict, leaving = best
        for other in leaving:
            self.state.lift(other)
        self.evictions.setdefault(dest, []).extend(v.name for v in leaving)
        self.room_made[vm.name] = (dest, tuple(v.name for v in leaving))
        return dest, verdict

    def _to_evict(self, vm: Vm, pool: str, legacy: set[str]) -> list[Vm] | None:
        """The fewest VMs of kept host ``pool`` whose leaving makes room there for ``vm``
        and leaves no member of its anti-affinity group: the members first, then the biggest
        by RAM (then by name); each must be able to run on the host's target and move there
        live (:meth:`_evictable`). None: no such set."""
        state = self.state
        apart = self._members_on(vm, pool)
        group = [state.vm(n) for n in apart]
        if any(n.name in legacy or not self._evictable(n, pool) for n in group):
            return None
        others = sorted((state.vm(n) for n in state.on_host[pool]
                         if n not in legacy and n not in apart),
                        key=lambda v: (-v.ram_mib, v.name))
        use = state.usage[pool]
        free = [cap - held for cap, held in zip(state.capacity[pool],
                                                (use.vcpus, use.ram_mib, use.disk_gib),
                                                strict=True)]
        need = state.needs(vm)

        def fits() -> bool:
            return all(n <= f for n, f in zip(need, free, strict=True))

        leaving: list[Vm] = []
        for other in chain(group, (v for v in others if self._evictable(v, pool))):
            if fits() and len(leaving) >= len(group):
                break
            leaving.append(other)
            free = [f + g for f, g in zip(free, state.needs(other), strict=True)]
        return leaving if fits() else None

    def _members_on(self, vm: Vm, host: str) -> list[str]:
        """The members of ``vm``'s anti-affinity group on ``host``, by name."""
        state = self.state
        if state.spread(vm) is None:
            return []
        return sorted(n for n in state.on_host[host]
                      if state.vm(n).server_group == vm.server_group)

    def _evictable(self, vm: Vm, host: str) -> bool:
        """Whether ``vm`` (running, without passthrough) may move live from ``host`` to the
        host's target and would run there."""
        return (vm.power is not PowerState.SHUTOFF and not vm.devices.passthrough
                and host in self.target
                and _at_home(self.checker.migration(vm, self.state.host[host],
                                                    self.state.host[host],
                                                    dest_profile=self.target[host])))

    def _not_pooled(self, vm: Vm, host: str, pool: list[str], legacy: set[str]) -> str:
        """Why ``vm`` of ``host`` goes to none of the hosts already kept in ``pool``
        (``legacy``: the VMs that cannot run on the target)."""
        current = self.state.vm(vm.name)
        try:
            _, allowed = self._candidates(current, host, _Dests.of(self.state, pool))
        except (_BlockedError, _NoRoomError):
            allowed = []
        ok = {d for d, _ in allowed}
        even = (" even once its VMs that can run on the target have left"
                if self.strategy is Strategy.ROLL_FORWARD else "")
        why = [f"{d}: not allowed" if d not in ok
               else f"{d} holds a member of its anti-affinity group {vm.server_group!r}"
                    f"{self._member_staying(vm, d, legacy)}"
               if not self.state.anti_affinity_ok(current, d)
               else f"{d} has no room for it ({vm.ram_mib} MiB, {vm.vcpus} vCPU){even}"
               for d in pool]
        more = f"; … ({len(why)} hosts)" if len(why) > 3 else ""
        return f"{vm.name!r} may go to no other pool host ({'; '.join(why[:3])}{more})"

    def _member_staying(self, vm: Vm, host: str, legacy: set[str]) -> str:
        """Why the members of ``vm``'s anti-affinity group on kept host ``host`` stay there
        (:meth:`_to_evict` found no VMs to send away for it)."""
        state = self.state
        staying = self._members_on(vm, host)
        names = ", ".join(repr(n) for n in staying)
        if any(n in legacy for n in staying):
            return f" ({names}, which cannot run on the target either)"
        if self.strategy is not Strategy.ROLL_FORWARD:
            return ""
        if not all(self._evictable(state.vm(n), host) for n in staying):
            return f" ({names}, which cannot move live to the target)"
        return (f" ({names}; even with it and the host's other VMs that can run on the "
                f"target gone, no room for it)")

    def _held(self, vm: Vm, host: str) -> str | None:
        """Why ``vm`` may not leave ``host`` for a host like it (same generation and profile)
        at all, capacity aside, or None if it may: a legacy VM that may not (e.g. it cannot
        move live, and a cold move would start it where it would not boot) keeps its host."""
        try:
            self._candidates(vm, host, _Dests.of(self.state, [host]))
        except _BlockedError as blocked:
            why = blocked.reason or "it cannot move live"
            if vm.power is PowerState.SHUTOFF:
                return why
            if blocked.action is UnmovableAction.COLD_MIGRATE:
                return f"{why}; the policy allows no cold migration"
            return f"{why}; a cold move would start it where it would not boot"
        return None

    def _rehop_wants(self, host: str) -> bool:
        """Whether a VM of ``host`` would want, on a second live hop from a host like it, a
        workaround its first hop adds (one it would not want for any hop from there: a
        Windows guest's ``remove_balloon`` once live-migrated, not an iso9660 config drive's
        ``copy_config_drive``, wanted for every hop). In a cluster without spare the first
        host drained sends its VMs to hosts not upgraded yet, from which they move again; a
        host whose VMs would need nothing more for that second hop goes first when there is
        one (such a workaround is a step more, and one the backend cannot apply fails the
        hop: ``remove_balloon`` through Nova)."""
        state = self.state
        source = state.host[host]
        for name in sorted(state.on_host[host]):
            vm = state.vm(name)
            first = set(self.checker.migration(vm, source, source).workarounds)
            after = after_move(vm, live=True, workarounds=(), original=vm)
            if set(self.checker.migration(after, source, source).workarounds) - first:
                return True
        return False

    def _empty(self, host: str) -> bool:
        """Holds no VM and has none to send to the legacy pool."""
        return not self.state.on_host[host] and host not in self.pool_moves

    def _runs_on_target(self, vm: Vm, host: Host, key: tuple[int, str, str, str]) -> bool:
        """Whether ``vm`` could run on ``host``'s target at all, live or after a boot there
        (whatever the policy allows): a VM that cannot belongs to the legacy pool. A live move
        allowed only because the VM already carries its next-boot risk (it would not boot on
        the target, nor where it runs) does not count: such a VM stays on the old profile.
        ``key``: its class (:meth:`_classes`)."""
        found = self._runs_by_class.get(key)
        if found is None:
            target = self.target[host.name]
            found = (vm.power is not PowerState.SHUTOFF and not vm.devices.passthrough
                     and _at_home(self.checker.migration(vm, host, host, dest_profile=target))
                     ) or self.checker.spawn(vm, host, profile=target).allowed
            self._runs_by_class[key] = found
        return found

    @staticmethod
    def _legacy_names(legacy: Mapping[str, list[Vm]]) -> set[str]:
        return {vm.name for vms in legacy.values() for vm in vms}

    def _blocked_verdict(self, vm: Vm, host: str) -> Verdict:
        """Why ``vm`` cannot go to ``host``'s target: it would not boot there (the boot
        verdict, what makes a VM legacy), else the live verdict."""
        source = self.state.host[host]
        target = self.target[host]
        boot = self.checker.spawn(vm, source, profile=target)
        if not boot.allowed:
            return boot
        return self.checker.migration(vm, source, source, dest_profile=target)

    def _skip(self, host: str, blocked: _BlockedError) -> None:
        for move, _, _ in reversed(self.pool_moves.pop(host, [])):
            self._unreserve(move)  # its legacy VMs stay with it
        self.unmovable.append(Unmovable(vm=blocked.vm.name, host=host, reason=blocked.reason,
                                        action=blocked.action))
        self.skipped.append(SkippedHost(host=host, reason=f"VM {blocked.vm.name!r} cannot "
                                                          f"move: {blocked.reason}"))

    # -- placement -----------------------------------------------------------------------

    def _drain(self, host: str, cluster_hosts: list[str], busy: set[str],
               anywhere: bool = False) -> list[tuple[Move, MoveKind, Verdict]]:
        """Place every VM of ``host``, all or nothing (undone on failure).

        Destinations: for ``roll-forward`` hosts already on the target profile (or higher);
        otherwise, or ``anywhere``, any host of at least the source's rank. Never ``busy``
        hosts (drained or reinstalled in this wave). Biggest VMs first, each to the allowed
        destination with the most free RAM (spreading load for the waves to come).
        """
        state = self.state
        floor = state.rank(host)
        if self.strategy is Strategy.ROLL_FORWARD and not anywhere:
            floor = self.target[host].rank
        dests = _Dests.of(state, [d for d in cluster_hosts
                                  if d not in busy and d not in self.kept
                                  and d not in self.pool_moves and state.rank(d) >= floor])
        vms = sorted((state.vm(n) for n in state.on_host[host]),
                     key=lambda v: (-v.ram_mib, v.name))
        done: list[tuple[Move, MoveKind, Verdict]] = []
        pools = sorted({m.dest for m, _, _ in self.pool_moves.get(host, ())
                        if m.dest in self.evictions})
        try:
            for pool in pools:
                self._evict(pool, dests, done)
            for vm in vms:
                kind, allowed = self._candidates(vm, host, dests)
                choice = pick(state, vm, allowed)
                if choice is None:
                    raise _NoRoomError
                done.append((state.move(vm, choice[0], live=kind is MoveKind.LIVE,
                                        workarounds=choice[1].workarounds), kind, choice[1]))
        except (_NoRoomError, _BlockedError):
            for move, _, _ in reversed(done):
                vm = self.fleet.vm_by_name[move.vm]
                state.undo(vm, move)
                if move.source in pools:
                    state.lift(vm)  # it waits to leave again, with the next try
            raise
        pooled = self.pool_moves.pop(host, [])
        if pools:  # the VMs leaving a kept host first, the legacy VMs going there last
            for pool in pools:
                del self.evictions[pool]
            done = [*done, *pooled]
        else:
            done = [*pooled, *done]
        for move, kind, verdict in done:
            # A move changes a VM's history, not its power or size: the inventory's VM says.
            if kind is MoveKind.COLD and \
                    self.fleet.vm_by_name[move.vm].power is not PowerState.SHUTOFF:
                self.unmovable.append(Unmovable(
                    vm=move.vm, host=host, reason=_first_reason(verdict, "cannot move live"),
                    action=UnmovableAction.COLD_MIGRATE))
        return done

    def _evict(self, pool: str, dests: _Dests,
               done: list[tuple[Move, MoveKind, Verdict]]) -> None:
        """Send the VMs waiting to leave kept host ``pool`` (:attr:`evictions`) live to
        ``dests`` on its target, adding their moves to ``done`` (a drain's): raises
        :class:`_NoRoomError` when one cannot go, that one lifted again (the drain undoes
        the others, :meth:`_drain`)."""
        state = self.state
        floor = self.target[pool].rank
        to = _Dests.of(state, [d for members in dests.classes for d in members
                               if state.rank(d) >= floor])
        for name in self.evictions[pool]:
            vm = self.fleet.vm_by_name[name]
            state.set_down(vm)
            current = state.vm(name)
            try:
                kind, allowed = self._candidates(current, pool, to)
            except (_NoRoomError, _BlockedError):
                kind, allowed = MoveKind.COLD, []
            choice = pick(state, current, allowed) if kind is MoveKind.LIVE else None
            if choice is None:
                state.lift(vm)
                raise _NoRoomError
            done.append((state.move(current, choice[0], live=True,
                                    workarounds=choice[1].workarounds), kind, choice[1]))

    def _candidates(self, vm: Vm, host: str,
                    dests: _Dests) -> tuple[MoveKind, list[tuple[str, Verdict]]]:
        """How ``vm`` leaves ``host`` and the destinations its verdicts allow (capacity
        aside). A VM that is off moves cold; one that cannot move live moves cold in a
        maintenance window if the policy allows and it would boot there; otherwise it is
        blocked, and so is its host."""
        if not dests.classes:
            raise _NoRoomError
        if vm.power is not PowerState.SHUTOFF and not vm.devices.passthrough:
            live = self._verdicts_to(vm, host, dests, live=True)
            allowed = [(d, v) for v, members in live if v.allowed for d in members]
            if allowed:
                return MoveKind.LIVE, allowed
            why = _first_reason(live[0][0], "blocked")
        elif vm.devices.passthrough:
            kinds = "/".join(p.value.upper() for p in vm.devices.passthrough)
            why = f"{kinds} passthrough cannot be live-migrated"
        else:
            why = ""
        boot = self._verdicts_to(vm, host, dests, live=False)
        bootable = [(d, v) for v, members in boot if v.allowed for d in members]
        if vm.power is PowerState.SHUTOFF:
            if bootable:
                return MoveKind.COLD, bootable
            raise _BlockedError(vm, _first_reason(boot[0][0], "would not boot there"),
                                UnmovableAction.OPERATOR)
        if bootable and self.policy.allow_cold_migration:
            return MoveKind.COLD, bootable
        raise _BlockedError(vm, why, UnmovableAction.COLD_MIGRATE if bootable
                            else UnmovableAction.OPERATOR)

    def _verdicts_to(self, vm: Vm, source: str, dests: _Dests,
                     live: bool) -> list[tuple[Verdict, list[str]]]:
        """The verdict for each class of destinations (the verdict depends on nothing else of
        a host), in the order of the classes' first hosts."""
        return [(self._verdict(vm, source, members[0], live), members)
                for members in dests.classes]

    def _verdict(self, vm: Vm, source: str, dest: str, live: bool = True) -> Verdict:
        host = self.state.host
        src, dst = host[source], host[dest]
        # What the checker's verdict depends on: the VM's facts (interned: one object per
        # class, so its identity is the key) and both hosts' generation and profile.
        key = (id(self.checker.facts_of(vm)), live, src.generation, src.profile,
               dst.generation, dst.profile)
        found = self._verdicts.get(key)
        if found is None:
            found = move_verdict(self.checker, vm, src, dst, live=live)
            self._verdicts[key] = found
        return found

    # -- estimates and the plan ----------------------------------------------------------

    def finish(self, waves: Mapping[int, list[_ClusterWave]], inventory: str,
               planning_s: float) -> Plan:
        policy = self.policy
        out: list[Wave] = []
        cluster_s: dict[str, dict[int, float]] = defaultdict(dict)
        later: dict[str, list[tuple[int, _ClusterWave, list[list[est.Transfer]]]]] = \
            defaultdict(list)
        """Each cluster's waves after the canary wave, with their drains."""
        for index in sorted(waves):
            steps: list[HostStep] = []
            returns: list[Migration] = []
            seconds_by_region: dict[str, float] = defaultdict(float)
            demand: dict[str, int] = defaultdict(int)
            timed: list[tuple[_ClusterWave, str, list[list[est.Transfer]], float]] = []
            for cw in waves[index]:
                region = self.fleet.cluster_by_name[cw.cluster].region
                sources = sum(1 for d in cw.then if d.moves)
                lanes = max(1, min(policy.migrations_per_source,
                                   policy.migrations_per_cluster // max(1, sources)))
                # A source drains at its link's speed however many lanes share it: when the
                # region's cap binds, sources run fewer lanes; only more sources than the cap
                # slow the region down.
                demand[region] += sources
                migs, transfers = self._migrations(
                    [(m, k, v, d.host) for d in cw.then for m, k, v in d.moves], lanes)
                back, back_t = self._migrations(
                    [(m, MoveKind.LIVE, v, m.dest) for m, v in cw.returns], lanes, True)
                back_s = est.drain_time(back_t, self._links())
                by_host: dict[str, list[Migration]] = {d.host: [] for d in cw.then}
                drains: dict[str, list[est.Transfer]] = {d.host: [] for d in cw.then}
                for (mig, owner), transfer in zip(migs, transfers, strict=True):
                    by_host[owner].append(mig)
                    drains[owner].append(transfer)
                timed.append((cw, region, list(drains.values()), back_s))
                steps += [HostStep(host=d.host, cluster=cw.cluster, region=region,
                                   target=self.target[d.host].name, reinstall=True)
                          for d in cw.first]
                steps += [HostStep(host=d.host, cluster=cw.cluster, region=region,
                                   target=self.target[d.host].name,
                                   drain=tuple(by_host[d.host]), reinstall=d.reinstall,
                                   canary=d.canary) for d in cw.then]
                returns += [m for m, _ in back]
            for cw, region, drains_of, back_s in timed:
                factor = max(1.0, demand[region] / policy.migrations_per_region)
                seconds = self._wave_s(cw, drains_of, factor) + back_s * factor
                cluster_s[cw.cluster][index] = seconds
                seconds_by_region[region] = max(seconds_by_region[region], seconds)
                if index > 0:
                    later[cw.cluster].append((index, cw, _slowed(drains_of, factor)))
            out.append(Wave(index=index, canary=index == 0, steps=tuple(steps),
                            returns=tuple(returns),
                            estimated_s=max(seconds_by_region.values(), default=0.0)))
        return Plan(strategy=self.strategy, target=self._target_name(),
                    targets=tuple(sorted({p.name: p for p in self.target.values()}.values(),
                                         key=lambda p: p.name)),
                    inventory=inventory,
                    policy=policy, waves=tuple(out), unmovable=tuple(self.unmovable),
                    skipped=tuple(self.skipped), canary=self.canary,
                    summary=self._summary(out, self._makespan(
                        self._overlapped(cluster_s, later),
                        {s.cluster for w in out if w.index == 0 for s in w.steps if s.canary}),
                        planning_s))

    def _overlapped(self, cluster_s: dict[str, dict[int, float]],
                    later: Mapping[str, list[tuple[int, _ClusterWave, list[list[est.Transfer]]]]],
                    ) -> dict[str, dict[int, float]]:
        """Under ``roll-forward`` the executor overlaps a cluster's waves after the canary
        wave (:func:`estimate.overlapped_time`): each cluster's seconds become its canary
        wave (0) and the rest as one (1). The first of those waves drains its hosts side by
        side; a host of a later wave mostly drains alone, beside the reinstalls of the wave
        before (its drain is timed alone). The last wave waits for the slowest of its
        reinstalls (:func:`estimate.expected_max_normal`). The baselines keep their waves."""
        if self.strategy is not Strategy.ROLL_FORWARD:
            return cluster_s
        policy = self.policy
        limits = est.Limits(policy.migrations_per_source, policy.migrations_per_dest,
                            policy.migrations_per_cluster)
        out: dict[str, dict[int, float]] = {}
        for cluster, waves in cluster_s.items():
            hosts: list[est.Pending] = []
            at: dict[str, int] = {}
            last_k = 0
            for n, (index, cw, drains) in enumerate(later.get(cluster, [])):
                ends = est.drain_ends(drains, limits) if n == 0 else [
                    est.drain_ends([moves], limits)[0] for moves in drains]
                for draft, moves, end in zip(cw.then, drains, ends, strict=True):
                    into = tuple(sorted({at[t.dest] for t in moves if t.dest in at}))
                    at[draft.host] = len(hosts)
                    hosts.append(est.Pending(index, end, draft.reinstall, into))
                last_k = sum(d.reinstall for d in cw.then)
            total = est.overlapped_time(hosts, self._k(cluster), policy.reinstall_s,
                                        ahead=policy.drain_ahead)
            if total:
                total += policy.reinstall_s * est.REINSTALL_SPREAD * \
                    est.expected_max_normal(last_k)
            out[cluster] = {0: waves.get(0, 0.0), 1: total}
        return out

    def _wave_s(self, cw: _ClusterWave, drains: list[list[est.Transfer]],
                factor: float) -> float:
        """One cluster's wave as the executor runs it (:func:`estimate.wave_time`): its
        spares' reinstalls first, then each host's drain under the policy's limits on
        concurrent migrations (slowed by ``factor`` when the region's cap binds), then its
        reinstall."""
        policy = self.policy
        if factor != 1.0:
            drains = [[est.Transfer(t.source, t.dest, t.seconds * factor, t.sent_mib)
                       for t in moves] for moves in drains]
        limits = est.Limits(policy.migrations_per_source, policy.migrations_per_dest,
                            policy.migrations_per_cluster)
        return est.wave_time(est.drain_ends(drains, limits), [d.reinstall for d in cw.then],
                             policy.reinstall_s, receivers=len(cw.first))

    def _makespan(self, cluster_s: Mapping[str, Mapping[int, float]],
                  canary_clusters: Collection[str]) -> float:
        """A cluster's later waves start once its own canary wave (its spares, and its
        canary host if it has one) and its region's canary hosts have ended; after it every
        cluster goes through its own waves at its own pace, so the campaign takes, over
        clusters, the later of those plus the cluster's remaining waves (an operator's hold
        after the canary is not counted)."""
        region_of = {c.name: c.region for c in self.fleet.clusters}
        return _makespan(cluster_s, region_of, canary_clusters)

    def _links(self) -> dict[str, float]:
        return self.links

    def _migrations(self, moves: Sequence[tuple[Move, MoveKind, Verdict, str]], lanes: int,
                    returning: bool = False,
                    ) -> tuple[list[tuple[Migration, str]], list[est.Transfer]]:
        migs: list[tuple[Migration, str]] = []
        transfers: list[est.Transfer] = []
        for move, kind, verdict, owner in moves:
            vm = self.fleet.vm_by_name[move.vm]  # size, power and dirty rate: moves keep them
            src, dst = self.state.host[move.source], self.state.host[move.dest]
            bandwidth = min(src.link_mib_s, dst.link_mib_s) / lanes
            disk_mib = self.state.need[vm.name][2] * 1024.0
            if kind is MoveKind.COLD:
                guess = self._estimate(0, bandwidth, None, disk_mib)
            else:
                dirty = 0.0 if vm.power is PowerState.PAUSED else (
                    vm.dirty_rate_mib_s if vm.dirty_rate_mib_s is not None
                    else DEFAULT_DIRTY_MIB_S)
                guess = self._estimate(vm.ram_mib, bandwidth, dirty, disk_mib)
            # Valid by construction (names, a kind, a tuple of names, an estimate made
            # validated): built without validation, as it would be validated.
            migs.append((construct(Migration, vm=vm.name, source=move.source, dest=move.dest,
                                   kind=kind, workarounds=tuple(verdict.workarounds),
                                   estimate=guess, returning=returning), owner))
            transfers.append(est.Transfer(move.source, move.dest, guess.seconds,
                                          guess.sent_mib))
        return migs, transfers

    def _estimate(self, ram_mib: int, bandwidth_mib_s: float, dirty_mib_s: float | None,
                  disk_mib: float) -> Estimate:
        """One migration's estimate: live (pre-copy of ``ram_mib`` dirtied at
        ``dirty_mib_s``, then the local disks) or, with no dirty rate, cold (a boot plus the
        disks). Computed once per distinct input (most VMs share a size, a link and the
        default rate); equal estimates are one frozen object."""
        key = (ram_mib, bandwidth_mib_s, dirty_mib_s, disk_mib)
        found = self._estimates.get(key)
        if found is None:
            if dirty_mib_s is None:
                seconds = COLD_BOOT_S + disk_mib / bandwidth_mib_s
                found = Estimate(seconds=seconds, downtime_ms=seconds * 1000.0,
                                 sent_mib=disk_mib)
            else:
                pc = est.precopy(ram_mib, bandwidth_mib_s, dirty_mib_s, self.policy.downtime_ms)
                found = Estimate(seconds=pc.total_s + disk_mib / bandwidth_mib_s,
                                 downtime_ms=pc.downtime_ms, sent_mib=pc.sent_mib + disk_mib,
                                 converges=pc.converges)
            self._estimates[key] = found
        return found

    def _target_name(self) -> str:
        names = sorted({p.name for p in self.target.values()})
        return ",".join(names)

    def _summary(self, waves: list[Wave], makespan_s: float, planning_s: float) -> Summary:
        policy = self.policy
        migrations = sum(len(s.drain) for w in waves for s in w.steps) + \
            sum(len(w.returns) for w in waves)
        moved = [n for n, c in self.state.moves.items() if c > 0]
        skipped = {s.host for s in self.skipped}
        work = cluster_work(self.fleet, {h for h in self.target if h not in skipped}, policy,
                            self.strategy)
        lower, under_policy = bounds(work, lambda _: policy.reinstall_s, policy.drain_ahead,
                                     aggregate_link_mib_s(self.fleet))
        return Summary(
            hosts=len(self.target), vms=len(self.initial_vms), waves=len(waves),
            migrations=migrations,
            migrations_per_vm=round(migrations / len(moved), 4) if moved else 0.0,
            max_moves_per_vm=max(self.state.moves.values(), default=0),
            estimated_makespan_s=round(makespan_s, 1),
            lower_bound_s=round(lower, 1), policy_bound_s=round(under_policy, 1),
            blocked_vms=sum(1 for u in self.unmovable
                            if u.action is UnmovableAction.OPERATOR),
            skipped_hosts=len(self.skipped), planning_time_s=round(planning_s, 3),
            kept_back_hosts=sum(1 for s in self.skipped if s.cause is SkipCause.LEGACY_POOL),
            pinned_hosts=sum(1 for s in self.skipped if s.pinned_by),
            skipped_by_cause=dict(sorted(Counter(s.cause.value for s in self.skipped).items())),
        )


def light_at_both_ends(lightest_first: Sequence[str], ram_mib: Mapping[str, int],
                       head: int, k: int = 1) -> list[str]:
    """The order a cluster's hosts are upgraded in under ``roll-forward``: the first ``head``
    of ``lightest_first`` as they are (its empty hosts, then the lightest: capacity on the
    target grows before the big drains), then the others heaviest first (by RAM used, then
    name) dealt out to waves of ``k``: the i-th of ``w`` waves takes the i-th, (i + w)-th,
    … heaviest, heaviest first, so each wave mixes heavy and light hosts and the cluster
    ends with its lightest.

    Why mixed: the executor reinstalls a host as its drain ends, so a wave's reinstalls
    start, and end, as far apart as its drains' lengths; the next hosts drain one place at a
    time as hosts end (``drain_ahead`` ahead), and a wave of like drains ends its reinstalls
    together, leaving slots idle while the next drains run. A cluster ends with the drain
    and reinstall of its last host, beside which nothing else runs: a light one ends it
    sooner. (On ``enterprise``, seed 1, heaviest first took the simulated makespan over the
    lower bound from 1.244 to 1.215; dealt out, 1.209 → 1.202 with one host drained ahead
    and 1.169 → 1.147 with two: docs/performance.md, 31.)

    >>> light_at_both_ends(["s", "a", "b", "c", "d", "e"],
    ...                    {"s": 0, "a": 1, "b": 2, "c": 3, "d": 5, "e": 4}, 3)
    ['s', 'a', 'b', 'd', 'e', 'c']
    >>> light_at_both_ends(["s", "a", "b", "c", "d", "e", "f"],
    ...                    {"s": 0, "a": 1, "b": 3, "c": 4, "d": 5, "e": 6, "f": 2}, 1, 2)
    ['s', 'e', 'b', 'd', 'f', 'c', 'a']
    """
    tail = sorted(lightest_first[head:], key=lambda h: (-ram_mib[h], h))
    waves = -(-len(tail) // max(1, k))
    return [*lightest_first[:head], *(h for i in range(waves) for h in tail[i::waves])]


def _slowed(drains: list[list[est.Transfer]], factor: float) -> list[list[est.Transfer]]:
    """The drains with each migration ``factor`` times longer (a region's cap binding)."""
    if factor == 1.0:
        return drains
    return [[est.Transfer(t.source, t.dest, t.seconds * factor, t.sent_mib) for t in moves]
            for moves in drains]


def _makespan(cluster_s: Mapping[str, Mapping[int, float]], region_of: Mapping[str, str],
              canary_clusters: Collection[str] | None = None) -> float:
    """The campaign's estimated length from each cluster's waves (seconds by wave index):
    each cluster's canary wave (0), and its region's gate — the longest wave 0 of the
    region's clusters holding a canary host (``canary_clusters``; None: every cluster) —,
    whichever ends later, then its remaining waves one after another; the campaign ends with
    the last cluster.

    >>> _makespan({"a": {0: 100.0, 1: 50.0}, "b": {1: 120.0}, "c": {0: 10.0, 1: 300.0}},
    ...           {"a": "r1", "b": "r1", "c": "r2"})
    310.0
    >>> _makespan({"a": {0: 100.0, 1: 50.0}, "b": {0: 20.0, 1: 120.0}},
    ...           {"a": "r1", "b": "r1"}, {"b"})
    150.0
    """
    gate: dict[str, float] = defaultdict(float)
    for cluster, waves in cluster_s.items():
        if canary_clusters is None or cluster in canary_clusters:
            region = region_of[cluster]
            gate[region] = max(gate[region], waves.get(0, 0.0))
    return max((max(gate[region_of[cluster]], waves.get(0, 0.0))
                + sum(s for i, s in waves.items() if i > 0)
                for cluster, waves in cluster_s.items()), default=0.0)


def _at_home(verdict: Verdict) -> bool:
    """A live move to the target the VM can live with there: allowed, and not only because
    the VM already carries a next-boot risk (it would not boot there)."""
    return verdict.allowed and not verdict.carried


def _first_reason(verdict: Verdict, default: str) -> str:
    """The first blocking reason, else the first reason, else ``default``."""
    reasons = verdict.blocking or verdict.reasons
    return reasons[0].message if reasons else default

