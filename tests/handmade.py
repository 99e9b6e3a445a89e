"""Small hand-made fleets shared by tests: one cluster of Broadwell hosts on given profiles."""

from __future__ import annotations

from hvroll.domain import Fleet
from hvroll.inventory import parse_fleet


def one_cluster(profiles: list[str], spares: int, vms_per_host: int | list[int]) -> Fleet:
    """One cluster of Broadwell hosts; the first hosts carry ``vms_per_host`` VMs each (or
    host i ``vms_per_host[i]``)."""
    text = [
        "version: 1", "regions: [{name: r}]", "clusters: [{name: c, region: r}]",
        "generations: [{name: Broadwell, model: Broadwell-noTSX}]",
        "profiles:",
        "  - {name: old, os_name: x, os_version: '1', qemu_version: 2.11.1, "
        "libvirt_version: 4.0.0, rank: 1}",
        "  - {name: new, os_name: x, os_version: '2', qemu_version: 7.2.0, "
        "libvirt_version: 9.0.0, rank: 2}",
        "hosts:",
    ]
    n = len(profiles)
    for i, p in enumerate(profiles):
        role = "spare" if i >= n - spares else "active"
        text.append(f"  - {{name: h{i}, cluster: c, generation: Broadwell, profile: {p}, "
                    f"vcpus: 8, ram_mib: 16384, role: {role}}}")
    text.append("vms:")
    k = 0
    for i in range(n - spares):
        for _ in range(vms_per_host if isinstance(vms_per_host, int) else vms_per_host[i]):
            k += 1
            text.append(f"  - {{name: v{k}, uuid: 00000000-0000-4000-8000-{k:012d}, "
                        f"host: h{i}, vcpus: 1, ram_mib: 4096, guest: {{family: linux}}, "
                        f"cpu: {{mode: custom, model: Broadwell-noTSX}}}}")
    return parse_fleet("\n".join(text) + "\n", "cluster.yaml")
