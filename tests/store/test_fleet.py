"""The stored inventory and plan are parsed once per process: every store of a campaign (a
worker's region executors each open their own) reads the same frozen models; another
campaign's are parsed on their own; what was read equals what was stored."""

from __future__ import annotations

from sqlalchemy import delete

from campaigns import Campaign, three_regions
from hvroll.domain import Fleet
from hvroll.store import Store
from hvroll.store.models import Meta
from hvroll.store.store import INVENTORY_OUTLINE, PLAN_OUTLINE


def test_the_stores_of_one_campaign_share_one_parsed_inventory(campaign: Campaign) -> None:
    first, _, _ = campaign(three_regions(), name="a")
    other, _, _ = campaign(three_regions(seed=4), name="b")
    readers = [Store(first.target, readonly=True) for _ in range(3)]
    try:
        fleets = [r.fleet() for r in readers]
        assert all(f is fleets[0] for f in fleets)
        assert isinstance(fleets[0], Fleet)
        assert fleets[0] == first.fleet()  # the one it was created with, read back
        plans = [r.plan() for r in readers]
        assert all(p is plans[0] for p in plans)
        assert plans[0] == first.plan()
        apart = Store(other.target, readonly=True)
        try:
            assert apart.fleet() is not fleets[0]
            assert apart.fleet() == other.fleet()
            assert apart.plan() is not plans[0]
            assert apart.plan() == other.plan()
        finally:
            apart.close()
    finally:
        for reader in readers:
            reader.close()


def test_the_outlines_read_back_what_the_models_hold_without_building_them(
        campaign: Campaign) -> None:
    created, _, plan = campaign(three_regions(seed=7), name="outline")
    fleet = created.fleet()
    reader = Store(created.target, readonly=True)
    try:
        inventory = reader.inventory_outline()
        outline = reader.plan_outline()
        assert reader._fleet is None and reader._plan is None  # nothing built to read them
        assert inventory.regions == tuple(r.name for r in fleet.regions)
        assert len(inventory.regions) == 3
        assert inventory.vms == len(fleet.vms)
        assert (outline.strategy, outline.target, outline.skipped, outline.summary) == (
            plan.strategy, plan.target, plan.skipped, plan.summary)
        assert reader.inventory_outline() is inventory  # kept
        parsed = Store(created.target, readonly=True)
        try:
            assert parsed.fleet() == fleet
            assert parsed.inventory_outline() == inventory  # from the parsed model
            assert parsed.plan_outline() == outline
        finally:
            parsed.close()
    finally:
        reader.close()


def test_a_state_file_without_the_written_outlines_has_them_read_in_the_stored_json(
        campaign: Campaign) -> None:
    created, _, plan = campaign(three_regions(seed=8), name="older")
    fleet = created.fleet()
    created.session.execute(delete(Meta).where(Meta.key.in_([INVENTORY_OUTLINE, PLAN_OUTLINE])))
    created.session.commit()
    reader = Store(created.target, readonly=True)
    try:
        assert reader.session.get(Meta, INVENTORY_OUTLINE) is None
        assert reader.session.get(Meta, PLAN_OUTLINE) is None
        outline = reader.inventory_outline()
        assert reader._fleet is None
        assert outline.regions == tuple(r.name for r in fleet.regions)
        assert outline.vms == len(fleet.vms)
        got = reader.plan_outline()
        assert reader._plan is None
        assert (got.strategy, got.target, got.skipped, got.summary) == (
            plan.strategy, plan.target, plan.skipped, plan.summary)
    finally:
        reader.close()
