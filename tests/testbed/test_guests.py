"""Canary guest domain XML and its limits."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hvroll.errors import InputError
from hvroll.testbed.guests import GuestSpec, check_spec, domain_xml, guest_mac

SPEC = GuestSpec(name="vm1", kernel=Path("/tb/shared/images/x/vmlinuz"),
                 initrd=Path("/tb/shared/images/x/initrd.gz"),
                 console_log=Path("/tb/shared/vm1.console.log"), dirty_mb=16, dirty_rate_mib_s=8)


def test_domain_is_a_tcg_q35_guest_with_acpi_booting_the_testbed_kernel() -> None:
    root = ET.fromstring(domain_xml(SPEC))
    assert root.get("type") == "qemu"
    assert root.find("./os/type").get("machine") == "q35"  # type: ignore[union-attr]
    assert root.find("./features/acpi") is not None
    assert root.find("./features/apic") is not None
    assert root.findtext("./os/kernel") == "/tb/shared/images/x/vmlinuz"
    assert root.findtext("./os/cmdline") == \
        "console=ttyS0 quiet pti=on dirty_mb=16 dirty_rate=8"


def test_console_is_appended_to_a_file_on_shared_storage() -> None:
    source = ET.fromstring(domain_xml(SPEC)).find("./devices/serial/source")
    assert source is not None
    assert (source.get("path"), source.get("append")) == ("/tb/shared/vm1.console.log", "on")


def test_nic_is_a_plain_tap_with_a_stable_mac_and_the_balloon_is_virtio() -> None:
    root = ET.fromstring(domain_xml(SPEC))
    nic = root.find("./devices/interface")
    assert nic is not None and nic.get("type") == "ethernet"
    assert nic.find("mac").get("address") == guest_mac("vm1")  # type: ignore[union-attr]
    assert root.find("./devices/memballoon").get("model") == "virtio"  # type: ignore[union-attr]


def test_macs_are_locally_administered_and_differ_per_name() -> None:
    assert guest_mac("vm1").startswith("52:54:00:")
    assert guest_mac("vm1") != guest_mac("vm2")


def test_a_named_cpu_model_is_exact_and_unchecked() -> None:
    cpu = ET.fromstring(domain_xml(replace(SPEC, cpu_model="Haswell")))
    model = cpu.find("./cpu/model")
    assert model is not None and model.text == "Haswell"
    assert cpu.find("./cpu").get("check") == "none"  # type: ignore[union-attr]


@pytest.mark.parametrize(("change", "message"), [
    ({"name": "bad name"}, "invalid"),
    ({"vcpus": 0}, "vcpus must be >= 1"),
    ({"ram_mib": 64}, "ram_mib must be >= 96"),
    ({"dirty_mb": 65}, "dirty_mb must be <= ram_mib/4 = 64"),
    ({"dirty_rate_mib_s": -1}, ">= 0"),
])
def test_guests_that_cannot_work_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_spec(replace(SPEC, **change))


def test_a_sound_guest_passes_its_checks() -> None:
    assert check_spec(SPEC) is SPEC
