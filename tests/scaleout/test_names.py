"""The supervisor's pure decisions: names, served regions, retry schedule, timeouts."""

from __future__ import annotations

import pytest

from hvroll.errors import InputError
from hvroll.scaleout import names


def test_a_region_is_served_on_its_own_task_queue() -> None:
    assert names.task_queue("eu-west-1") == "hvroll-eu-west-1"


def test_the_workflow_id_names_the_database_and_the_plan_digest() -> None:
    key = names.campaign_key(b"plan")
    assert key == "64879f7d6b96"
    assert names.workflow_id("camp 2026/12", key) == "hvroll-campaign-camp_2026_12-64879f7d6b96"
    assert names.workflow_id("///", key) == "hvroll-campaign-campaign-64879f7d6b96"


@pytest.mark.parametrize(("spec", "expected"), [
    ("all", ["r1", "r2", "r3"]),
    ("r3,r1", ["r1", "r3"]),
    (" r2 , ", ["r2"]),
])
def test_served_regions_keep_the_campaign_order(spec: str, expected: list[str]) -> None:
    assert names.served_regions(spec, ["r1", "r2", "r3"]) == expected


@pytest.mark.parametrize(("spec", "message"), [
    ("", "--regions: no region given (expected R1,R2 or 'all', got '')"),
    ("r1,r9", "--regions: r9 not in the campaign (expected some of: r1, r2, r3, or 'all')"),
])
def test_served_regions_refuse_what_the_campaign_lacks(spec: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        names.served_regions(spec, ["r1", "r2", "r3"])
    assert str(err.value) == message


def test_retries_back_off_to_the_cap_without_limit() -> None:
    schedule = names.RetrySchedule()
    assert schedule.attempts == 0
    assert names.retry_delays_s(schedule, 8) == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


@pytest.mark.parametrize(("timeout_s", "message"), [
    (1.0, "--heartbeat-timeout-s must be at least 2 (got 1)"),
    (90.0, "--heartbeat-timeout-s must not exceed the region lease's TTL, 60 s (got 90)"),
])
def test_heartbeat_timeout_bounds(timeout_s: float, message: str) -> None:
    with pytest.raises(InputError) as err:
        names.check_heartbeat_timeout(timeout_s, 60.0)
    assert str(err.value) == message
    names.check_heartbeat_timeout(30.0, 60.0)
