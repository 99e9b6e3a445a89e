"""The fleet as the planner moves VMs around: where each VM is, what each host holds, which
profile each host runs. Mutable, private to one planning run."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from hvroll.domain import Fleet, GroupPolicy, Host, HostProfile, Vm
from hvroll.inventory.references import Usage, over_capacity


@dataclass(frozen=True, slots=True)
class Move:
    vm: str
    source: str
    dest: str


class PlanState:
    """Where every VM is, per-host usage and anti-affinity members, and hosts' profiles."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.host: dict[str, Host] = dict(fleet.host_by_name)
        self.usage: dict[str, Usage] = {h.name: Usage() for h in fleet.hosts}
        self.location: dict[str, str] = {}
        self.on_host: dict[str, set[str]] = defaultdict(set)
        self.group_hosts: dict[str, Counter[str]] = defaultdict(Counter)
        self.moves: Counter[str] = Counter()
        for vm in fleet.vms:
            self._put(vm, vm.host)

    def vm(self, name: str) -> Vm:
        return self.fleet.vm_by_name[name]

    def profile(self, host: str) -> HostProfile:
        return self.fleet.profile_by_name[self.host[host].profile]

    def rank(self, host: str) -> int:
        return self.profile(host).rank

    def upgrade(self, host: str, profile: HostProfile) -> None:
        """The host was reinstalled with ``profile`` (which must be in the fleet)."""
        self.host[host] = self.host[host].model_copy(update={"profile": profile.name})

    def fits(self, vm: Vm, dest: str) -> bool:
        """Would ``vm`` fit on ``dest`` under its allocation ratios, given what it holds?"""
        use = self.usage[dest]
        host = self.host[dest]
        return (use.vcpus + vm.vcpus <= host.vcpu_capacity
                and use.ram_mib + vm.ram_mib <= host.ram_capacity_mib
                and use.disk_gib + vm.local_disk_gib <= host.disk_capacity_gib)

    def anti_affinity_ok(self, vm: Vm, dest: str) -> bool:
        """No other member of the VM's anti-affinity group is on ``dest``."""
        if vm.server_group is None:
            return True
        group = self.fleet.group_by_name.get(vm.server_group)
        if group is None or group.policy is not GroupPolicy.ANTI_AFFINITY:
            return True
        return self.group_hosts[vm.server_group][dest] == 0

    def move(self, vm: Vm, dest: str) -> Move:
        source = self.location[vm.name]
        self._take(vm, source)
        self._put(vm, dest)
        self.moves[vm.name] += 1
        return Move(vm.name, source, dest)

    def undo(self, vm: Vm, move: Move) -> None:
        self._take(vm, move.dest)
        self._put(vm, move.source)
        self.moves[vm.name] -= 1

    def undo_to(self, vm: Vm, host: str) -> None:
        """Put ``vm`` back on ``host`` (a reserved move that did not happen)."""
        current = self.location[vm.name]
        if current != host:
            self._take(vm, current)
            self._put(vm, host)

    def place(self, vm: Vm, host: str) -> None:
        """Record where the cloud says ``vm`` is (reconciliation)."""
        self.undo_to(vm, host)

    def free_ram_share(self, host: str) -> float:
        h = self.host[host]
        return 1.0 - self.usage[host].ram_mib / h.ram_capacity_mib

    def overloaded(self) -> list[str]:
        """Hosts over capacity right now, with what is exceeded (should always be empty)."""
        return [f"{name}: {words}" for name, use in self.usage.items()
                for words in over_capacity(self.host[name], use)]

    def _put(self, vm: Vm, host: str) -> None:
        self.location[vm.name] = host
        self.on_host[host].add(vm.name)
        use = self.usage.setdefault(host, Usage())
        use.add(vm)
        if vm.server_group is not None:
            self.group_hosts[vm.server_group][host] += 1

    def _take(self, vm: Vm, host: str) -> None:
        self.on_host[host].discard(vm.name)
        use = self.usage[host]
        use.vcpus -= vm.vcpus
        use.ram_mib -= vm.ram_mib
        use.disk_gib -= vm.local_disk_gib
        use.vms -= 1
        if vm.server_group is not None:
            self.group_hosts[vm.server_group][host] -= 1
