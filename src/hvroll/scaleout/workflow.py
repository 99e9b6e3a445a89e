"""The campaign workflow: one long activity per region, each on its region's task queue.

The workflow decides nothing about the campaign: it places one executor per region (the
activity ``drive_region``, served by the workers of queue ``hvroll-REGION``), restarts it when
its worker stops heartbeating or it fails retryably, and returns each region's final state.
Every decision stays in the executor the activity runs. Workflow code is replayed by Temporal,
so this module imports nothing but the standard library, Temporal and :mod:`.names`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from hvroll.scaleout import names

ACTIVITY_LIFETIME = timedelta(days=366)
"""A region's part of a campaign may run for weeks: the start-to-close bound is a year."""


@dataclass(frozen=True)
class CampaignTask:
    """What ``hvroll run --engine temporal`` starts."""

    key: str
    """:func:`names.campaign_key` of the stored plan: workers check their store holds it."""
    database: str
    """The state's database name (for messages; workers open their own ``--state``)."""
    regions: list[str]
    heartbeat_timeout_s: float = names.HEARTBEAT_TIMEOUT_S
    retry_first_s: float = names.RETRY_FIRST_S
    retry_max_s: float = names.RETRY_MAX_S


@dataclass(frozen=True)
class RegionTask:
    """One region's activity input."""

    key: str
    region: str
    heartbeat_timeout_s: float


@dataclass(frozen=True)
class RegionOutcome:
    """What a region's activity returns once its part of the campaign is over."""

    region: str
    state: str
    worker: str
    attempt: int
    detail: dict[str, str] = field(default_factory=dict)


def retry_policy(task: CampaignTask) -> RetryPolicy:
    schedule = names.RetrySchedule(first_s=task.retry_first_s, max_s=task.retry_max_s)
    return RetryPolicy(initial_interval=timedelta(seconds=schedule.first_s),
                       backoff_coefficient=schedule.backoff,
                       maximum_interval=timedelta(seconds=schedule.max_s),
                       maximum_attempts=schedule.attempts,
                       non_retryable_error_types=list(names.NON_RETRYABLE))


@workflow.defn(name=names.WORKFLOW_NAME)
class CampaignWorkflow:
    """Runs every region's executor to its end; the result maps region → outcome."""

    def __init__(self) -> None:
        self._done: dict[str, RegionOutcome] = {}

    @workflow.run
    async def run(self, task: CampaignTask) -> dict[str, RegionOutcome]:
        policy = retry_policy(task)

        async def one(region: str) -> None:
            try:
                outcome = await self._drive(task, region, policy)
            except ActivityError as exc:  # a non-retryable failure: the other regions go on
                cause = exc.cause or exc
                outcome = RegionOutcome(region=region, state="failed", worker="", attempt=0,
                                        detail={"error": str(cause)})
            self._done[region] = outcome

        await asyncio.gather(*(one(r) for r in task.regions))
        return {r: self._done[r] for r in task.regions}

    async def _drive(self, task: CampaignTask, region: str,
                     policy: RetryPolicy) -> RegionOutcome:
        outcome: RegionOutcome = await workflow.execute_activity(
            names.ACTIVITY_NAME,
            RegionTask(key=task.key, region=region,
                       heartbeat_timeout_s=task.heartbeat_timeout_s),
            result_type=RegionOutcome,
            activity_id=region,
            task_queue=names.task_queue(region),
            start_to_close_timeout=ACTIVITY_LIFETIME,
            heartbeat_timeout=timedelta(seconds=task.heartbeat_timeout_s),
            retry_policy=policy)
        return outcome

    @workflow.query
    def finished(self) -> dict[str, RegionOutcome]:
        """The regions whose part is over so far."""
        return dict(self._done)
