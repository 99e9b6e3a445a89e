"""How the suite splits over xdist workers (tests/conftest.py): which work unit a test is in,
and the order the units are handed out in."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import cast

import pytest


def _conftest() -> ModuleType:
    """tests/conftest.py as a module of its own (pytest imports it under a name of its own)."""
    path = Path(__file__).resolve().parent / "conftest.py"
    spec = importlib.util.spec_from_file_location("hvroll_tests_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


conftest = _conftest()


@dataclass
class _Item:
    """What :func:`unit_order` reads of a collected test: its id and its markers."""

    nodeid: str
    markers: tuple[str, ...] = ()

    def iter_markers(self) -> Iterator[pytest.Mark]:
        return (getattr(pytest.mark, name).mark for name in self.markers)


def _handed_out(*items: _Item) -> list[str]:
    """The ids of ``items`` in the order the workers run them."""
    listed = cast(list[pytest.Item], list(items))
    return [item.nodeid for item in sorted(listed, key=conftest.unit_order(listed))]


@pytest.mark.parametrize(("nodeid", "unit"), [
    ("tests/executor/test_properties.py::test_x", "tests/executor/test_properties.py"),
    ("tests/testbed/test_boot.py::test_x", "tests/testbed/"),
    ("tests/drivers/libvirt/test_dom.py::test_x", "tests/drivers/libvirt/"),
    ("tests/drivers/contract/test_migrations.py::test_x[sim]",
     "tests/drivers/contract/test_migrations.py"),
    ("tests/drivers/contract/test_migrations.py::test_x[nova]", "contract-nova"),
    ("tests/drivers/contract/test_migrations.py::test_x[slow-libvirt]", "contract-libvirt"),
])
def test_each_test_is_in_its_work_unit(nodeid: str, unit: str) -> None:
    assert conftest.work_unit(nodeid) == unit


def test_the_longest_units_come_first_then_by_marker_then_in_collection_order() -> None:
    assert _handed_out(
        _Item("tests/cli/test_a.py::test_1"),
        _Item("tests/web/test_b.py::test_1", ("slow",)),
        _Item("tests/lab/test_nova_qemu.py::test_1", ("nova",)),
        _Item("tests/store/test_c.py::test_1", ("postgres",)),
        _Item("tests/lab/test_nova_lab.py::test_1", ("nova",)),
        _Item("tests/controlplane/test_nova_rehearsal.py::test_1", ("controlplane", "slow")),
        _Item("tests/cli/test_d.py::test_1"),
    ) == [
        "tests/controlplane/test_nova_rehearsal.py::test_1",
        "tests/lab/test_nova_qemu.py::test_1",
        "tests/lab/test_nova_lab.py::test_1",
        "tests/store/test_c.py::test_1",
        "tests/web/test_b.py::test_1",
        "tests/cli/test_a.py::test_1",
        "tests/cli/test_d.py::test_1",
    ]


def test_one_slow_test_hands_out_its_whole_unit_early_in_its_order() -> None:
    """A module whose hypothesis test runs for minutes (marked ``slow``) starts before the
    unmarked modules, with its other tests in their order around it."""
    assert _handed_out(
        _Item("tests/executor/test_engine.py::test_1"),
        _Item("tests/executor/test_roll_forward.py::test_1"),
        _Item("tests/executor/test_roll_forward.py::test_property", ("slow",)),
        _Item("tests/executor/test_roll_forward.py::test_2"),
        _Item("tests/executor/test_status.py::test_1"),
    ) == [
        "tests/executor/test_roll_forward.py::test_1",
        "tests/executor/test_roll_forward.py::test_property",
        "tests/executor/test_roll_forward.py::test_2",
        "tests/executor/test_engine.py::test_1",
        "tests/executor/test_status.py::test_1",
    ]

