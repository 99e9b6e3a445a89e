"""What the supervisor reads of a stored campaign: its identity and its database's name."""

from __future__ import annotations

from hvroll.scaleout import names
from hvroll.store import Store
from hvroll.store.read import database_url


def campaign_key(state: str) -> str:
    """:func:`names.campaign_key` of the campaign stored in ``state`` ("" when none yet)."""
    store = Store(state, readonly=True)
    try:
        camp = store.campaign()
        return names.campaign_key(store.packed("plan")) if camp is not None else ""
    finally:
        store.close()


def database_name(state: str) -> str:
    """The database (or file) name of a state target, for the workflow id."""
    from sqlalchemy.engine.url import make_url

    url = make_url(database_url(state))
    return (url.database or "campaign").rsplit("/", 1)[-1]
