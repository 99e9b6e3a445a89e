"""Pure decisions of the Temporal supervisor: names, the regions a worker serves, the
activity's timeouts and retry schedule. No Temporal import here: plain data, exact tests.

Worked example: a campaign stored in ``postgresql://db/camp_2026`` whose plan digests to
``3f2a…`` is workflow ``hvroll-campaign-camp_2026-3f2a9c1e07b4``; its region ``eu-west-1`` is
driven by one activity on task queue ``hvroll-eu-west-1``. With ``--heartbeat-timeout-s 30`` a
worker that stops heartbeating is given up after 30 s and the activity is scheduled again,
after 1 s, then 2, 4, 8, 16, 30, 30 … s while the region's lease is still held
(:func:`retry_delays_s`), for as long as it takes: attempts are unlimited.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from hvroll.errors import InputError

QUEUE_PREFIX = "hvroll-"
WORKFLOW_QUEUE = "hvroll-campaigns"
"""The task queue of the campaign workflows themselves (every worker serves it)."""
WORKFLOW_NAME = "hvroll-campaign"
ACTIVITY_NAME = "drive_region"
HEARTBEAT_TIMEOUT_S = 30.0
"""Default: a worker silent this long is given up and its region scheduled again."""
RETRY_FIRST_S = 1.0
RETRY_BACKOFF = 2.0
RETRY_MAX_S = 30.0
NON_RETRYABLE = ("InputError", "InventoryError", "SafetyError", "CampaignMismatch")
"""Failures another attempt cannot fix: the campaign fails and says why (exit 1)."""
ALL = "all"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def task_queue(region: str) -> str:
    """The task queue of one region's executor: ``hvroll-REGION``."""
    return f"{QUEUE_PREFIX}{region}"


def campaign_key(plan_blob: bytes) -> str:
    """The campaign's identity: the first 12 hex digits of the SHA-256 of its stored plan."""
    return hashlib.sha256(plan_blob).hexdigest()[:12]


def workflow_id(database: str, key: str) -> str:
    """``hvroll-campaign-DATABASE-KEY``: one workflow per campaign, so starting it twice finds
    the first. ``database`` is the state's database (or file) name, made id-safe."""
    safe = _UNSAFE.sub("_", database).strip("_") or "campaign"
    return f"{WORKFLOW_NAME}-{safe}-{key}"


def served_regions(spec: str, known: Sequence[str], *, origin: str = "--regions") -> list[str]:
    """The regions named by ``R1,R2`` or ``all``, in the campaign's order; InputError for an
    empty list or a region the campaign does not have."""
    if spec.strip() == ALL:
        return list(known)
    asked = [r.strip() for r in spec.split(",") if r.strip()]
    if not asked:
        raise InputError(f"{origin}: no region given (expected R1,R2 or 'all', got {spec!r})")
    unknown = [r for r in asked if r not in known]
    if unknown:
        raise InputError(f"{origin}: {', '.join(unknown)} not in the campaign (expected some of: "
                         f"{', '.join(known)}, or 'all')")
    return [r for r in known if r in asked]


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """When Temporal schedules a region's activity again after a failure or a lost worker."""

    first_s: float = RETRY_FIRST_S
    backoff: float = RETRY_BACKOFF
    max_s: float = RETRY_MAX_S
    attempts: int = 0
    """0: unlimited (a campaign is worth waiting for; the operator aborts it)."""


def retry_delays_s(schedule: RetrySchedule, count: int) -> list[float]:
    """The first ``count`` waits between attempts, as Temporal computes them."""
    delays: list[float] = []
    delay = schedule.first_s
    for _ in range(count):
        delays.append(min(delay, schedule.max_s))
        delay *= schedule.backoff
    return delays


def check_heartbeat_timeout(timeout_s: float, lease_ttl_s: float) -> None:
    """The heartbeat timeout must leave a live worker time to heartbeat (≥ 2 s) and should not
    exceed the region lease's TTL: a region given up by Temporal must be takeable soon after."""
    if timeout_s < 2.0:
        raise InputError(f"--heartbeat-timeout-s must be at least 2 (got {timeout_s:g})")
    if timeout_s > lease_ttl_s:
        raise InputError(f"--heartbeat-timeout-s must not exceed the region lease's TTL, "
                         f"{lease_ttl_s:g} s (got {timeout_s:g})")
