"""The campaign's lease: who may take it (a pure decision, against exact values), one holder at
a time on one state file or database, a dead or expired holder taken over, fencing of a stale
holder — on SQLite and on PostgreSQL (the ``target`` fixture)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from hvroll.store import EventRow, Store
from hvroll.store.lease import (
    Holder,
    Lease,
    LeaseHeldError,
    LeaseLostError,
    Verdict,
    held_message,
    judge,
)

ROW = Holder(holder="abc", fence=3, host="hv-a", pid=4242, since=1000.0, heartbeat=1050.0,
             expires=1110.0)


@pytest.mark.parametrize(("row", "host", "now", "alive", "expected"), [
    (None, "hv-a", 1060.0, False, Verdict.FREE),
    (Holder("", 3, "hv-a", 4242, 1000.0, 1050.0, 0.0), "hv-a", 1060.0, True, Verdict.FREE),
    (ROW, "hv-a", 1060.0, True, Verdict.HELD),
    (ROW, "hv-a", 1060.0, False, Verdict.DEAD),
    (ROW, "hv-b", 1060.0, False, Verdict.HELD),  # another machine: its pids mean nothing here
    (ROW, "hv-b", 1110.0, True, Verdict.EXPIRED),
    (ROW, "hv-a", 1200.0, True, Verdict.EXPIRED),
])
def test_judge(row: Holder | None, host: str, now: float, alive: bool,
               expected: Verdict) -> None:
    assert judge(row, host=host, now=now, alive=alive) is expected


def test_the_refusal_names_the_holder_and_since_when() -> None:
    assert held_message("c.db", ROW, 1062.0) == (
        "c.db: the campaign is run by another hvroll run (host hv-a, pid 4242) since "
        "1970-01-01 00:16:40 UTC, last heartbeat 12 s ago; wait for it to end, or stop it (a "
        "dead holder is taken over at once)")


class Wall:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


MakeLease = Callable[..., Lease]


@pytest.fixture
def lease() -> Iterator[Callable[..., Lease]]:
    """``lease(target, wall, pid, alive=True)``: a runner's lease on its own store (closed at
    the end of the test)."""
    stores: list[Store] = []

    def make(db: str, wall: Wall, pid: int, *, alive: bool = True) -> Lease:
        stores.append(Store(db, create=True))
        return Lease(stores[-1], wall=wall, host="hv-a", pid=pid, alive=lambda _pid: alive,
                     ttl_s=60.0, renew_every_s=10.0)

    yield make
    for store in stores:
        store.close()


def test_a_second_runner_is_refused_while_the_first_lives(target: str, lease: MakeLease) -> None:
    wall = Wall()
    first, second = lease(target, wall, 1), lease(target, wall, 2)
    assert first.acquire().verdict is Verdict.FREE
    wall.now += 30
    with pytest.raises(LeaseHeldError, match=r"\(host hv-a, pid 1\) since 1970-01-01 00:16:40 "
                                             r"UTC, last heartbeat 30 s ago"):
        second.acquire()
    assert not second.held


def test_a_dead_holder_is_taken_over_at_once_and_fenced_out(target: str, lease: MakeLease) -> None:
    wall = Wall()
    first = lease(target, wall, 1)
    first.acquire()
    second = lease(target, wall, 2, alive=False)
    taken = second.acquire()
    assert (taken.verdict, taken.previous is not None and taken.previous.pid) == (Verdict.DEAD, 1)
    # The old holder, had it survived, can no longer write: its commit is refused whole.
    first.store.add(EventRow(t_s=1.0, kind="stale_write"))
    with pytest.raises(LeaseLostError, match=r"lost the campaign's lease \(now held by host "
                                             r"hv-a, pid 2"):
        first.store.commit()
    assert second.store.events("stale_write") == []


def test_an_expired_lease_is_taken_over(target: str, lease: MakeLease) -> None:
    wall = Wall()
    lease(target, wall, 1).acquire()
    wall.now += 60
    taken = lease(target, wall, 2).acquire()
    assert taken.verdict is Verdict.EXPIRED


def test_ticks_renew_the_lease_so_it_does_not_expire(target: str, lease: MakeLease) -> None:
    wall = Wall()
    first = lease(target, wall, 1)
    first.acquire()
    for _ in range(10):  # 100 s, ticking every 10 s
        wall.now += 10
        first.tick()
    with pytest.raises(LeaseHeldError, match="last heartbeat 0 s ago"):
        lease(target, wall, 2).acquire()


def test_a_released_lease_is_free(target: str, lease: MakeLease) -> None:
    wall = Wall()
    first = lease(target, wall, 1)
    first.acquire()
    first.release()
    assert lease(target, wall, 2).acquire().verdict is Verdict.FREE


def test_verify_refuses_when_the_lease_is_not_held(target: str, lease: MakeLease) -> None:
    with pytest.raises(LeaseLostError, match="does not hold the campaign's lease"):
        lease(target, Wall(), 1).verify()
