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


def test_an_accepting_host_names_the_risk_the_vm_already_carries(seed_fleet: Fleet) -> None:
    """legacy-sky would not boot on sky1, where it runs, nor on sky2: sky2 accepts it, and
    the diagnosis says with which risk."""
    data = explain(seed_fleet, "legacy-sky").data(limit=1)
    assert (data["accepted"], data["carried"]) == (["sky2"], {"smap-legacy-guest": {
        "hosts": 1,
        "message": "centos 5.11 does not support SMAP and the CPU it gets at its next boot on "
                   "Skylake/CPv2 exposes smap: it would not boot there (as already on "
                   "Skylake/CPv2, where it is now: a risk the VM carries, the move adds none)",
        "fix": "require_guest_update"}})
    assert [h["carried"] for h in data["hosts"] if h["host"] == "sky2"] == [
        ["smap-legacy-guest"]]
