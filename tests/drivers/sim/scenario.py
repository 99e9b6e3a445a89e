"""A small campaign driven the way an executor would, to compare runs of the simulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from hvroll.domain import Fleet, PowerState
from hvroll.drivers.base import JobPhase, MigrationOptions
from hvroll.drivers.sim import Faults, SimCloud
from hvroll.synthetic.generate import generate

FAULTS = Faults(migration_failure_rate=0.1, reinstall_failure_rate=0.3,
                host_crashes=(("lab01-c02-hv03", 900.0), ("lab01-c01-hv08", 7200.0)))

Trace = tuple[float, tuple[str, ...], tuple[tuple[object, ...], ...]]


def small_fleet() -> Fleet:
    return generate("small", 1)


def one_wait(cloud: SimCloud, timeout_s: float) -> list[str]:
    return cloud.wait(timeout_s)


def campaign(cloud: Callable[[], SimCloud], fleet: Fleet,
             wait: Callable[[SimCloud, float], list[str]] = one_wait) -> Iterator[Trace]:
    """Drain and reinstall ten hosts of the first cluster one by one, escalating migrations
    that do not converge; yield what each ``wait`` returned and the progress of those jobs.

    ``cloud()`` gives the simulated cloud to use now (a test may swap it between two steps);
    ``wait(cloud, timeout_s)`` is how to wait (by default the cloud's ``wait``).
    """
    hosts = [h.name for h in fleet.hosts if h.cluster == fleet.clusters[0].name][:10]
    serial = 0
    for source in hosts:
        up = {h.name for h in cloud().hosts() if h.up}
        others = [h for h in hosts if h != source and h in up]
        pending: dict[str, str] = {}
        here = sorted(v for v, h in cloud().placement().items() if h == source)
        for i, name in enumerate(here):
            serial += 1
            job, dest = f"j{serial}", others[i % len(others)]
            if cloud().inspect_vm(name).power is PowerState.SHUTOFF:
                cloud().cold_migrate(job, name, dest)
            else:
                cloud().migrate(job, name, dest,
                                MigrationOptions(post_copy=True, auto_converge=i % 2 == 0))
            pending[job] = name
        while pending:
            changed = tuple(wait(cloud(), 600.0))
            seen = []
            for job in changed:
                p = cloud().job(job)
                seen.append((p.job, p.phase.value, p.iteration, round(p.processed_mib, 6),
                             p.downtime_ms, p.error))
                if job not in pending:
                    continue
                if p.final:
                    vm = pending.pop(job)
                    if p.phase is not JobPhase.COMPLETED and cloud().placement()[vm] == source:
                        serial += 1
                        retry = f"j{serial}"
                        cloud().cold_migrate(retry, vm, others[serial % len(others)])
                        pending[retry] = vm
                elif p.iteration == 4:
                    cloud().set_max_downtime(job, 1000)
                elif p.iteration == 5 and p.phase is JobPhase.RUNNING:
                    cloud().start_post_copy(job)
            yield cloud().clock.now(), changed, tuple(seen)
        serial += 1
        cloud().reinstall(f"j{serial}", source, "CPv2")
        while not cloud().job(f"j{serial}").final:
            yield cloud().clock.now(), tuple(wait(cloud(), 3600.0)), ()


def end_state(cloud: SimCloud) -> tuple[object, ...]:
    return (cloud.clock.now(), cloud.placement(), cloud.hosts(), cloud.vms(), cloud.jobs())
