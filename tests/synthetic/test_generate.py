"""The fleet generator: deterministic by seed, presets shaped as documented."""

from __future__ import annotations

from collections import Counter

import pytest

from hvroll.domain import Fleet, GuestOsFamily, HostRole
from hvroll.inventory import dump_fleet, parse_fleet
from hvroll.inventory.references import check
from hvroll.synthetic.generate import generate


def test_same_seed_same_bytes() -> None:
    assert dump_fleet(generate("small", 7)) == dump_fleet(generate("small", 7))


def test_other_seed_other_fleet() -> None:
    assert dump_fleet(generate("small", 7)) != dump_fleet(generate("small", 8))


def test_small_shape(small: Fleet) -> None:
    assert len(small.regions) == 2
    assert len(small.hosts) == 80
    assert 540 <= len(small.vms) <= 660
    assert {small.spares(c.name) for c in small.clusters} == {2}


def test_generated_fleets_pass_validation(small: Fleet) -> None:
    assert check(small) == []
    assert parse_fleet(dump_fleet(small), "small.yaml") == small


def test_spares_are_empty(small: Fleet) -> None:
    assert all(not small.vms_by_host[h.name] for h in small.hosts if h.role is HostRole.SPARE)


def test_anti_affinity_members_are_on_distinct_hosts(small: Fleet) -> None:
    assert small.members_by_group
    for members in small.members_by_group.values():
        assert len({vm.host for vm in members}) == len(members)
        assert len({vm.tenant for vm in members}) == 1


def test_small_has_every_case_the_seed_needs(small: Fleet) -> None:
    """Legacy non-SMAP guests, Windows migrated since boot, FreeBSD, config drives, internal."""
    vms = small.vms
    assert any(not vm.guest.smap_support for vm in vms)
    assert any(vm.guest.family is GuestOsFamily.WINDOWS
               and vm.history.live_migrations_since_power_cycle > 0 for vm in vms)
    assert any(vm.guest.family is GuestOsFamily.FREEBSD for vm in vms)
    assert any(vm.devices.config_drive.value == "iso9660" for vm in vms)
    assert any(vm.internal for vm in vms)
    assert {h.generation for h in small.hosts} == {"Haswell", "Broadwell", "Skylake"}


def test_guest_cpu_of_broadwell_cpv1_hides_smap(small: Fleet) -> None:
    """CPv1's libvirt is too old to expose SMAP: host-model guests there start without it."""
    on_broadwell_cpv1 = [vm for vm in small.vms
                         if small.host_by_name[vm.host].generation == "Broadwell"
                         and vm.cpu.mode.value == "host-model"]
    assert on_broadwell_cpv1
    assert {vm.cpu.disabled for vm in on_broadwell_cpv1} == {("smap",)}


@pytest.mark.slow
def test_enterprise_shape() -> None:
    fleet = generate("enterprise", 1)
    summary = fleet.summary()
    assert summary["regions"] == 13
    assert 3400 <= len(fleet.hosts) <= 3600
    assert 34_000 <= len(fleet.vms) <= 36_000
    assert Counter(len(hs) for hs in fleet.hosts_by_cluster.values()) == {40: 88}
    assert {fleet.spares(c.name) for c in fleet.clusters} == {4}
    by_region = summary["by_region"]
    assert isinstance(by_region, dict)
    assert 600 <= max(r["hosts"] for r in by_region.values()) <= 700
    assert {(h.generation, h.profile) for h in fleet.hosts} == {
        ("Haswell", "CPv1"), ("Broadwell", "CPv1"), ("Skylake", "CPv2")}


@pytest.mark.slow
def test_public_shape() -> None:
    fleet = generate("public", 1)
    assert len(fleet.regions) == 25
    assert 240_000 <= len(fleet.vms) <= 260_000
    assert any(vm.devices.passthrough for vm in fleet.vms)
    assert {d.kind.value for vm in fleet.vms for d in vm.disks} == {"local", "shared", "volume"}
    assert len({h.generation for h in fleet.hosts}) >= 4


def test_unknown_preset_is_an_input_error() -> None:
    from hvroll.errors import InputError

    with pytest.raises(InputError, match=r"unknown preset 'huge' \(expected one of: small, "
                                         r"enterprise, public\)"):
        generate("huge", 1)


@pytest.mark.parametrize("seed", [1, 7])
def test_models_built_without_pydantic_loop_are_those_of_model_construct(seed: int) -> None:
    fleet = generate("small", seed)
    for vm in fleet.vms:
        for built in (vm, vm.devices, vm.history, *vm.disks):
            given = {name: getattr(built, name) for name in built.model_fields_set}
            made = type(built).model_construct(**given)
            assert built == made
            assert list(vars(built)) == list(vars(made))
            assert built.model_fields_set == made.model_fields_set
            assert built.__pydantic_extra__ == made.__pydantic_extra__ is None
            assert built.__pydantic_private__ == made.__pydantic_private__ is None


def test_a_model_built_keeps_its_defaults_and_the_fields_given() -> None:
    vm = generate("small", 1).vms[0]
    assert vm.devices.balloon is True
    assert "balloon" not in vm.devices.model_fields_set
    assert vm.devices.model_fields_set == {"config_drive", "passthrough"}
