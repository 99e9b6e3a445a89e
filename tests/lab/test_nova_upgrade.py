"""The lab's upgrade operations without a running lab: the service groups, and bad input
refused in one line (exit 2, nothing changed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from clirun import Result
from hvroll.errors import InputError
from hvroll.lab.nova.layout import LabRecord
from hvroll.lab.nova.upgrade import group_services
from hvroll.lab.nova.venv import RELEASES

RECORD = LabRecord(workdir="/w", release="2025.1", venv="/v", computes=["compute1", "compute2"])


@pytest.mark.parametrize(("group", "services"), [
    ("all", ["placement", "nova-api", "nova-conductor", "nova-scheduler", "compute1",
             "compute2"]),
    ("controllers", ["placement", "nova-api", "nova-conductor", "nova-scheduler"]),
    ("api", ["placement", "nova-api"]),
    ("conductor", ["nova-conductor"]),
    ("scheduler", ["nova-scheduler"]),
    ("placement", ["placement"]),
    ("computes", ["compute1", "compute2"]),
])
def test_groups_name_the_services_in_start_order(group: str, services: list[str]) -> None:
    assert group_services(RECORD, group) == services


def test_an_unknown_group_is_refused_with_the_choices() -> None:
    with pytest.raises(InputError, match=r"unknown lab service group 'db' \(expected one of: "
                                         r"all, controllers, api, conductor, scheduler, "):
        group_services(RECORD, "db")


def test_the_rehearsal_releases_are_installable() -> None:
    assert {k: (r.nova, r.constraints) for k, r in RELEASES.items() if k != "2026.2"} == {
        "2025.1": ("31.3.1", "upper-constraints-2025.1.txt"),
        "2025.2": ("32.2.1", "upper-constraints-2025.2.txt"),
        "2026.1": ("33.0.2", "upper-constraints-2026.1.txt")}


@pytest.mark.parametrize("args", [("stop", "api"), ("start", "computes"),
                                  ("release", "2025.2")])
def test_operations_on_a_directory_without_a_lab_exit_2(
        hv: Callable[..., Result], tmp_path: Path, args: tuple[str, ...]) -> None:
    result = hv("lab", "nova", *args, "--workdir", str(tmp_path))
    assert result.code == 2
    assert result.stderr.strip() == (f"error: {tmp_path}: no Nova lab here (no lab.json): run "
                                     f"'hvroll lab nova up --workdir {tmp_path}'")
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_release_is_refused(hv: Callable[..., Result], tmp_path: Path) -> None:
    result = hv("lab", "nova", "up", "--release", "2024.1", "--workdir", str(tmp_path))
    assert result.code == 2
    assert "unknown Nova lab release '2024.1' (expected one of: 2025.1, 2025.2, 2026.1, " \
           "2026.2)" in result.stderr
