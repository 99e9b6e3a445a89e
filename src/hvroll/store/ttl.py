"""How long a lease lasts and how often it is renewed (:mod:`hvroll.store.lease`).

Apart from the lease itself, so that ``hvroll worker --help`` shows the TTL without loading
SQLAlchemy.
"""

TTL_S = 60.0
"""How long a lease lasts without renewal: a holder on another machine that vanished is taken
over after this long (a holder on this machine whose process is gone, at once)."""
RENEW_EVERY_S = 10.0
"""Renewal period: well inside ``TTL_S``."""
