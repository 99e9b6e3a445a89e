"""Openers started at the same moment, each in its own thread (a shared test helper)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from hvroll.errors import InputError


def open_at_once(open_one: Callable[[], None], openers: int = 3) -> list[str]:
    """Run ``open_one`` in ``openers`` threads released together; each one's outcome:
    ``"opened"``, or the :class:`InputError` it raised."""
    start = threading.Barrier(openers)
    outcomes: list[str] = []

    def one() -> None:
        start.wait()
        try:
            open_one()
            outcomes.append("opened")
        except InputError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=one) for _ in range(openers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes
