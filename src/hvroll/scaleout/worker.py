"""A worker process: serves the campaign workflow and the task queues of some regions.

``drive_region`` (the activity) runs one region's executor to its end in a thread of the
worker, heartbeating once per turn of the executor. When the worker dies, the heartbeats stop;
after the heartbeat timeout Temporal schedules the activity again, on any worker serving that
region's queue, whose executor takes the region's lease over (at once when the dead holder ran
on the same machine, else once the lease expires) and reconciles every unfinished step with
the cloud before it does anything new.

The activity translates hvroll's errors for Temporal: an error that another attempt cannot
fix (bad input, a safety stop, a worker pointed at another campaign) is non-retryable and ends
the region's part with its message; everything else (the lease still held, the database or a
host unreachable) is retried with backoff, without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.worker import Worker

from hvroll.errors import HvrollError
from hvroll.scaleout import names
from hvroll.scaleout.workflow import CampaignWorkflow, RegionOutcome, RegionTask

Heartbeat = Callable[[], None]


class RegionRunner(Protocol):
    """Runs one region's executor to the end of its part (completed, failed or aborted),
    calling ``heartbeat`` once per turn; returns the region's final state."""

    def key(self) -> str:
        """:func:`names.campaign_key` of the campaign this worker's store holds."""
        ...

    def __call__(self, region: str, heartbeat: Heartbeat) -> str: ...


def beat(details: object) -> None:
    """One heartbeat. The SDK hands a thread's heartbeat to the worker's event loop and waits
    up to 10 s for it to be taken; on a saturated machine (a worker running many regions'
    executors, all wanting the interpreter) the loop may not take it in time, and the SDK
    raises TimeoutError. That heartbeat is dropped, the executor goes on: the next one will
    do, and if none reaches Temporal within the heartbeat timeout, Temporal gives the attempt
    up as it should."""
    with contextlib.suppress(TimeoutError):
        activity.heartbeat(details)


STARTUP_ALLOWANCE_S = 1800.0
"""Before its first turn a region's executor opens the store, reads the inventory (shared by
the worker's regions, parsed once), replays the driver's journal and reconciles every
unfinished step: minutes on a large fleet on a busy machine, with no turn to heartbeat from.
A worker serving many regions starts them all at once; with only turns heartbeating, every
start outlived the heartbeat timeout and Temporal gave the attempts up, again and again
(enterprise, 13 regions on two workers: attempt 15 of every region after 15 minutes, nothing
done). Until the first turn a thread of the activity heartbeats for it, for at most this
long; from the first turn on only turns do, so an executor that stops turning is still given
up after the heartbeat timeout."""


def identity() -> str:
    """How this worker is named in Temporal and in ``hvroll status``: ``PID@HOST``."""
    return f"{os.getpid()}@{socket.gethostname()}"


@dataclass
class RegionActivities:
    """The activity, bound to this worker's store and driver."""

    runner: RegionRunner
    worker: str
    beat_every_s: float = 0.5
    """The executor turns many times a second under the simulator: at most one heartbeat is
    handed to the SDK per this much wall time (Temporal's timeout is tens of seconds)."""
    wall: Callable[[], float] = field(default=time.monotonic)
    say: Callable[[str], None] = field(default=lambda _line: None)
    """Where the worker tells when it starts and ends a region (its standard error)."""
    starting_beat_s: float = 2.0
    startup_allowance_s: float = STARTUP_ALLOWANCE_S
    """Until the executor's first turn, a thread heartbeats every ``starting_beat_s`` (or a
    quarter of the heartbeat timeout if shorter) for at most this long (see
    :data:`STARTUP_ALLOWANCE_S`)."""

    @activity.defn(name=names.ACTIVITY_NAME)
    def drive_region(self, task: RegionTask) -> RegionOutcome:
        info = activity.info()
        beat(0)
        turning = threading.Event()  # set at the first turn (or the end): no more starting beats
        every_s = self.starting_beat_s
        if info.heartbeat_timeout is not None:  # several beats within the timeout
            every_s = min(every_s, max(0.2, info.heartbeat_timeout.total_seconds() / 4))
        beater = threading.Thread(target=contextvars.copy_context().run,
                                  args=(self._beat_while_starting, turning, every_s),
                                  daemon=True, name=f"hvroll-starting-{task.region}")
        beater.start()
        try:
            # Temporal cancels a thread's activity (given up after its heartbeat timeout, or
            # the worker stopping) by raising CancelledError into the thread at whatever
            # bytecode it runs: in the middle of a database statement (whose connection then
            # refused the lease's release, 'another command is already in progress', so the
            # next attempt waited for the lease to expire) or between an intent and its side
            # effect. Shielded, the executor is stopped by its own heartbeat at its next turn:
            # the lease given back, nothing half-done.
            with activity.shield_thread_cancel_exception():
                return self._drive(task, info.attempt, turning)
        finally:
            turning.set()

    def _beat_while_starting(self, turning: threading.Event, every_s: float) -> None:
        deadline = self.wall() + self.startup_allowance_s
        while not turning.wait(every_s) and self.wall() < deadline:
            beat("starting")

    def _drive(self, task: RegionTask, attempt: int, turning: threading.Event
               ) -> RegionOutcome:
        mine = self.runner.key()
        if task.key != mine:
            raise ApplicationError(
                f"region {task.region}: this worker's --state holds campaign {mine}, the "
                f"workflow runs campaign {task.key} (expected workers of one campaign per "
                f"Temporal namespace)", type="CampaignMismatch", non_retryable=True)
        turns = [0]
        last = [self.wall()]

        def heartbeat() -> None:
            turning.set()
            if activity.is_cancelled():
                raise CancelledError(f"region {task.region} attempt {attempt}: cancelled")
            turns[0] += 1
            now = self.wall()
            if now - last[0] >= self.beat_every_s:
                last[0] = now
                beat(turns[0])

        self.say(f"worker {self.worker}: region {task.region} attempt {attempt}: started")
        try:
            state = self.runner(task.region, heartbeat)
        except HvrollError as exc:
            self.say(f"worker {self.worker}: region {task.region} attempt {attempt}: "
                     f"{type(exc).__name__}: {exc}")
            raise ApplicationError(str(exc), type=type(exc).__name__,
                                   non_retryable=not exc.retryable) from exc
        self.say(f"worker {self.worker}: region {task.region} attempt {attempt}: {state}")
        return RegionOutcome(region=task.region, state=state, worker=self.worker,
                             attempt=attempt, detail={"turns": str(turns[0])})


async def connect(address: str, namespace: str) -> Client:
    """A client of the Temporal frontend at ``HOST:PORT``."""
    return await Client.connect(address, namespace=namespace)


async def serve(client: Client, regions: Sequence[str], runner: RegionRunner, *,
                worker: str | None = None, stop: asyncio.Event | None = None,
                say: Callable[[str], None] | None = None) -> None:
    """Serve the workflow queue and ``hvroll-REGION`` for each of ``regions`` until ``stop``
    is set (or SIGTERM/SIGINT): running activities are given up then, and Temporal schedules
    them again on another worker."""
    who = worker or identity()
    acts = RegionActivities(runner, who, say=say or (lambda _line: None))
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(max_workers=max(1, len(regions)),
                            thread_name_prefix="hvroll-region") as pool:
        workers: list[Worker] = [Worker(client, task_queue=names.WORKFLOW_QUEUE,
                                        workflows=[CampaignWorkflow], identity=who)]
        for region in regions:
            workers.append(Worker(
                client, task_queue=names.task_queue(region), activities=[acts.drive_region],
                activity_executor=pool, max_concurrent_activities=1, identity=who,
                graceful_shutdown_timeout=timedelta(seconds=0),
                max_heartbeat_throttle_interval=timedelta(seconds=1),
                default_heartbeat_throttle_interval=timedelta(seconds=1)))
        runs: list[asyncio.Task[Any]] = [asyncio.create_task(w.run()) for w in workers]
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*runs, waiter], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not waiter and task.exception() is not None:
                stop.set()
        await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        for task in runs:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
