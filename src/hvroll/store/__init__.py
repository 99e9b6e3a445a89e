"""Durable campaign state (SQLAlchemy; SQLite by default).

:class:`Store` and the row classes are imported on first use, so that importing a light
module of this package (:mod:`hvroll.store.ttl`) does not load SQLAlchemy: the command line
reads the lease's TTL for its help without opening any state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hvroll.lazy import exports

if TYPE_CHECKING:
    from hvroll.store.models import (
        Attempt,
        AttemptRow,
        CampaignRow,
        ControlRow,
        EventRow,
        MigrationRecord,
        MigrationRow,
        RegionRunRow,
        StepRecord,
        StepRow,
    )
    from hvroll.store.store import Store

__all__ = [
           "Attempt",
           "AttemptRow",
           "CampaignRow",
           "ControlRow",
           "EventRow",
           "MigrationRecord",
           "MigrationRow",
           "RegionRunRow",
           "StepRecord",
           "StepRow",
           "Store",
]


__getattr__ = exports(__name__, {name: ("hvroll.store.store" if name == "Store" else
                                        "hvroll.store.models", name) for name in __all__},
                      globals())
