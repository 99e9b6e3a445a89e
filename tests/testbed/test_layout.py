"""Naming and paths of testbed hosts."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvroll.errors import InputError
from hvroll.testbed.layout import Layout, check_prefix, workdir_from_uri

LAYOUT = Layout(Path("/srv/tb"), "hvtb")


def test_host_names_address_and_uri_follow_its_number() -> None:
    host = LAYOUT.host(3)
    assert (host.short_name, host.hostname, host.netns, host.ip) == \
        ("h3", "hvtb-h3", "hvtb-h3", "10.213.0.3")
    assert host.uri == "qemu+unix:///system?socket=/srv/tb/hosts/h3/run/libvirt-sock"
    assert host.tcp_uri == "qemu+tcp://10.213.0.3/system"


def test_host_uuids_are_stable_and_distinct() -> None:
    uuids = [LAYOUT.host(n).host_uuid for n in range(1, 65)]
    assert len(set(uuids)) == 64
    assert uuids[0] == Layout(Path("/srv/tb"), "hvtb").host(1).host_uuid
    assert uuids[0] != Layout(Path("/srv/other"), "hvtb").host(1).host_uuid


@pytest.mark.parametrize("text", ["h2", "hvtb-h2", "2"])
def test_a_host_can_be_named_three_ways(text: str) -> None:
    assert LAYOUT.resolve_host(text) == LAYOUT.host(2)


@pytest.mark.parametrize("text", ["x2", "hvtb-hx", "h0", "h65"])
def test_unknown_host_names_are_input_errors(text: str) -> None:
    with pytest.raises(InputError):
        LAYOUT.resolve_host(text)


@pytest.mark.parametrize("prefix", ["", "1ab", "Hv", "hv-tb", "abcdefghijk"])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(InputError, match="prefix"):
        check_prefix(prefix)


def test_the_work_directory_is_recovered_from_a_host_uri() -> None:
    assert workdir_from_uri(LAYOUT.host(7).uri) == Path("/srv/tb")


@pytest.mark.parametrize("uri", ["qemu:///system", "qemu+unix:///system?socket=/run/x.sock"])
def test_other_uris_are_not_testbed_uris(uri: str) -> None:
    with pytest.raises(InputError, match="not a testbed host URI"):
        workdir_from_uri(uri)
