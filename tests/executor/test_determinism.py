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

PINNED = {"events": "56708789b59a064b", "transitions": "896c911181630a26",
          "migrations": "227937e563ce890b", "host steps": "58be130e4c382d9c",
          "attempts": "8118916206fde790"}


def test_small_campaign_writes_the_pinned_rows(campaign: Campaign) -> None:
    store, cloud, _ = campaign(generate("small", 1))
    assert Executor(store, cloud).run().state is CampaignState.COMPLETED
    assert table_digests(store.target) == PINNED
