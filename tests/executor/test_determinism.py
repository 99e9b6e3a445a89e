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

PINNED = {"events": "cda26fef3ad9a4fd", "transitions": "016416b37e43301d",
          "migrations": "715d19faaf52af97", "host steps": "0afab20b2473692c",
          "attempts": "d05b102c406a0f89"}


def test_small_campaign_writes_the_pinned_rows(campaign: Campaign) -> None:
    store, cloud, _ = campaign(generate("small", 1))
    assert Executor(store, cloud).run().state is CampaignState.COMPLETED
    assert table_digests(store.target) == PINNED
