"""``hvroll testbed`` refuses bad input before it starts anything: one line, exit 2, no file
or work directory touched (the commands themselves run in tests/e2e/test_testbed_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Cli

pytest.importorskip("libvirt")


def test_up_refuses_to_replace_an_inventory_without_force(cli: Cli, tmp_path: Path,
                                                          tiny_text: str) -> None:
    inventory = tmp_path / "f.yaml"
    inventory.write_text(tiny_text)
    workdir = tmp_path / "tb"
    result = cli("testbed", "up", "--guests", "2", "--workdir", str(workdir), "-o",
                 str(inventory))
    assert result.code == 2
    [line] = result.stderr.strip().splitlines()
    assert str(inventory) in line and "--force" in line
    assert inventory.read_text() == tiny_text
    assert not workdir.exists()


@pytest.mark.parametrize(("options", "message"), [
    (("--cpu-model", "Bogus"), "--cpu-model 'Bogus' is not a libvirt CPU model"),
    (("--dirty-rate", "8", "--dirty-mib", "100"),
     "dirty_mb must be <= ram_mib/4 = 64 (got 100)"),
])
def test_up_refuses_guests_that_cannot_work(cli: Cli, tmp_path: Path, options: tuple[str, ...],
                                            message: str) -> None:
    workdir = tmp_path / "tb"
    result = cli("testbed", "up", "--guests", "2", "--workdir", str(workdir), *options)
    assert result.code == 2
    [line] = result.stderr.strip().splitlines()
    assert message in line
    assert not workdir.exists()


def test_guest_commands_need_a_testbed(cli: Cli, tmp_path: Path) -> None:
    for args in (("guest", "add"), ("guest", "remove", "canary-1")):
        result = cli("testbed", *args, "--workdir", str(tmp_path / "none"))
        assert result.code == 2
        [line] = result.stderr.strip().splitlines()
        assert "no testbed in" in line and "hvroll testbed up" in line


def test_up_help_teaches_units_and_defaults(cli: Cli) -> None:
    out = cli("testbed", "up", "--help").stdout
    for text in ("--guests", "--dirty-rate", "MiB/s", "--guest-ram-mib", "kvm64", "--force",
                 "Example"):
        assert text in out, text
