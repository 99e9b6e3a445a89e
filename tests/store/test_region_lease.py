"""Per-region leases (``hvroll run --region``): one row per region, taken by compare-and-set
and fenced like the campaign's; runners of different regions hold theirs at once, a second
runner of a region is refused, and a runner of the whole campaign and runners of regions
exclude each other — on SQLite and on PostgreSQL (the ``target`` fixture)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from hvroll.store import Store
from hvroll.store.lease import (
    Lease,
    LeaseHeldError,
    LeaseLostError,
    Verdict,
    read_holder,
    region_holders,
)


class Wall:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


MakeLease = Callable[..., Lease]


@pytest.fixture
def lease() -> Iterator[MakeLease]:
    """``lease(target, wall, pid, region=None, alive=True)``: a runner's lease on its own
    store (closed at the end of the test)."""
    stores: list[Store] = []

    def make(db: str, wall: Wall, pid: int, region: str | None = None, *,
             alive: bool = True) -> Lease:
        stores.append(Store(db, create=True))
        return Lease(stores[-1], wall=wall, host="hv-a", pid=pid, alive=lambda _pid: alive,
                     ttl_s=60.0, renew_every_s=10.0, region=region)

    yield make
    for store in stores:
        store.close()


def test_runners_of_different_regions_hold_their_leases_at_once(target: str,
                                                                 lease: MakeLease) -> None:
    wall = Wall()
    east, west = lease(target, wall, 1, "east"), lease(target, wall, 2, "west")
    assert east.acquire().verdict is Verdict.FREE
    assert west.acquire().verdict is Verdict.FREE
    east.store.commit()  # each renews its own row, fenced
    west.store.commit()
    rows = region_holders(east.store.session)
    assert {r: (h.pid, h.fence) for r, h in rows.items()} == {"east": (1, 1), "west": (2, 1)}
    assert read_holder(east.store.session) is None  # the campaign's row is not taken


def test_a_second_runner_of_a_region_is_refused_in_one_line(target: str,
                                                            lease: MakeLease) -> None:
    wall = Wall()
    first, second = lease(target, wall, 1, "east"), lease(target, wall, 2, "east")
    first.acquire()
    wall.now += 5
    with pytest.raises(LeaseHeldError) as refused:
        second.acquire()
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"{target}: the campaign's region east is run by another "
                              f"hvroll run (host hv-a, pid 1) since 1970-01-01 00:16:40 UTC, "
                              f"last heartbeat 5 s ago")
    assert not second.held


def test_an_expired_region_holder_is_taken_over_and_fenced_out(target: str,
                                                               lease: MakeLease) -> None:
    wall = Wall()
    first, second = lease(target, wall, 1, "east"), lease(target, wall, 2, "east")
    first.acquire()
    wall.now += 61
    taken = second.acquire()
    assert taken.verdict is Verdict.EXPIRED
    assert taken.previous is not None and taken.previous.pid == 1
    with pytest.raises(LeaseLostError, match="lost the campaign's region east's lease"):
        first.store.commit()
    second.store.commit()
    assert region_holders(second.store.session)["east"].fence == 2


def test_a_dead_region_holder_on_this_machine_is_taken_over_at_once(
        target: str, lease: MakeLease) -> None:
    wall = Wall()
    lease(target, wall, 1, "east").acquire()
    assert lease(target, wall, 2, "east", alive=False).acquire().verdict is Verdict.DEAD


def test_a_region_runner_is_refused_while_the_whole_campaign_runs(target: str,
                                                                  lease: MakeLease) -> None:
    wall = Wall()
    whole, east = lease(target, wall, 1), lease(target, wall, 2, "east")
    whole.acquire()
    with pytest.raises(LeaseHeldError, match=r"the whole campaign is run by another hvroll run "
                                             r"\(host hv-a, pid 1\)"):
        east.acquire()
    assert not east.held
    assert region_holders(east.store.session)["east"].holder == ""  # given back at once


def test_the_whole_campaign_is_refused_while_a_region_runs(target: str,
                                                           lease: MakeLease) -> None:
    wall = Wall()
    east, whole = lease(target, wall, 1, "east"), lease(target, wall, 2)
    east.acquire()
    with pytest.raises(LeaseHeldError, match=r"region east is run by another hvroll run "
                                             r"\(host hv-a, pid 1\)"):
        whole.acquire()
    assert not whole.held
    east.release()
    assert whole.acquire().verdict is Verdict.FREE  # once the region's runner has ended


def test_a_released_region_lease_is_free_again(target: str, lease: MakeLease) -> None:
    wall = Wall()
    first = lease(target, wall, 1, "east")
    first.acquire()
    first.release()
    assert lease(target, wall, 2, "east").acquire().verdict is Verdict.FREE
