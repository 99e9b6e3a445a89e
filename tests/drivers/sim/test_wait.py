"""A poll in one call (``wait_until``): the answer, virtual time and journal of the loop of
waits it replaces (``hvroll.drivers.base.poll``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from hvroll.drivers.base import MigrationOptions, WaitsUntil, implements, poll
from hvroll.drivers.sim import Faults, SimCloud, SimulatedCrash

from .conftest import fleet, vm
from .scenario import FAULTS, Trace, campaign, end_state, small_fleet

Wait = Callable[[SimCloud, float], list[str]]


def _at_once(poll_s: float) -> Wait:
    """Polls of ``poll_s`` asked at once (whatever the scenario's timeout)."""
    def wait(cloud: SimCloud, _: float) -> list[str]:
        return cloud.wait_until(cloud.clock.now() + poll_s)
    return wait


def _loop(poll_s: float) -> Wait:
    """Polls of ``poll_s``, wait by wait."""
    def wait(cloud: SimCloud, _: float) -> list[str]:
        return poll(cloud, cloud.clock.now() + poll_s)
    return wait


def _run(path: Path, wait: Wait, faults: Faults = FAULTS) -> tuple[list[Trace], object, bytes]:
    f = small_fleet()
    cloud = SimCloud(f, seed=4, faults=faults, journal=path)
    trace = list(campaign(lambda: cloud, f, wait))
    end = end_state(cloud)
    cloud.close()
    return trace, end, path.read_bytes()


@pytest.mark.parametrize("poll_s", [5.0, 0.7, 60.0])
def test_a_poll_at_once_is_the_loop_of_waits(tmp_path: Path, poll_s: float) -> None:
    """The same jobs after each poll, the same virtual time, the same world at the end and
    the same journal, byte for byte (so a resume replays the same world), through
    migrations, post-copy switches, failures, host crashes and reinstalls."""
    loop = _run(tmp_path / "loop.jsonl", _loop(poll_s))
    at_once = _run(tmp_path / "once.jsonl", _at_once(poll_s))
    assert len(loop[0]) > 300
    assert at_once == loop


def test_a_change_a_hair_before_the_polls_end_ends_the_poll_there() -> None:
    """A change within POLL_SLACK_S of the poll's end (the clock's sums of seconds landing
    short of it) ends the poll at the change, as the loop does: the next poll counts from
    there, not from the end asked."""
    f = fleet(vm("a"))
    for at_once in (False, True):
        cloud = SimCloud(f)
        cloud.clock.sleep(0.1)
        cloud.cold_migrate("c", "a", "hv2")  # no local disk: it boots at 0.1 + 60.0
        booted = 0.1 + 60.0
        end = math.nextafter(math.nextafter(booted, math.inf), math.inf)
        got = cloud.wait_until(end) if at_once else poll(cloud, end)
        assert (got, cloud.clock.now()) == (["c"], booted)
        assert booted < end


def test_a_poll_with_changes_already_made_returns_them_without_moving_time() -> None:
    """A poll of no time returns what changed since the last (a switch to post-copy) and
    moves nothing."""
    f = fleet(vm("a", dirty=2000.0))
    cloud = SimCloud(f)
    cloud.migrate("m", "a", "hv1", MigrationOptions(post_copy=True))
    assert cloud.wait_until(cloud.clock.now() + 30.0) == ["m"]
    at = cloud.clock.now()
    cloud.start_post_copy("m")
    assert cloud.wait_until(at) == ["m"]
    assert cloud.clock.now() == at


def test_a_crash_inside_a_poll_leaves_the_journal_of_the_waits_before_it(
        tmp_path: Path) -> None:
    """The simulated orchestrator dies in the middle of a poll (seed 4: in its 14th wait):
    the journal holds the same lines as the loop's (every wait that returned before the
    crash), so the resumed world is the same."""
    faults = Faults(migration_failure_rate=0.1, crash_after_events=250)
    f = small_fleet()
    journals, worlds = [], []
    for name, wait in (("loop", _loop(60.0)), ("once", _at_once(60.0))):
        path = tmp_path / f"{name}.jsonl"
        cloud = SimCloud(f, seed=4, faults=faults, journal=path)
        with pytest.raises(SimulatedCrash, match="after 250 events"):
            list(campaign(lambda: cloud, f, wait))  # noqa: B023 (used within the loop)
        journals.append(path.read_bytes())
        resumed = SimCloud(f, seed=4, faults=faults, journal=path)
        worlds.append(end_state(resumed))
        resumed.close()
    assert journals[0] == journals[1]
    assert worlds[0] == worlds[1]


class CountedWaits(SimCloud):
    """A simulated cloud whose ``wait`` is changed (here: counted)."""

    waits = 0

    def wait(self, timeout_s: float) -> list[str]:
        self.waits += 1
        return super().wait(timeout_s)


def test_a_subclass_that_changes_wait_is_polled_through_its_wait() -> None:
    f = fleet(vm("a", dirty=2000.0), vm("b", host="hv1", dirty=10.0))
    plain, counted = SimCloud(f), CountedWaits(f)
    for cloud in (plain, counted):
        cloud.migrate("ma", "a", "hv2", MigrationOptions())
        cloud.migrate("mb", "b", "hv3", MigrationOptions())
    assert counted.wait_until(60.0) == plain.wait_until(60.0) == ["ma", "mb"]
    assert counted.waits > 2
    assert counted.clock.now() == plain.clock.now() == 60.0


def test_the_simulated_cloud_answers_a_poll_at_once() -> None:
    assert implements(SimCloud, WaitsUntil)
