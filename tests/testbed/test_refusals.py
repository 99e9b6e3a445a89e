"""Mistakes an operator can make are refused with a message saying what to do."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest

from hvroll import testbed as tb
from hvroll.errors import InputError
from hvroll.testbed.state import State, save_state
from hvroll.testbed.system import netns_list

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.mark.parametrize(("n_hosts", "profile", "message"), [
    (0, "CPv1", "between 1 and 64"),
    (65, "CPv1", "between 1 and 64"),
    (2, "CPv9", "unknown testbed profile 'CPv9'"),
])
def test_impossible_requests_are_refused_before_anything_happens(
        tmp_path: Path, n_hosts: int, profile: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        tb.up(n_hosts, tmp_path, profile)
    assert list(tmp_path.iterdir()) == []


@needs_root
def test_up_refuses_a_namespace_it_did_not_create(tmp_path: Path) -> None:
    prefix = f"r{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", f"{prefix}-h2"], check=True)
    try:
        with pytest.raises(InputError, match=rf"{prefix}-h2 already exists .*ip netns del"):
            tb.up(2, tmp_path, prefix=prefix)
        assert sorted(ns for ns in netns_list() if ns.startswith(prefix)) == [f"{prefix}-h2"]
    finally:
        subprocess.run(["ip", "netns", "del", f"{prefix}-h2"], check=True)


@needs_root
def test_a_work_directory_keeps_its_prefix(tmp_path: Path) -> None:
    save_state(tmp_path, State(prefix="older", hosts=(1,)))
    with pytest.raises(InputError, match=r"prefix 'older'.*testbed down"):
        tb.up(1, tmp_path, prefix="newer")


@needs_root
def test_a_work_directory_too_long_for_sockets_is_refused(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 90)
    with pytest.raises(InputError, match=r"too long .* shorter --workdir"):
        tb.up(1, deep, prefix=f"r{secrets.token_hex(4)}")


def test_status_of_an_empty_work_directory_says_to_run_up(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no testbed in .* testbed up"):
        tb.status(tmp_path)


@needs_root
def test_down_of_an_empty_work_directory_does_nothing(tmp_path: Path) -> None:
    assert tb.down(tmp_path / "never").removed_netns == ()


def test_profiles_of_hosts_the_testbed_does_not_have_are_refused(tmp_path: Path) -> None:
    save_state(tmp_path, State(prefix="hvtb", hosts=(1, 2)))
    with pytest.raises(InputError, match="has no host hvtb-h3"):
        tb.write_profile(tmp_path, "h3", "CPv2")
    with pytest.raises(InputError, match="unknown testbed profile"):
        tb.write_profile(tmp_path, "h2", "CPv7")


def test_a_written_profile_is_read_back(tmp_path: Path) -> None:
    save_state(tmp_path, State(prefix="hvtb", hosts=(1,)))
    tb.write_profile(tmp_path, "hvtb-h1", "CPv2")
    assert tb.read_profile(tmp_path, "1") == tb.ProfileMarker(profile="CPv2")
