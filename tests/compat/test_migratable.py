"""Host CPUs are judged by their migratable subset: features libvirt's cpu_map marks
``migratable='no'`` (``invtsc``) never block a move and are never in a recommended model."""

from __future__ import annotations

from hvroll.compat.cpu import CpuDef, baseline, migratable, non_migratable
from hvroll.compat.exposure import host_model_cpu, visible_cpu
from hvroll.compat.verdict import Checker
from hvroll.domain import CpuGeneration, Fleet
from hvroll.synthetic.presets import CPV2

FROM_CAPABILITIES = CpuGeneration(name="Broadwell-caps", model="Broadwell-noTSX",
                                  features=("vme", "ss", "ht", "tsc_adjust", "invtsc"))
"""A generation typed from ``virsh capabilities``: the host has invtsc."""
FROM_DOMCAPS = CpuGeneration(name="Broadwell-domcaps", model="Broadwell-noTSX",
                             features=("vme", "ss", "ht", "tsc_adjust"))
"""The same hardware as ``virsh domcapabilities`` host-model lists it."""


def test_invtsc_is_not_migratable_per_libvirts_cpu_map() -> None:
    assert "invtsc" in non_migratable()
    assert migratable({"vme", "invtsc"}) == {"vme"}


def test_a_host_cpu_read_from_capabilities_shows_guests_only_its_migratable_subset() -> None:
    caps, domcaps = visible_cpu(FROM_CAPABILITIES, CPV2), visible_cpu(FROM_DOMCAPS, CPV2)
    assert (caps.model, caps.features, caps.disabled) == (domcaps.model, domcaps.features,
                                                          domcaps.disabled)
    assert "invtsc" not in host_model_cpu(FROM_CAPABILITIES, CPV2).features


def test_no_false_block_between_hosts_typed_from_capabilities_and_domcapabilities() -> None:
    fleet = Fleet.model_validate({
        "regions": [{"name": "r"}], "clusters": [{"name": "c", "region": "r"}],
        "generations": [FROM_CAPABILITIES.model_dump(), FROM_DOMCAPS.model_dump()],
        "profiles": [CPV2.model_dump()],
        "hosts": [{"name": h, "cluster": "c", "generation": g, "profile": "CPv2", "vcpus": 8,
                   "ram_mib": 16384} for h, g in (("a", FROM_CAPABILITIES.name),
                                                  ("b", FROM_DOMCAPS.name))],
        "vms": [{"name": "v", "uuid": "00000000-0000-4000-8000-000000000001", "host": "a",
                 "vcpus": 1, "ram_mib": 1024, "guest": {"family": "linux"}}],
    })
    checker = Checker(fleet)
    vm, a, b = fleet.vm_by_name["v"], fleet.host_by_name["a"], fleet.host_by_name["b"]
    assert checker.migration(vm, a, b).ok
    assert "invtsc" not in checker.baseline([a, b]).expanded()


def test_a_baseline_never_recommends_a_non_migratable_feature() -> None:
    cpus = [CpuDef.of("Broadwell-noTSX", ["vme", "invtsc"]),
            CpuDef.of("Broadwell-noTSX", ["vme", "invtsc", "ss"])]
    found = baseline(cpus)
    assert "invtsc" not in found.features
    assert "vme" in found.expanded()
