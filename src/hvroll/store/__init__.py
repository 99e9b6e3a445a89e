"""Durable campaign state (SQLAlchemy; SQLite by default).

:class:`Store` and the row classes are imported on first use, so that importing a light
module of this package (:mod:`hvroll.store.ttl`) does not load SQLAlchemy: the command line
reads the lease's TTL for its help without opening any state.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    """A name of ``__all__``, or a submodule (``hvroll.store.lease`` as when this package
    imported them all)."""
    if name == "Store":
        return import_module("hvroll.store.store").Store
    if name in __all__:
        return getattr(import_module("hvroll.store.models"), name)
    try:
        return import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
