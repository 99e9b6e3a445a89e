"""Virtual time: the simulator's clock and its queue of future events.

The clock only moves when the simulated cloud processes events (``wait``) or when the executor
sleeps; nothing happens between two calls, so a campaign of days runs in seconds.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

JOB_STEP = 0
"""An event that ends the current step of a job (a pass, a disk copy, a reinstall, …)."""
HOST_CRASH = 1
"""An event that takes a host down."""

Event = tuple[float, int, int, str, int]
"""``(time_s, sequence, kind, key, version)``: the sequence number keeps equal times in the order
they were scheduled, so processing never depends on anything but the calls made."""


class SimClock:
    """The :class:`~hvroll.drivers.base.Clock` of a simulated cloud, in virtual seconds.

    ``sleep`` advances virtual time and processes every event due meanwhile, through the cloud
    it belongs to. A clock on its own just moves its time.
    """

    __slots__ = ("_now", "_sleeper")

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = start_s
        self._sleeper: Callable[[float], None] | None = None

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        if self._sleeper is not None:
            self._sleeper(seconds)
        elif seconds > 0:
            self._now += seconds

    def bind(self, sleeper: Callable[[float], None]) -> None:
        """Route ``sleep`` through ``sleeper`` (the cloud, which processes events meanwhile)."""
        self._sleeper = sleeper

    def move_to(self, time_s: float) -> None:
        """Set the time forward to ``time_s`` (never backward)."""
        if time_s > self._now:
            self._now = time_s


class EventQueue:
    """A heap of future events; O(log n) to schedule and to take the next one.

    An event whose ``version`` no longer matches its job's was superseded (the job was
    rescheduled when its bandwidth changed, or ended); the reader skips it.
    """

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[Event] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, time_s: float, kind: int, key: str, version: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (time_s, self._seq, kind, key, version))

    def next_time(self) -> float:
        """When the next event is due; infinity when none is scheduled."""
        return self._heap[0][0] if self._heap else math.inf

    def pop(self) -> Event:
        return heapq.heappop(self._heap)
