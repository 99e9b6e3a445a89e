"""A simulated campaign writes the same rows, byte for byte, before and after any change that
only makes the executor or the store faster: the digests of every table a run writes (events,
transitions, migrations, host steps, attempts) are pinned. A change that means to alter what
a campaign writes (or its plan) updates them and says why in its commit."""

from __future__ import annotations

from campaigns import Campaign
from hvroll.domain.states import CampaignState
from hvroll.executor.engine import Executor
from hvroll.store.read import table_digests
from hvroll.synthetic.generate import generate

PINNED = {"events": "31261f5b4656afd2", "transitions": "8d786dec1574e332",
          "migrations": "d9174f6be491d168", "host steps": "0a274f60ab76fe5d",
          "attempts": "48f682a173247759"}


def test_small_campaign_writes_the_pinned_rows(campaign: Campaign) -> None:
    store, cloud, _ = campaign(generate("small", 1))
    assert Executor(store, cloud).run().state is CampaignState.COMPLETED
    assert table_digests(store.target) == PINNED
