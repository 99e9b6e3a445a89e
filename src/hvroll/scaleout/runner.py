"""What a worker's activity runs: one region's executor
(:func:`hvroll.executor.regions.run_region`) over the worker's store and driver, to the end of
the region's part.

The executor stops at the canary hold and at a pause; the activity does not end there (the
region is not done), it waits — heartbeating — for the operator's next request (``hvroll
resume`` or ``abort``, read from the store like every control) and runs the executor again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import func, select

from hvroll.domain.states import STOPPED_CAMPAIGN, CampaignState
from hvroll.executor.regions import DriverSpec, journal_path, run_region
from hvroll.scaleout.campaign import campaign_key
from hvroll.store import Store
from hvroll.store.lease import TTL_S
from hvroll.store.models import ControlRow, RegionRunRow

Heartbeat = Callable[[], None]


def new_request(store: Store, region: str) -> bool:
    """Whether the operator asked something (pause, resume, abort) that ``region``'s executor
    has not taken yet."""
    store.session.rollback()  # a fresh snapshot
    newest = store.session.scalar(select(func.max(ControlRow.id))) or 0
    seen = store.session.scalar(select(RegionRunRow.controls_seen)
                                .where(RegionRunRow.region == region)) or 0
    return int(newest) > int(seen)


@dataclass
class StoreRunner:
    """Runs a region of the campaign in ``state`` with ``driver``."""

    state: str
    driver: DriverSpec
    lease_ttl_s: float = TTL_S
    journal_dir: Path | None = None
    """Where the regions' crash journals are (default: the working directory)."""
    wait_poll_s: float = 1.0
    """While the region holds or is paused: seconds between two looks at the controls."""
    sleep: Callable[[float], None] = field(default=time.sleep)

    def key(self) -> str:
        return campaign_key(self.state)

    def __call__(self, region: str, heartbeat: Heartbeat) -> str:
        spec = self.driver
        if self.journal_dir is not None:
            name = journal_path(self.state, spec.name, None, region).name
            spec = replace(spec, journal=self.journal_dir / name)
        while True:
            summary = run_region(self.state, region, spec, heartbeat=heartbeat,
                                 lease_ttl_s=self.lease_ttl_s)
            state = CampaignState(summary["state"])
            if state not in STOPPED_CAMPAIGN:
                return state.value
            self._wait(region, heartbeat)

    def _wait(self, region: str, heartbeat: Heartbeat) -> None:
        store = Store(self.state, readonly=True)
        try:
            while not new_request(store, region):
                heartbeat()
                self.sleep(self.wait_poll_s)
        finally:
            store.close()
