"""``explain``: the first failing check for each candidate host."""

from __future__ import annotations

import pytest

from hvroll.compat.explain import explain
from hvroll.domain import Fleet, SchedulingState
from hvroll.errors import InputError

from .fleets import CPV2


def test_explain_skylake_guest(seed_fleet: Fleet) -> None:
    result = explain(seed_fleet, "app-sky")
    assert [c.host.name for c in result.accepted] == ["sky2"]
    assert {c.host.name: c.first.code for c in result.candidates if c.first} == {
        "hsw1": "profile-downgrade", "bdw1": "profile-downgrade",
        "hsw2": "cpu", "bdw2": "cpu", "bdw3": "cpu"}
    assert result.by_reason() == {"cpu": 3, "profile-downgrade": 2}


def test_explain_as_if_reinstalled(seed_fleet: Fleet) -> None:
    """With a target every candidate is judged as running it: no downgrade is left."""
    result = explain(seed_fleet, "legacy-bdw", CPV2)
    assert result.by_reason() == {"smap-legacy-guest": 4, "cpu": 2}
    assert result.accepted == []


def test_anti_affinity_and_disabled_hosts(seed_fleet: Fleet) -> None:
    hosts = tuple(h.model_copy(update={"scheduling": SchedulingState.DISABLED})
                  if h.name == "bdw2" else h for h in seed_fleet.hosts)
    fleet = seed_fleet.model_copy(update={"hosts": hosts})
    result = explain(fleet, "web-hsw")
    assert {c.host.name: c.first.code if c.first else None for c in result.candidates} == {
        "hsw2": None, "bdw1": "anti-affinity", "bdw2": "disabled", "bdw3": None,
        "sky1": None, "sky2": None}


def test_explain_data_lists_every_host(seed_fleet: Fleet) -> None:
    data = explain(seed_fleet, "win-migrated").data(limit=1)
    assert (data["candidates"], len(data["hosts"]), data["workarounds"]) == (
        6, 6, ["remove_balloon"])


def test_unknown_vm(seed_fleet: Fleet) -> None:
    with pytest.raises(InputError, match="no VM named 'nope' in the inventory"):
        explain(seed_fleet, "nope")
