"""One executor per region: drive one region's part of a campaign, from any process.

Regions never exchange VMs (a VM moves between hosts of its cluster, a cluster is in one
region), so a campaign's host steps and migrations partition by region, and each part can be
driven by its own :class:`~hvroll.executor.engine.Executor` holding the region's own lease
(:mod:`hvroll.store.lease`). This is what ``hvroll run PLAN --state URL --region R`` runs,
and what a supervisor (a Temporal activity) calls::

    from hvroll.executor.regions import DriverSpec, run_region

    summary = run_region("postgresql://db/campaign", "eu-west",
                         DriverSpec("sim", seed=7), heartbeat=activity.heartbeat)
    summary["state"]    # "completed", or "holding" after the canary wave, "paused", …

:func:`run_region` takes the region's lease (a live holder elsewhere: LeaseHeldError, which
a retry may get past once that holder is gone; a holder that stopped renewing is taken over
after the lease's 60 s, a dead one on this machine at once), reconciles every unfinished step
of the region with the driver's live view before doing anything new (a migration still
running is adopted, not started again), then runs the region to its end, to the canary hold
or to a pause, calling ``heartbeat`` every turn of the loop.

The simulator driving a region simulates only that region's part of the fleet
(:meth:`~hvroll.domain.Fleet.region_part`), with its own journal. Its random draws are keyed
by the seed and the names of what they are about (VM, host, job), so a region goes exactly
the same way whether one process drives every region or one process each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine.url import make_url
from structlog.typing import FilteringBoundLogger

from hvroll.domain import Fleet
from hvroll.drivers.base import Driver
from hvroll.drivers.settings import DriverSettings
from hvroll.errors import InputError
from hvroll.executor.engine import Executor, RunResult
from hvroll.planner.model import Plan
from hvroll.store import Store
from hvroll.store.lease import TTL_S, Lease
from hvroll.store.read import database_url

DRIVERS = ("sim", "libvirt", "nova")
POLL_S = {"sim": 5.0, "libvirt": 1.0, "nova": 2.0}
"""Default seconds between two decisions of the executor, by driver (virtual for sim)."""


@dataclass(frozen=True, slots=True)
class DriverSpec:
    """Which driver drives the campaign, and how (what ``hvroll run``'s options say)."""

    name: str = "sim"
    """``sim``, ``libvirt`` or ``nova``."""
    seed: int = 1
    """Simulator: the seed of every random draw."""
    faults: Mapping[str, Any] = field(default_factory=dict)
    """Simulator: keyword arguments of :class:`hvroll.drivers.sim.Faults`."""
    settings: DriverSettings | None = None
    """Real backends: reinstall command, bandwidth… (default: from the environment)."""
    cloud: str | None = None
    """Nova: the cloud's name in clouds.yaml."""
    journal: Path | None = None
    """The driver's crash journal (default: :func:`journal_path`)."""
    libvirt_defaults: Callable[[Fleet], Mapping[str, Any]] | None = None
    """libvirt: keyword arguments of ``LibvirtCloud`` for a fleet (the testbed's hooks)."""
    poll_s: float | None = None
    """Seconds between two decisions of the executor (default: :data:`POLL_S`)."""


def journal_path(state: str, driver: str, journal: Path | None = None,
                 region: str | None = None) -> Path:
    """Where the driver keeps its crash journal: ``journal`` when given; beside a SQLite state
    file (``STATE.DRIVER.jsonl``); for a database server's URL, ``DATABASE.DRIVER.jsonl`` in the
    working directory. A region's executor keeps its own: ``….DRIVER.REGION.jsonl``."""
    if journal is not None:
        return journal
    suffix = f".{driver}.jsonl" if region is None else f".{driver}.{region}.jsonl"
    url = make_url(database_url(state))
    if url.get_backend_name() == "sqlite" and url.database:
        return Path(f"{state if '://' not in state else url.database}{suffix}")
    return Path(f"{Path(url.database or 'campaign').name}{suffix}")


def make_driver(spec: DriverSpec, store: Store, region: str | None = None) -> Driver:
    """The driver ``spec`` names for the campaign in ``store`` (``region``: for that region's
    executor; the simulator then simulates only the region's part of the fleet)."""
    if spec.name not in DRIVERS:
        raise InputError(f"unknown driver {spec.name!r} (expected one of: {', '.join(DRIVERS)})")
    fleet = store.fleet()
    where = journal_path(store.target, spec.name, spec.journal, region)
    if spec.name == "sim":
        from hvroll.drivers.sim import Faults, SimCloud

        part = fleet if region is None else fleet.region_part(region)
        return SimCloud(part, seed=spec.seed, faults=Faults(**spec.faults), journal=where)
    if spec.name == "libvirt":
        from hvroll.drivers.libvirt import cloud_for

        defaults = spec.libvirt_defaults(fleet) if spec.libvirt_defaults is not None else {}
        return cloud_for(fleet, journal=where, settings=spec.settings, defaults=defaults)
    from hvroll.drivers.nova.cloud import nova_cloud

    return nova_cloud(fleet, spec.cloud, journal=where, settings=spec.settings)


def check_region(store: Store, region: str) -> None:
    """InputError (one line, listing the known ones) unless ``region`` is one of the
    campaign's."""
    known = store.regions()
    if region not in known:
        raise InputError(f"{store.target}: unknown region {region!r} (expected one of: "
                         f"{', '.join(known)})")


def _nothing() -> None:
    return None


def run_region(store_url: str, region: str, driver: DriverSpec, *,
               heartbeat: Callable[[], None] = _nothing, plan: Plan | None = None,
               approve: bool = False, log: FilteringBoundLogger | None = None,
               lease_ttl_s: float = TTL_S) -> dict[str, Any]:
    """Drive ``region``'s part of the campaign in ``store_url`` (a path or URL) and return
    its status (:func:`hvroll.executor.status.region_status`: ``state``, hosts, migrations,
    progress, lease holder).

    The campaign must exist (``hvroll run PLAN --state URL`` or
    :meth:`~hvroll.store.Store.create_campaign` writes it); ``plan``, when given, must be
    the one it was created from. Takes the region's lease (LeaseHeldError when another live
    runner holds it, or runs the whole campaign), reconciles the region's unfinished steps,
    then runs until the region ends, holds after its canary steps (``approve``: the go given
    in advance), or is paused; ``heartbeat`` is called at every turn of the loop (and may
    raise to stop the run: the lease is given back, nothing is left half-written). Bad input
    (no campaign, another plan, an unknown region) is an InputError before anything is
    written.
    """
    from hvroll.executor.status import region_status

    store = Store(store_url)
    try:
        store.require_campaign()
        if plan is not None and store.plan() != plan:
            raise InputError(f"{store_url}: holds another plan's campaign (expected the plan "
                             f"it was started with)")
        check_region(store, region)
        lease = Lease(store, region=region, ttl_s=lease_ttl_s)
        lease.acquire()
        try:
            with make_driver(driver, store, region) as cloud:
                result = run_with(store, cloud, lease, region=region, approve=approve,
                                  poll_s=driver.poll_s, name=driver.name, log=log,
                                  on_turn=lambda _: heartbeat())
        finally:
            lease.release()
        summary = region_status(store, region)
        summary["turns"] = result.turns
        return summary
    finally:
        store.close()


def run_with(store: Store, cloud: Driver, lease: Lease, *, region: str | None,
             approve: bool = False, poll_s: float | None = None, name: str = "sim",
             log: FilteringBoundLogger | None = None,
             on_turn: Callable[[Executor], None] | None = None) -> RunResult:
    """One run of the executor over ``store`` with ``cloud``, the lease already held."""
    executor = Executor(store, cloud, lease=lease, region=region, log=log, on_turn=on_turn,
                        poll_s=poll_s if poll_s is not None else POLL_S.get(name, 5.0))
    if approve:
        store.require_campaign().approved = True
        executor.run_row.approved = True
    return executor.run()
