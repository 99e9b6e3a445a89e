"""Starting, finding and following a campaign's workflow (``hvroll run --engine temporal``),
and Temporal's view of which worker drives which region (``hvroll status --temporal-address``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from hvroll.errors import HvrollError
from hvroll.scaleout import names
from hvroll.scaleout.workflow import CampaignTask, CampaignWorkflow, RegionOutcome


class TemporalError(HvrollError):
    """The Temporal server cannot be reached or refused a request; retrying may help."""

    retryable = True


@dataclass(frozen=True, slots=True)
class Started:
    """The campaign's workflow: ``new`` is False when it was already running (or had
    completed) and was found instead."""

    workflow_id: str
    run_id: str
    new: bool
    status: str


async def start(client: Client, task: CampaignTask) -> Started:
    """Start the campaign's workflow, or find the one already running (or completed) under
    its id: starting twice never runs a campaign twice."""
    wid = names.workflow_id(task.database, task.key)
    try:
        found = await _describe(client, wid)
        if found is not None and found.status in (WorkflowExecutionStatus.RUNNING,
                                                  WorkflowExecutionStatus.COMPLETED):
            return Started(wid, found.run_id, False, _status(found.status))
        try:
            handle = await client.start_workflow(
                CampaignWorkflow.run, task, id=wid, task_queue=names.WORKFLOW_QUEUE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY)
        except WorkflowAlreadyStartedError:  # it completed in between: found, not rerun
            handle = client.get_workflow_handle(wid)
        desc = await handle.describe()
    except RPCError as exc:
        raise TemporalError(f"temporal: cannot start workflow {wid}: {exc.message}") from exc
    return Started(wid, desc.run_id, found is None or found.run_id != desc.run_id,
                   _status(desc.status))


async def _describe(client: Client, wid: str) -> WorkflowExecutionDescription | None:
    try:
        return await client.get_workflow_handle(wid).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


def _status(status: WorkflowExecutionStatus | None) -> str:
    return status.name.lower() if status is not None else "unknown"


async def wait(client: Client, wid: str) -> dict[str, RegionOutcome]:
    """Follow the workflow to its end; each region's outcome."""
    handle: WorkflowHandle[CampaignWorkflow, dict[str, RegionOutcome]] = \
        client.get_workflow_handle_for(CampaignWorkflow.run, wid)
    try:
        return await handle.result()
    except WorkflowFailureError as exc:
        raise TemporalError(f"temporal: workflow {wid} failed: {exc.cause}") from exc


@dataclass(frozen=True, slots=True)
class RegionPlacement:
    """Which worker drives a region now, as Temporal sees it."""

    region: str
    state: str
    """``running`` (a worker has it), ``scheduled`` (waiting for a worker), ``done``."""
    worker: str
    attempt: int
    heartbeat_age_s: float | None
    last_failure: str


async def placements(client: Client, wid: str) -> list[RegionPlacement]:
    """Every region's placement: running activities from the workflow's pending activities,
    finished regions from its ``finished`` query."""
    handle: WorkflowHandle[CampaignWorkflow, dict[str, RegionOutcome]] = \
        client.get_workflow_handle_for(CampaignWorkflow.run, wid)
    try:
        desc = await handle.describe()
        done: dict[str, RegionOutcome] = {}
        if desc.status == WorkflowExecutionStatus.RUNNING:
            done = await handle.query(CampaignWorkflow.finished)
        elif desc.status == WorkflowExecutionStatus.COMPLETED:
            done = await handle.result()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return []
        raise TemporalError(f"temporal: cannot describe workflow {wid}: {exc}") from exc
    rows = [RegionPlacement(o.region, "done", o.worker, o.attempt, None, o.state)
            for o in done.values()]
    now = datetime.now().astimezone()
    for pending in desc.raw_description.pending_activities:
        queue_region = pending.activity_id  # the workflow names each activity by its region
        if queue_region in done:
            continue
        beat = pending.last_heartbeat_time
        age = ((now - beat.ToDatetime().astimezone()).total_seconds()
               if beat.seconds else None)
        running = pending.state in (PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
                                    PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED)
        failure = pending.last_failure.message if pending.HasField("last_failure") else ""
        rows.append(RegionPlacement(queue_region, "running" if running else "scheduled",
                                    pending.last_worker_identity, pending.attempt,
                                    round(age, 1) if age is not None else None, failure))
    return sorted(rows, key=lambda r: r.region)


