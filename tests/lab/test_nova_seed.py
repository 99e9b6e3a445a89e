"""How the lab waits for servers it boots (by progress, not by a total time) and for its
computes (mapped to their cell at once, not by the scheduler's delayed periodic task)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from hvroll.errors import DriverError
from hvroll.lab.nova.seed import wait_computes, wait_progress


class Clock:
    """A clock that moves only when the wait sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_slow_build_that_keeps_moving_is_waited_for_past_the_stall_time() -> None:
    clock = Clock()
    counts = iter([0, 0, 1, 1, 2, 2, 3])  # one more server every 20 s, stall limit 30 s
    wait_progress("servers ACTIVE", lambda: next(counts), 3, 30.0, poll_s=10.0,
                  clock=clock, sleep=clock.sleep)
    assert clock.now == 60.0


def test_a_build_that_stops_moving_fails_with_how_far_it_got() -> None:
    clock = Clock()
    counts = iter([0, 1, 2, 2, 2, 2, 2])
    with pytest.raises(DriverError) as raised:
        wait_progress("servers ACTIVE on compute3", lambda: next(counts), 5, 30.0, poll_s=10.0,
                      clock=clock, sleep=clock.sleep)
    assert str(raised.value) == ("the Nova lab: servers ACTIVE on compute3: 2 of 5 after 30 s "
                                 "without progress")
    assert clock.now == 60.0  # the count last grew at 20 s; 40 s later is past 30 s


def test_a_failed_reading_does_not_count_as_progress() -> None:
    clock = Clock()
    counts = iter([2, 0, 2, 0, 2])  # 0: a request that failed; 2 again is not new
    with pytest.raises(DriverError, match="2 of 3 after 25 s"):
        wait_progress("servers", lambda: next(counts), 3, 25.0, poll_s=10.0,
                      clock=clock, sleep=clock.sleep)
    assert clock.now == 30.0


class Cloud:
    """Nova as a lab start sees it: compute services report up; a hypervisor is listed
    only once its host is mapped to its cell."""

    def __init__(self, hosts: list[str]) -> None:
        self.hosts, self.mapped, self.calls = hosts, False, list[str]()
        self.compute = self

    def services(self, binary: str) -> list[SimpleNamespace]:
        self.calls.append("services")
        return [SimpleNamespace(host=h, state="up", status="enabled") for h in self.hosts]

    def hypervisors(self) -> list[SimpleNamespace]:
        self.calls.append("hypervisors")
        return [SimpleNamespace(name=h) for h in self.hosts] if self.mapped else []

    def discover(self) -> None:
        self.calls.append("discover")
        self.mapped = True


def test_computes_up_are_mapped_to_their_cell_before_their_hypervisors_are_looked_for() -> None:
    cloud = Cloud(["compute1", "compute2"])
    wait_computes(cloud, ["compute1", "compute2"], 10.0, lambda: None, cloud.discover)
    assert cloud.calls == ["services", "discover", "hypervisors"]
