"""How fast the simulator runs: drain every host of a fleet into its neighbour, a few
migrations at a time per source, as an executor would; report events per second (``-s``)."""

from __future__ import annotations

import time
from collections import deque

import pytest

from hvroll.domain import Fleet, PowerState
from hvroll.drivers.base import JobPhase, MigrationOptions
from hvroll.drivers.sim import SimCloud
from hvroll.synthetic.generate import generate


def drain_all(fleet: Fleet, lanes: int) -> tuple[SimCloud, int, float]:
    """Move every running or paused VM to the next host of its cluster, ``lanes`` at a time
    per source; returns the cloud, the number of migrations and the wall time in seconds."""
    cloud = SimCloud(fleet, seed=1)
    queues: dict[str, deque[tuple[str, str]]] = {}
    for hosts in fleet.hosts_by_cluster.values():
        for i, host in enumerate(hosts):
            dest = hosts[(i + 1) % len(hosts)].name
            queues[host.name] = deque((v.name, dest) for v in fleet.vms_by_host[host.name]
                                      if v.power is not PowerState.SHUTOFF)
    options = MigrationOptions(auto_converge=True)
    running: dict[str, str] = {}
    started = 0

    def start(source: str) -> None:
        nonlocal started
        if queues[source]:
            vm, dest = queues[source].popleft()
            started += 1
            cloud.migrate(f"m{started}", vm, dest, options)
            running[f"m{started}"] = source

    begin = time.perf_counter()
    for source in queues:
        for _ in range(lanes):
            start(source)
    while running:
        for job in cloud.wait(3600.0):
            if cloud.job(job).final:
                start(running.pop(job))
    return cloud, started, time.perf_counter() - begin


def _report(name: str, cloud: SimCloud, migrations: int, wall_s: float) -> None:
    print(f"\n{name}: {migrations} migrations in {wall_s:.2f} s wall "
          f"({cloud.clock.now() / 3600:.2f} h virtual), {cloud.events_processed} events, "
          f"{cloud.events_processed / wall_s:,.0f} events/s")


def test_benchmark_small_fleet(small: Fleet) -> None:
    cloud, migrations, wall_s = drain_all(small, lanes=2)
    _report("small", cloud, migrations, wall_s)
    jobs = cloud.jobs()
    assert migrations == len(jobs) == sum(v.power is not PowerState.SHUTOFF for v in small.vms)
    assert all(p.phase is JobPhase.COMPLETED for p in jobs)


@pytest.mark.slow
def test_benchmark_enterprise_fleet() -> None:
    """About 33,000 live migrations over 3,500 hosts in 13 regions, ~7,000 at once."""
    cloud, migrations, wall_s = drain_all(generate("enterprise", 1), lanes=2)
    _report("enterprise", cloud, migrations, wall_s)
    assert migrations > 30_000
    assert all(p.phase is JobPhase.COMPLETED for p in cloud.jobs())
