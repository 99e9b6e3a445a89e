"""The fleet as the planner moves VMs around: where each VM is, what each host holds, which
profile each host runs. Mutable, private to one planning run."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from hvroll.domain import Fleet, GroupPolicy, Host, HostProfile, Vm
from hvroll.inventory.references import Usage, over_capacity


@dataclass(frozen=True, slots=True)
class Move:
    vm: str
    source: str
    dest: str


REMOVE_BALLOON = "remove_balloon"


def after_move(vm: Vm, *, live: bool, workarounds: Sequence[str], original: Vm) -> Vm:
    """The VM as it is after one move, for the verdicts of its next hop (seed 000's Windows
    guests moved CPv1 → CPv1 → CPv2): a live migration adds one to its live migrations since
    the last power cycle, and a balloon removed before it (``remove_balloon``) stays removed;
    a cold migration is a power cycle: the count starts again at 0 and the balloon is back as
    the inventory has it."""
    if live:
        devices = vm.devices
        if REMOVE_BALLOON in workarounds and devices.balloon:
            devices = devices.model_copy(update={"balloon": False})
        history = vm.history.model_copy(update={
            "live_migrations_since_power_cycle":
                vm.history.live_migrations_since_power_cycle + 1})
        return vm.model_copy(update={"history": history, "devices": devices})
    history = vm.history.model_copy(update={"live_migrations_since_power_cycle": 0})
    devices = vm.devices.model_copy(update={"balloon": original.devices.balloon})
    return vm.model_copy(update={"history": history, "devices": devices})


class PlanState:
    """Where every VM is, per-host usage and anti-affinity members, hosts' profiles, and each
    VM's state as the plan moves it (:func:`after_move`; :meth:`vm` returns it)."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.current: dict[str, Vm] = dict(fleet.vm_by_name)
        self._hops: dict[str, list[tuple[bool, tuple[str, ...]]]] = {}
        """Moves of a VM not yet applied to ``current`` (applied when :meth:`vm` asks)."""
        self._before: dict[tuple[str, str, str],
                           tuple[Vm, tuple[tuple[bool, tuple[str, ...]], ...]]] = {}
        self.host: dict[str, Host] = dict(fleet.host_by_name)
        self.usage: dict[str, Usage] = {h.name: Usage() for h in fleet.hosts}
        self.location: dict[str, str] = {}
        self.on_host: dict[str, set[str]] = defaultdict(set)
        self.group_hosts: dict[str, Counter[str]] = defaultdict(Counter)
        self.moves: Counter[str] = Counter()
        self.need: dict[str, tuple[int, int, int]] = {}
        """What each VM takes on a host: vCPUs, RAM MiB, local disk GiB (moves keep it)."""
        self.capacity: dict[str, tuple[float, float, float]] = {
            h.name: _capacity(h) for h in fleet.hosts}
        """Each host's vCPUs, RAM MiB and local disk GiB under its allocation ratios."""
        self.anti_affine: frozenset[str] = frozenset(
            g.name for g in fleet.server_groups if g.policy is GroupPolicy.ANTI_AFFINITY)
        self._place_all(fleet.vms)

    def _place_all(self, vms: Sequence[Vm]) -> None:
        """Each VM's need, and :meth:`_put` of each on its host, in the fleet's order: the
        same dictionaries, filled in the same order, without a call per VM (the public
        preset's 250,819, once by the planner and once by the executor's load)."""
        need, location, on_host, usage = self.need, self.location, self.on_host, self.usage
        group_hosts = self.group_hosts
        for vm in vms:
            name, host = vm.name, vm.host
            vcpus, ram_mib, disk_gib = need[name] = (vm.vcpus, vm.ram_mib, vm.local_disk_gib)
            location[name] = host
            on_host[host].add(name)
            use = usage.get(host)
            if use is None:
                use = usage[host] = Usage()
            use.vcpus += vcpus
            use.ram_mib += ram_mib
            use.disk_gib += disk_gib
            use.vms += 1
            if vm.server_group is not None:
                group_hosts[vm.server_group][host] += 1

    def vm(self, name: str) -> Vm:
        """The VM as it is now in the plan (its history after the moves planned so far)."""
        hops = self._hops.pop(name, None)
        if hops:
            vm, original = self.current[name], self.fleet.vm_by_name[name]
            for live, workarounds in hops:
                vm = after_move(vm, live=live, workarounds=workarounds, original=original)
            self.current[name] = vm
        return self.current[name]

    def carry(self, name: str, *, live: bool, workarounds: Sequence[str]) -> None:
        """A move of VM ``name`` that has happened (the executor's completed hop): its state
        follows (:func:`after_move`) when :meth:`vm` next asks for it, as a planned move's
        does. The same VM as ``self.current[name] = after_move(self.vm(name), ...)`` now:
        :meth:`vm` applies the moves in the order they were made, each with the inventory's
        VM as ``original``, and nothing reads a VM's state but through :meth:`vm` (a VM
        that moves only once is never copied)."""
        self._hops.setdefault(name, []).append((live, tuple(workarounds)))

    def profile(self, host: str) -> HostProfile:
        return self.fleet.profile_by_name[self.host[host].profile]

    def rank(self, host: str) -> int:
        return self.profile(host).rank

    def upgrade(self, host: str, profile: HostProfile) -> None:
        """The host was reinstalled with ``profile`` (which must be in the fleet)."""
        self.host[host] = self.host[host].model_copy(update={"profile": profile.name})
        self.capacity[host] = _capacity(self.host[host])

    def fits(self, vm: Vm, dest: str) -> bool:
        """Would ``vm`` fit on ``dest`` under its allocation ratios, given what it holds?"""
        use = self.usage[dest]
        vcpu_cap, ram_cap, disk_cap = self.capacity[dest]
        vcpus, ram_mib, disk_gib = self.needs(vm)
        return (use.vcpus + vcpus <= vcpu_cap and use.ram_mib + ram_mib <= ram_cap
                and use.disk_gib + disk_gib <= disk_cap)

    def needs(self, vm: Vm) -> tuple[int, int, int]:
        """What ``vm`` takes on a host: vCPUs, RAM MiB, local disk GiB."""
        return self.need.get(vm.name) or (vm.vcpus, vm.ram_mib, vm.local_disk_gib)

    def spread(self, vm: Vm) -> Counter[str] | None:
        """The hosts holding members of ``vm``'s anti-affinity group (None: no such group)."""
        group = vm.server_group
        if group is None or group not in self.anti_affine:
            return None
        return self.group_hosts[group]

    def anti_affinity_ok(self, vm: Vm, dest: str) -> bool:
        """No other member of the VM's anti-affinity group is on ``dest``."""
        members = self.spread(vm)
        return members is None or members[dest] == 0

    def move(self, vm: Vm, dest: str, *, live: bool | None = None,
             workarounds: Sequence[str] = ()) -> Move:
        """Move ``vm`` to ``dest``; with ``live`` given (the planner), its state follows
        (:func:`after_move`)."""
        source = self.location[vm.name]
        self._take(vm, source)
        self._put(vm, dest)
        self.moves[vm.name] += 1
        if live is not None:
            hops = self._hops.setdefault(vm.name, [])
            self._before[(vm.name, source, dest)] = (self.current[vm.name], tuple(hops))
            hops.append((live, tuple(workarounds)))
        return Move(vm.name, source, dest)

    def undo(self, vm: Vm, move: Move) -> None:
        self._take(vm, move.dest)
        self._put(vm, move.source)
        self.moves[vm.name] -= 1
        before = self._before.pop((move.vm, move.source, move.dest), None)
        if before is not None:
            self.current[move.vm] = before[0]
            if before[1]:
                self._hops[move.vm] = list(before[1])
            else:
                self._hops.pop(move.vm, None)

    def undo_to(self, vm: Vm, host: str) -> None:
        """Put ``vm`` back on ``host`` (a reserved move that did not happen)."""
        current = self.location[vm.name]
        if current != host:
            self._take(vm, current)
            self._put(vm, host)

    def lift(self, vm: Vm) -> None:
        """Take ``vm`` off its host's usage and anti-affinity members, where it still is: a VM
        that will leave that host before anything reserved there now arrives (the planner's
        legacy pool: :meth:`set_down` puts it back, then a :meth:`move` sends it away)."""
        self._take(vm, self.location[vm.name])

    def set_down(self, vm: Vm) -> None:
        """Undo :meth:`lift`: ``vm`` counts on its host again."""
        self._put(vm, self.location[vm.name])

    def place(self, vm: Vm, host: str) -> None:
        """Record where the cloud says ``vm`` is (reconciliation)."""
        self.undo_to(vm, host)

    def free_ram_share(self, host: str) -> float:
        return 1.0 - self.usage[host].ram_mib / self.capacity[host][1]

    def overloaded(self) -> list[str]:
        """Hosts over capacity right now, with what is exceeded (should always be empty)."""
        return [f"{name}: {words}" for name, use in self.usage.items()
                for words in over_capacity(self.host[name], use)]

    def _put(self, vm: Vm, host: str) -> None:
        self.location[vm.name] = host
        self.on_host[host].add(vm.name)
        use = self.usage.get(host)
        if use is None:
            use = self.usage[host] = Usage()
        vcpus, ram_mib, disk_gib = self.needs(vm)
        use.vcpus += vcpus
        use.ram_mib += ram_mib
        use.disk_gib += disk_gib
        use.vms += 1
        if vm.server_group is not None:
            self.group_hosts[vm.server_group][host] += 1

    def _take(self, vm: Vm, host: str) -> None:
        self.on_host[host].discard(vm.name)
        use = self.usage[host]
        vcpus, ram_mib, disk_gib = self.needs(vm)
        use.vcpus -= vcpus
        use.ram_mib -= ram_mib
        use.disk_gib -= disk_gib
        use.vms -= 1
        if vm.server_group is not None:
            self.group_hosts[vm.server_group][host] -= 1


def _capacity(host: Host) -> tuple[float, float, float]:
    return host.vcpu_capacity, host.ram_capacity_mib, host.disk_capacity_gib
