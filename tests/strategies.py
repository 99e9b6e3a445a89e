"""Hypothesis strategies shared by the property tests: random small fleets."""

from __future__ import annotations

import uuid

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
