"""Links are shared: each migration gets an equal share of its source's and destination's."""

from __future__ import annotations

import math

import pytest

from hvroll.drivers.base import MigrationOptions
from hvroll.drivers.sim import SimCloud
from hvroll.drivers.sim.engine import World
from hvroll.drivers.sim.faults import Faults
from hvroll.drivers.sim.model import SWITCHOVER_FIXED_MS, shared_rate_mib_s
from hvroll.drivers.sim.state import LINK_STEPS

from .conftest import LINK, fleet, run_until_final, vm

PLAIN = MigrationOptions()
STOP_S = SWITCHOVER_FIXED_MS / 1000


def test_two_migrations_from_one_source_each_get_half_the_link() -> None:
    cloud = SimCloud(fleet(vm("a"), vm("b")))
    cloud.migrate("ma", "a", "hv1", PLAIN)
    cloud.migrate("mb", "b", "hv2", PLAIN)
    a, b = run_until_final(cloud, "ma", "mb")
    assert a.elapsed_s == b.elapsed_s == pytest.approx(4096 / (LINK / 2) + STOP_S, rel=1e-12)


def test_two_migrations_into_one_destination_each_get_half_its_link() -> None:
    cloud = SimCloud(fleet(vm("a", "hv0"), vm("b", "hv1")))
    cloud.migrate("ma", "a", "hv2", PLAIN)
    cloud.migrate("mb", "b", "hv2", PLAIN)
    a, b = run_until_final(cloud, "ma", "mb")
    assert a.elapsed_s == b.elapsed_s == pytest.approx(4096 / (LINK / 2) + STOP_S, rel=1e-12)


def test_migrations_on_separate_links_do_not_slow_each_other() -> None:
    cloud = SimCloud(fleet(vm("a", "hv0"), vm("b", "hv1")))
    cloud.migrate("ma", "a", "hv2", PLAIN)
    cloud.migrate("mb", "b", "hv3", PLAIN)
    a, b = run_until_final(cloud, "ma", "mb")
    assert a.elapsed_s == b.elapsed_s == pytest.approx(4096 / LINK + STOP_S, rel=1e-12)


def test_a_migration_speeds_up_when_its_neighbour_ends() -> None:
    """``a`` (2 GiB) ends first; ``b`` (4 GiB) then has the whole link for the rest."""
    cloud = SimCloud(fleet(vm("a", ram_mib=2048), vm("b", ram_mib=4096)))
    cloud.migrate("ma", "a", "hv1", PLAIN)
    cloud.migrate("mb", "b", "hv2", PLAIN)
    a, b = run_until_final(cloud, "ma", "mb")
    a_done = 2048 / (LINK / 2) + STOP_S  # a holds its share through its stop-and-copy
    assert a.elapsed_s == pytest.approx(a_done, rel=1e-12)
    b_pass = a_done + (4096 - LINK / 2 * a_done) / LINK
    assert b.elapsed_s == pytest.approx(b_pass + STOP_S, rel=1e-12)


def test_a_new_migration_slows_one_in_flight() -> None:
    cloud = SimCloud(fleet(vm("a"), vm("b")))
    cloud.migrate("ma", "a", "hv1", PLAIN)
    cloud.clock.sleep(1.0)
    cloud.migrate("mb", "b", "hv2", PLAIN)
    (a,) = run_until_final(cloud, "ma")
    assert a.elapsed_s == pytest.approx(1.0 + (4096 - LINK) / (LINK / 2) + STOP_S, rel=1e-12)


@pytest.mark.parametrize(("src", "out", "dst", "inc", "cap", "rate"), [
    (1180.0, 1, 1180.0, 1, None, 1180.0),
    (1180.0, 4, 1180.0, 1, None, 295.0),
    (1180.0, 1, 590.0, 2, None, 295.0),
    (1180.0, 2, 1180.0, 1, 100.0, 100.0),
])
def test_shared_rate(src: float, out: int, dst: float, inc: int, cap: float | None,
                     rate: float) -> None:
    assert shared_rate_mib_s(src, out, dst, inc, cap) == rate


def test_the_rate_in_force_after_every_event_is_the_models_share() -> None:
    """The engine re-shares a changed link's bandwidth inline; after each event, every
    migration's rate in force is exactly what :func:`shared_rate_mib_s` gives for its links."""
    world = World(fleet(vm("a", ram_mib=1024), vm("b", ram_mib=2048, dirty=40.0),
                        vm("c", ram_mib=8192), vm("d", "hv1", ram_mib=16384)), 1, Faults())
    vms = world.vms
    world.start_live("ma", vms["a"], "hv1", PLAIN, None)
    world.start_live("mb", vms["b"], "hv2", MigrationOptions(bandwidth_mib_s=100.0), None)
    world.start_live("mc", vms["c"], "hv3", PLAIN, None)
    world.start_live("md", vms["d"], "hv3", PLAIN, None)
    seen = set()
    while world.active:
        world.advance(math.inf, stop_on_change=True)
        world.changed.clear()
        for job_id in world.active:
            job = world.jobs[job_id]
            seen.add(job.rate_mib_s)
            assert job.rate_mib_s == World.rate_of(job), job_id
    assert seen == {LINK / 3, LINK / 2, 100.0, LINK}  # shares of 3, of 2, a cap, whole


def test_a_migration_holds_both_its_links_exactly_while_in_a_link_step() -> None:
    """What re-sharing relies on: the migrations on a host's outgoing (incoming) link are
    exactly the active ones leaving (entering) it in a link step, so a migration on a link
    counts in it and in its other link (a share never divides by zero)."""
    world = World(fleet(vm("a", ram_mib=1024, local_gib=2), vm("b", ram_mib=2048, dirty=40.0),
                        vm("c", ram_mib=8192), vm("d", "hv1", ram_mib=16384),
                        vm("e", "hv2", ram_mib=2048, local_gib=4, power="shutoff")),
                  1, Faults())
    vms = world.vms
    world.start_live("ma", vms["a"], "hv1", MigrationOptions(block=True), None)
    world.start_live("mb", vms["b"], "hv2", MigrationOptions(bandwidth_mib_s=100.0), None)
    world.start_live("mc", vms["c"], "hv3", PLAIN, None)
    world.start_live("md", vms["d"], "hv3", PLAIN, None)
    world.start_cold("me", vms["e"], "hv0")
    steps = set()
    while world.active:
        for host in world.hosts.values():
            leaving = [j for j in world.active if world.jobs[j].source == host.name
                       and world.jobs[j].step in LINK_STEPS]
            entering = [j for j in world.active if world.jobs[j].dest == host.name
                        and world.jobs[j].step in LINK_STEPS]
            assert list(host.outgoing) == leaving, host.name
            assert list(host.incoming) == entering, host.name
        steps.update(world.jobs[j].step for j in world.active)
        world.advance(math.inf, stop_on_change=True)
        world.changed.clear()
    assert steps == {"disk", "ram", "stop", "copy", "boot"}
    assert all(not h.outgoing and not h.incoming for h in world.hosts.values())
