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

PINNED = {"events": "13a8eb4ad0b3194c", "transitions": "ef594aab5784872d",
          "migrations": "98f3f84479f0d6b6", "host steps": "389a76d54ec879aa",
          "attempts": "661a85550dc80c89"}


def test_small_campaign_writes_the_pinned_rows(campaign: Campaign) -> None:
    store, cloud, _ = campaign(generate("small", 1))
    assert Executor(store, cloud).run().state is CampaignState.COMPLETED
    assert table_digests(store.target) == PINNED
