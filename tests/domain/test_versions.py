"""Version strings as distributions write them: compared by their upstream version."""

from __future__ import annotations

import pytest
from packaging.version import Version

from hvroll.compat.ruleset import in_range
from hvroll.domain import HostProfile, upstream_version


@pytest.mark.parametrize(("raw", "upstream"), [
    ("4.0.0", "4.0.0"),
    ("2.11.1", "2.11.1"),
    ("3.2.0-14.el7_4.9", "3.2.0"),              # RHEL 7.4 libvirt
    ("4.5.0-10.el7_6.12", "4.5.0"),             # RHEL 7.6 libvirt
    ("10:2.9.0-16.el7_4.8.1", "2.9.0"),         # qemu-kvm-ev, with an epoch
    ("1:2.11+dfsg-1ubuntu7.23", "2.11"),        # Ubuntu 18.04 qemu
    ("2.0.0+dfsg-2ubuntu1.46", "2.0.0"),        # Ubuntu 14.04 qemu
    ("1.3.1-1ubuntu10.31", "1.3.1"),            # Ubuntu 16.04 libvirt
    ("2.12.0~rc1-1", "2.12.0rc1"),              # Debian pre-release
    ("3.9.0rc1", "3.9.0rc1"),
])
def test_the_upstream_version_of_what_a_distribution_writes(raw: str, upstream: str) -> None:
    assert upstream_version(raw) == Version(upstream)


@pytest.mark.parametrize("raw", ["", "lots", "el7", "2.x", "latest-1"])
def test_a_string_that_starts_with_no_version_number_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match=r"expected a version such as 2\.11\.1"):
        upstream_version(raw)


def test_a_profile_keeps_the_string_as_written_and_compares_upstream() -> None:
    rhel = HostProfile(name="CPv1-rhel", os_name="rhel", os_version="7.4",
                       qemu_version="10:2.9.0-16.el7_4.8.1", libvirt_version="3.2.0-14.el7_4.9")
    assert rhel.libvirt_version == "3.2.0-14.el7_4.9"
    assert rhel.libvirt_upstream == Version("3.2.0")
    assert rhel.qemu_upstream == Version("2.9.0")
    dumped = rhel.model_dump(mode="json")
    assert dumped["libvirt_version"] == "3.2.0-14.el7_4.9"
    assert HostProfile.model_validate(dumped) == rhel


@pytest.mark.parametrize(("raw", "spec", "inside"), [
    ("3.2.0-14.el7_4.9", "<3.9.0", True),
    ("4.5.0-10.el7_6.12", "<3.9.0", False),
    ("3.9.0-1.el7", ">=3.9.0", True),           # the release suffix is not a post-release
    ("1:2.11+dfsg-1ubuntu7.23", ">=2.11", True),
    ("2.0.0+dfsg-2ubuntu1.46", ">=2.5", False),
])
def test_rule_bounds_compare_the_upstream_version(raw: str, spec: str, inside: bool) -> None:
    assert in_range(raw, spec) is inside
