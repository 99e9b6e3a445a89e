"""Invariants of every plan, on random small fleets (hypothesis).

For any fleet, strategy and policy: replaying the plan never puts a host over capacity, never
puts two members of an anti-affinity group on one host, never moves a VM where its verdict
forbids or to a lower profile, reinstalls every targeted host that is not skipped exactly once
and only when empty, and loses or duplicates no VM.
"""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hvroll.domain import (
    Cluster,
    ConfigDrive,
    CpuGeneration,
    Devices,
    Fleet,
    GuestOs,
    GuestOsFamily,
    Host,
    HostProfile,
    HostRole,
    Passthrough,
    PowerState,
    Region,
    ServerGroup,
    Vm,
    VmHistory,
)
from hvroll.inventory.references import check
from hvroll.planner.build import Targets, plan
from hvroll.planner.model import Policy, Strategy
from hvroll.planner.replay import replay

GENERATIONS = (
    CpuGeneration(name="Haswell", model="Haswell-noTSX"),
    CpuGeneration(name="Broadwell", model="Broadwell-noTSX"),
    CpuGeneration(name="Skylake", model="Skylake-Server-noTSX-IBRS"),
)
OLD = HostProfile(name="CPv1", os_name="ubuntu", os_version="14.04", qemu_version="2.0.0",
                  libvirt_version="1.2.2", rank=1)
NEW = HostProfile(name="CPv2", os_name="ubuntu", os_version="16.04", qemu_version="2.11.1",
                  libvirt_version="4.0.0", rank=2)
NEW_NOSMAP = NEW.model_copy(update={"name": "CPv2n", "kernel_flags": ("nosmap",)})


@st.composite
def fleets(draw: st.DrawFn) -> Fleet:
    clusters, hosts, vms, groups = [], [], [], []
    n = 0
    for c in range(draw(st.integers(1, 3))):
        cname = f"c{c}"
        clusters.append(Cluster(name=cname, region="r1"))
        gen = draw(st.sampled_from(GENERATIONS))
        size = draw(st.integers(2, 7))
        spares = draw(st.integers(0, 2))
        for h in range(size):
            profile = draw(st.sampled_from(("CPv1", "CPv1", "CPv1", "CPv2")))
            hosts.append(Host(
                name=f"{cname}-h{h}", cluster=cname, generation=gen.name, profile=profile,
                vcpus=16, ram_mib=32768, disk_gib=400, cpu_allocation_ratio=2.0,
                role=HostRole.SPARE if h >= size - spares else HostRole.ACTIVE))
            if h >= size - spares:
                continue
            for _ in range(draw(st.integers(0, 4))):
                n += 1
                family = draw(st.sampled_from(list(GuestOsFamily)))
                vms.append(Vm(
                    name=f"vm{n}", uuid=str(uuid.UUID(int=n)), host=f"{cname}-h{h}",
                    vcpus=draw(st.sampled_from((1, 2, 4))),
                    ram_mib=draw(st.sampled_from((1024, 2048, 4096, 8192))),
                    guest=GuestOs(family=family, smap_support=draw(st.booleans())),
                    devices=Devices(
                        config_drive=draw(st.sampled_from(list(ConfigDrive))),
                        passthrough=(Passthrough.GPU,) if draw(st.integers(0, 9)) == 0 else ()),
                    power=draw(st.sampled_from((PowerState.RUNNING, PowerState.RUNNING,
                                                PowerState.SHUTOFF, PowerState.PAUSED))),
                    history=VmHistory(live_migrations_since_power_cycle=draw(
                        st.integers(0, 2))),
                    dirty_rate_mib_s=draw(st.sampled_from((None, 5.0, 2000.0)))))
    # Anti-affinity pairs of VMs on distinct hosts.
    by_host: dict[str, list[int]] = {}
    for i, vm in enumerate(vms):
        by_host.setdefault(vm.host, []).append(i)
    heads = [idx[0] for idx in by_host.values()]
    for g in range(draw(st.integers(0, len(heads) // 2))):
        name = f"g{g}"
        groups.append(ServerGroup(name=name))
        for i in heads[2 * g: 2 * g + 2]:
            vms[i] = vms[i].model_copy(update={"server_group": name})
    return Fleet(regions=(Region(name="r1"),), clusters=tuple(clusters),
                 generations=GENERATIONS, profiles=(OLD, NEW, NEW_NOSMAP),
                 server_groups=tuple(groups), hosts=tuple(hosts), vms=tuple(vms))


POLICIES = st.builds(
    Policy, hosts_per_wave=st.sampled_from((None, 1, 2, 3)),
    canary_hosts=st.integers(0, 3), allow_cold_migration=st.booleans())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=fleets(), policy=POLICIES, strategy=st.sampled_from(list(Strategy)),
       target=st.sampled_from((NEW, NEW_NOSMAP)))
def test_every_plan_keeps_the_invariants(fleet: Fleet, policy: Policy, strategy: Strategy,
                                         target: HostProfile) -> None:
    assert check(fleet) == []
    result = plan(fleet, Targets(default=target), policy, strategy)
    targeted = {h.name for h in fleet.hosts if fleet.profile_of(h).rank < target.rank}
    resolved = dict.fromkeys(targeted, target)
    replayed = replay(_with(fleet, target), result, resolved)
    assert replayed.violations == []
    skipped = {s.host for s in result.skipped}
    assert set(replayed.reinstalled) == targeted - skipped
    assert sorted(replayed.final_location) == sorted(vm.name for vm in fleet.vms)
    # VMs on hosts that need no upgrade and were never drained stay where they are.
    if strategy is Strategy.ROLL_FORWARD:
        for vm in fleet.vms:
            if vm.host not in targeted:
                assert replayed.final_location[vm.name] == vm.host


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=fleets(), policy=POLICIES)
def test_roll_forward_moves_each_vm_at_most_twice_and_never_blocked_vms(
        fleet: Fleet, policy: Policy) -> None:
    """Once in the normal case; twice only for the VMs of a bootstrap host in a cluster that
    has no empty host to start from. VMs listed as blocked (operator) never move."""
    result = plan(fleet, NEW, policy)
    moves: dict[str, int] = {}
    for wave in result.waves:
        for step in wave.steps:
            for m in step.drain:
                moves[m.vm] = moves.get(m.vm, 0) + 1
    assert max(moves.values(), default=0) <= 2
    blocked = {u.vm for u in result.unmovable if u.action.value == "operator"}
    assert not blocked & set(moves)


def _with(fleet: Fleet, profile: HostProfile) -> Fleet:
    if profile.name in fleet.profile_by_name:
        return fleet
    return fleet.model_copy(update={"profiles": (*fleet.profiles, profile)})
