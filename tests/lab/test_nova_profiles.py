"""How lab profiles show in Nova, and the host-facts file that names them back."""

from __future__ import annotations

import pytest
import yaml

from hvroll.errors import InputError
from hvroll.lab.nova.profiles import compute_profile, host_facts_yaml, hypervisor_version


@pytest.mark.parametrize(("qemu", "expected"), [
    ("2.0.0", 2_000_000), ("2.11.1", 2_011_001), ("7.2", 7_002_000), ("10.1.3", 10_001_003),
])
def test_hypervisor_version_is_novas_integer_encoding(qemu: str, expected: int) -> None:
    assert hypervisor_version(qemu) == expected


def test_compute_profile_reports_the_profiles_qemu() -> None:
    assert compute_profile("CPv2").hypervisor_version == 2_011_001
    assert compute_profile("CPv1").as_json()["hypervisor_version"] == 2_000_000


def test_unknown_profile_is_an_input_error_naming_the_known_ones() -> None:
    with pytest.raises(InputError,
                       match=r"unknown lab profile 'CPv9' \(expected one of: CPv1, CPv2\)"):
        compute_profile("CPv9")


def test_host_facts_match_each_profile_by_hypervisor_version() -> None:
    doc = yaml.safe_load(host_facts_yaml())
    assert doc["version"] == 1
    matches = {p["name"]: p["match"] for p in doc["profiles"]}
    assert matches == {
        "CPv1": {"hypervisor_type": "QEMU", "hypervisor_version": 2_000_000},
        "CPv2": {"hypervisor_type": "QEMU", "hypervisor_version": 2_011_001},
    }
    cpv2 = next(p for p in doc["profiles"] if p["name"] == "CPv2")
    assert (cpv2["libvirt_version"], cpv2["rank"]) == ("4.0.0", 2)
