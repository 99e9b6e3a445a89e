"""Durable campaign state (SQLAlchemy; SQLite by default)."""

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
