"""``--target``: a profile of the inventory, changed, or written inline."""

from __future__ import annotations

import pytest

from hvroll.compat.target import parse_target
from hvroll.domain import Fleet, HostProfile
from hvroll.errors import InputError

from .fleets import CPV2


def test_profile_by_name(seed_fleet: Fleet) -> None:
    assert parse_target("CPv2", seed_fleet) == CPV2


def test_profile_with_changes(seed_fleet: Fleet) -> None:
    assert parse_target("CPv2,flags=nosmap+nosmep", seed_fleet) == CPV2.model_copy(
        update={"kernel_flags": ("nosmap", "nosmep")})


def test_inline_profile(seed_fleet: Fleet) -> None:
    assert parse_target("name=CPv3,qemu=7.2,libvirt=9.0,os=debian:12,flags=nosmap",
                        seed_fleet) == HostProfile(
        name="CPv3", os_name="debian", os_version="12", kernel_flags=("nosmap",),
        qemu_version="7.2", libvirt_version="9.0", rank=3)


@pytest.mark.parametrize(("spec", "message"), [
    ("CPv9", "--target profile 'CPv9' is not in the inventory (expected one of: CPv1, CPv2, "
             "CPv2n, or an inline profile such as "
             "'name=CPv3,qemu=7.2,libvirt=9.0,os=debian:12,flags=nosmap')"),
    ("name=CPv3", "--target 'name=CPv3' names no inventory profile, so it needs qemu= and "
                  "libvirt= (expected e.g. "
                  "'name=CPv3,qemu=7.2,libvirt=9.0,os=debian:12,flags=nosmap')"),
    ("CPv2,qemuu=7", "--target has unknown key 'qemuu' (expected one of: name, os, qemu, "
                     "libvirt, flags, nova, rank)"),
    ("CPv2,qemu=seven", "--target qemu_version is invalid (expected a version such as "
                        "2.11.1 or a distribution's 3.2.0-14.el7_4.9, got 'seven')"),
    ("CPv2,rank=high", "--target rank must be an integer (expected e.g. rank=3, got 'high')"),
    ("CPv2,qemu=7,qemu=8", "--target sets 'qemu' twice (expected each key once)"),
    ("qemu=7,CPv2", "--target item 'CPv2' is not KEY=VALUE (expected a profile name first, "
                    "then KEY=VALUE with KEY one of: name, os, qemu, libvirt, flags, nova, "
                    "rank)"),
])
def test_bad_target(seed_fleet: Fleet, spec: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_target(spec, seed_fleet)
    assert str(caught.value) == message
