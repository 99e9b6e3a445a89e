"""The stored inventory is parsed once per process: every store of a campaign (a worker's
region executors each open their own) reads the same frozen model; another campaign's is
parsed on its own; what was read equals what was stored."""

from __future__ import annotations

from campaigns import Campaign, three_regions
from hvroll.domain import Fleet
from hvroll.store import Store


def test_the_stores_of_one_campaign_share_one_parsed_inventory(campaign: Campaign) -> None:
    first, _, _ = campaign(three_regions(), name="a")
    other, _, _ = campaign(three_regions(seed=4), name="b")
    readers = [Store(first.target, readonly=True) for _ in range(3)]
    try:
        fleets = [r.fleet() for r in readers]
        assert all(f is fleets[0] for f in fleets)
        assert isinstance(fleets[0], Fleet)
        assert fleets[0] == first.fleet()  # the one it was created with, read back
        apart = Store(other.target, readonly=True)
        try:
            assert apart.fleet() is not fleets[0]
            assert apart.fleet() == other.fleet()
        finally:
            apart.close()
    finally:
        for reader in readers:
            reader.close()
