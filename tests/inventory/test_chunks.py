"""An inventory validated a chunk of records at a time gives the same fleet and the same
messages as one validated whole."""

from __future__ import annotations

import pytest

from hvroll.domain import Fleet
from hvroll.errors import InventoryError
from hvroll.inventory import files, parse_fleet


@pytest.fixture(params=[1, 5, 4096])
def chunk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(files, "VALIDATE_CHUNK", request.param)
    return int(request.param)


def test_the_fleet_is_the_same(small: Fleet, small_text: str, chunk: int) -> None:
    assert parse_fleet(small_text, "small.yaml") == small


def test_problems_in_several_chunks_are_all_given_with_their_lines(small: Fleet, small_text: str,
                                                                  chunk: int) -> None:
    lines = small_text.splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith("vms:")) + 1
    for n in (first + 2, first + 11):  # the 3rd and the 12th VM
        lines[n] = lines[n].replace('"ram_mib": ', '"ram_mib": -', 1)
    with pytest.raises(InventoryError) as caught:
        parse_fleet("".join(lines), "small.yaml")
    assert [str(p) for p in caught.value.problems] == [
        f"small.yaml:{first + 3}: vm {small.vms[2].name!r} ram_mib is out of range (expected > "
        f"0, got -{small.vms[2].ram_mib})",
        f"small.yaml:{first + 12}: vm {small.vms[11].name!r} ram_mib is out of range (expected "
        f"> 0, got -{small.vms[11].ram_mib})",
    ]
