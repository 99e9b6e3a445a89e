"""The campaign workflow on a real Temporal dev server: one activity per region on its own
task queue, retried after a retryable failure, a non-retryable one ending only its region, and
a second start finding the first workflow. The region runner here records its calls; the real
executor under the same workers is tested in test_failover.py."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable

import pytest

from hvroll.errors import InputError
from hvroll.scaleout import client as tclient
from hvroll.scaleout import names
from hvroll.scaleout.worker import connect, serve
from hvroll.scaleout.workflow import CampaignTask
from hvroll.store.lease import LeaseHeldError

pytestmark = [pytest.mark.temporal, pytest.mark.slow]


class Recorder:
    """A region runner: fails as told on the first attempts, then completes."""

    def __init__(self, key: str, failures: dict[str, list[Exception]]) -> None:
        self._key = key
        self.failures = failures
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def key(self) -> str:
        return self._key

    def __call__(self, region: str, heartbeat: Callable[[], None]) -> str:
        with self.lock:
            self.calls.append(region)
            pending = self.failures.get(region, [])
            failure = pending.pop(0) if pending else None
        heartbeat()
        if failure is not None:
            raise failure
        return "completed"


async def _campaign(address: str, runner: Recorder, task: CampaignTask
                    ) -> tuple[tclient.Started, tclient.Started, dict[str, object]]:
    client = await connect(address, "default")
    stop = asyncio.Event()
    serving = asyncio.create_task(serve(client, task.regions, runner, worker="w1", stop=stop))
    try:
        first = await tclient.start(client, task)
        second = await tclient.start(client, task)
        result = await asyncio.wait_for(tclient.wait(client, first.workflow_id), 60)
    finally:
        stop.set()
        await serving
    return first, second, dict(result)


def test_each_region_runs_on_its_queue_and_a_retryable_failure_is_retried(temporal) -> None:
    key = uuid.uuid4().hex[:12]
    regions = [f"r{i}-{key}" for i in range(3)]
    runner = Recorder(key, {regions[1]: [LeaseHeldError("held by another worker")]})
    task = CampaignTask(key=key, database="db", regions=regions, heartbeat_timeout_s=5,
                        retry_first_s=0.2, retry_max_s=1)

    first, second, result = asyncio.run(_campaign(temporal.address, runner, task))

    assert first.new and not second.new and second.workflow_id == first.workflow_id
    assert first.workflow_id == names.workflow_id("db", key)
    assert sorted(runner.calls) == sorted([*regions, regions[1]])
    outcomes = {r: (o.state, o.attempt, o.worker) for r, o in result.items()}  # type: ignore[attr-defined]
    assert outcomes == {regions[0]: ("completed", 1, "w1"), regions[1]: ("completed", 2, "w1"),
                        regions[2]: ("completed", 1, "w1")}


def test_a_non_retryable_failure_ends_its_region_only(temporal) -> None:
    key = uuid.uuid4().hex[:12]
    regions = [f"r{i}-{key}" for i in range(2)]
    runner = Recorder(key, {regions[0]: [InputError("plan.json: bad input")]})
    task = CampaignTask(key=key, database="db", regions=regions, heartbeat_timeout_s=5,
                        retry_first_s=0.2, retry_max_s=1)

    _, _, result = asyncio.run(_campaign(temporal.address, runner, task))

    assert runner.calls.count(regions[0]) == 1
    failed = result[regions[0]]
    assert failed.state == "failed"  # type: ignore[attr-defined]
    assert "plan.json: bad input" in failed.detail["error"]  # type: ignore[attr-defined]
    assert result[regions[1]].state == "completed"  # type: ignore[attr-defined]


def test_a_worker_of_another_campaign_refuses_the_region(temporal) -> None:
    key = uuid.uuid4().hex[:12]
    regions = [f"r0-{key}"]
    runner = Recorder("someothercmp", {})
    task = CampaignTask(key=key, database="db", regions=regions, heartbeat_timeout_s=5)

    _, _, result = asyncio.run(_campaign(temporal.address, runner, task))

    assert runner.calls == []
    error = result[regions[0]].detail["error"]  # type: ignore[attr-defined]
    assert "holds campaign someothercmp" in error and key in error


class SlowStart:
    """A region runner whose executor takes ``before_first_s`` before its first turn, and on
    its first attempt stops turning for ``stall_s`` after it."""

    def __init__(self, key: str, before_first_s: float, stall_s: float) -> None:
        self._key = key
        self.before_first_s = before_first_s
        self.stall_s = stall_s
        self.calls: list[str] = []

    def key(self) -> str:
        return self._key

    def __call__(self, region: str, heartbeat: Callable[[], None]) -> str:
        self.calls.append(region)
        first = len(self.calls) == 1
        time.sleep(self.before_first_s)  # opening the store, the inventory, reconciling
        heartbeat()
        if first and self.stall_s:
            time.sleep(self.stall_s)  # an executor that stopped turning
        return "completed"


@pytest.mark.parametrize(("stall_s", "attempt"), [(0.0, 1), (8.0, 2)])
def test_a_slow_start_is_not_given_up_a_stalled_executor_is(temporal, stall_s: float,
                                                            attempt: int) -> None:
    key = uuid.uuid4().hex[:12]
    regions = [f"r0-{key}"]
    runner = SlowStart(key, before_first_s=6.0, stall_s=stall_s)
    task = CampaignTask(key=key, database="db", regions=regions, heartbeat_timeout_s=2,
                        retry_first_s=0.2, retry_max_s=1)

    _, _, result = asyncio.run(_campaign(temporal.address, runner, task))  # type: ignore[arg-type]

    outcome = result[regions[0]]
    assert (outcome.state, outcome.attempt) == ("completed", attempt)  # type: ignore[attr-defined]
    assert len(runner.calls) == attempt


class Turns:
    """A region runner that turns every ~20 ms, each turn's work done in small steps (as an
    executor's commits and side effects are); its first attempt stops turning for
    ``stall_s`` after a few turns, then goes on turning."""

    def __init__(self, key: str, stall_s: float) -> None:
        self._key = key
        self.stall_s = stall_s
        self.calls: list[str] = []
        self.turns: list[int] = []
        """Turns each attempt completed."""
        self.cut: list[int] = []
        """Turns an exception interrupted in the middle of their work."""

    def key(self) -> str:
        return self._key

    def __call__(self, region: str, heartbeat: Callable[[], None]) -> str:
        first = not self.calls
        self.calls.append(region)
        self.turns.append(0)
        for turn in range(600 if first else 3):
            heartbeat()
            try:
                for _ in range(10):
                    time.sleep(0.002)
            except BaseException:
                self.cut.append(turn)
                raise
            self.turns[-1] += 1
            if first and turn == 5:
                time.sleep(self.stall_s)
        return "completed"


def test_a_given_up_attempt_stops_at_a_turn_not_in_the_middle_of_one(temporal) -> None:
    """Temporal gives the first attempt up (no heartbeat for longer than the timeout); the
    worker learns it at the attempt's next heartbeat and the executor stops there, at the
    boundary of a turn, instead of taking CancelledError wherever its thread happens to be."""
    key = uuid.uuid4().hex[:12]
    regions = [f"r0-{key}"]
    runner = Turns(key, stall_s=4.0)
    task = CampaignTask(key=key, database="db", regions=regions, heartbeat_timeout_s=2,
                        retry_first_s=0.2, retry_max_s=1)

    _, _, result = asyncio.run(_campaign(temporal.address, runner, task))  # type: ignore[arg-type]

    outcome = result[regions[0]]
    assert (outcome.state, outcome.attempt) == ("completed", 2)  # type: ignore[attr-defined]
    assert runner.cut == []
    assert 6 <= runner.turns[0] < 600 and runner.turns[1:] == [3]
