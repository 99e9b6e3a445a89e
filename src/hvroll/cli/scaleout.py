"""``hvroll worker`` and ``hvroll run --engine temporal``: Temporal places, supervises and
restarts one executor per region (docs/scale-out.md)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from hvroll.cli.common import (
    CRASH_HOSTS_HELP,
    console,
    driver_spec,
    err_console,
    finite,
    print_json,
    sim_faults,
)
from hvroll.drivers.settings import SETTINGS, help_text
from hvroll.errors import InputError
from hvroll.store.ttl import TTL_S

ADDRESS_HELP = ("The Temporal frontend, HOST:PORT (e.g. 127.0.0.1:7233 for 'temporal server "
                "start-dev'; env HVROLL_TEMPORAL_ADDRESS).")
NAMESPACE_HELP = ("The Temporal namespace. Workers serve queues hvroll-REGION in it: run one "
                  "campaign per namespace.")
ENGINE_PANEL = "Scale-out (--engine temporal; docs/scale-out.md)"
CAMPAIGN_WAIT_POLL_S = 2.0


def _address(value: str | None) -> str:
    if not value or ":" not in value or not value.rsplit(":", 1)[1].isdigit():
        raise InputError(f"--temporal-address: expected HOST:PORT (got {value!r})")
    return value


def _setting(name: str) -> Any:
    return typer.Option(None, SETTINGS[name].flag, help=help_text(name), show_default=False,
                        rich_help_panel="Driver settings (or HVROLL_* environment variables)")


def worker(
    temporal_address: str = typer.Option(..., "--temporal-address", help=ADDRESS_HELP,
                                         envvar="HVROLL_TEMPORAL_ADDRESS", show_default=False),
    state: str = typer.Option(..., "--state", "-s",
                              help="The campaign's database, postgresql://HOST/DB (every worker "
                                   "and 'hvroll run' use the same). A SQLite path works for "
                                   "workers on one machine.", show_default=False),
    regions: str = typer.Option("all", "--regions", "-r",
                                help="The regions whose task queues (hvroll-REGION) this worker "
                                     "serves: R1,R2 or all. Run it near them (their hosts' or "
                                     "Nova's API)."),
    namespace: str = typer.Option("default", "--namespace", help=NAMESPACE_HELP),
    driver: str = typer.Option("sim", "--driver", "-d",
                               help="sim, libvirt or nova: the driver the campaign was started "
                                    "with (checked)."),
    cloud: str | None = typer.Option(None, "--cloud", "-c",
                                     help="nova driver: the cloud's name in clouds.yaml "
                                          "(default: OS_CLOUD)."),
    seed: int = typer.Option(1, "--seed", help="Simulator seed: the same on every worker (a "
                             "region's simulation depends only on it, not on the worker)."),
    journal_dir: Path | None = typer.Option(
        None, "--journal-dir",
        help="Where the driver's crash journals live, one per region "
             "(DATABASE.DRIVER.REGION.jsonl): a directory every worker that may take a region "
             "over sees (the simulator's journal is its cloud). [default: the working "
             "directory]"),
    known_issues: bool = typer.Option(True, "--known-issues/--no-known-issues",
                                      help="Simulator: reproduce the known issues a migration "
                                           "ignores (as 'hvroll run')."),
    fail_migrations: float = typer.Option(0.0, "--fail-migrations", min=0.0, max=1.0,
                                          callback=finite,
                                          help="Simulator: share of migration jobs that fail."),
    fail_reinstalls: float = typer.Option(0.0, "--fail-reinstalls", min=0.0, max=1.0,
                                          callback=finite,
                                          help="Simulator: share of reinstalls that fail."),
    crash_hosts: float = typer.Option(0.0, "--crash-hosts", min=0.0, max=3600.0,
                                      callback=finite, metavar="RATE",
                                      help=f"{CRASH_HOSTS_HELP} The same on every worker."),
    poll_s: float | None = typer.Option(None, "--poll-s", min=0.05, max=3600.0, callback=finite,
                                        help="Seconds between two decisions of an executor "
                                             "(default: 5 for sim, in virtual time; 1 for "
                                             "libvirt; 2 for nova)."),
    lease_ttl_s: float = typer.Option(TTL_S, "--lease-ttl-s", min=20.0, max=3600.0,
                                      callback=finite,
                                      help="Seconds a region's lease lasts without renewal "
                                           "(renewed every 10 s): a worker on another machine "
                                           "takes a region over this long after its last "
                                           "holder stopped (a dead holder on the same machine "
                                           "at once). Keep it near the heartbeat timeout."),
    identity: str | None = typer.Option(None, "--identity",
                                        help="This worker's name in Temporal and 'hvroll status' "
                                             "[default: PID@HOST]."),
    reinstall_cmd: str | None = _setting("reinstall_cmd"),
    reinstall_timeout_s: float | None = _setting("reinstall_timeout_s"),
    reinstall_retries: int | None = _setting("reinstall_retries"),
    migration_bandwidth_mib_s: float | None = _setting("migration_bandwidth_mib_s"),
    shared_paths: str | None = _setting("shared_paths"),
    libvirt_poll_s: float | None = _setting("libvirt_poll_s"),
) -> None:
    """Serve some regions of a campaign for Temporal: run each region's executor when the
    campaign's workflow asks, heartbeating every turn.

    Start one or more on each machine near the regions, before or after 'hvroll run PLAN
    --state URL --engine temporal'. When a worker dies (or loses the database or Temporal),
    Temporal gives its regions to another worker of the same queues after the heartbeat
    timeout; that worker takes the region's lease over and reconciles before anything new.
    Runs until SIGTERM or Ctrl-C (its running regions are then handed over the same way).
    """
    import asyncio

    from hvroll.drivers.settings import load as load_settings
    from hvroll.scaleout import names
    from hvroll.scaleout.runner import StoreRunner
    from hvroll.scaleout.worker import identity as default_identity
    from hvroll.scaleout.worker import serve

    address = _address(temporal_address)
    settings = load_settings({
        "reinstall_cmd": reinstall_cmd, "reinstall_timeout_s": reinstall_timeout_s,
        "reinstall_retries": reinstall_retries,
        "migration_bandwidth_mib_s": migration_bandwidth_mib_s, "shared_paths": shared_paths,
        "libvirt_poll_s": libvirt_poll_s})
    store = _campaign_store(state)
    try:
        camp = store.require_campaign()
        if camp.driver != driver:
            raise InputError(f"{state}: the campaign runs with driver {camp.driver!r} (expected "
                             f"--driver {camp.driver})")
        served = names.served_regions(regions, store.regions())
    finally:
        store.close()
    spec = driver_spec(driver, seed=seed, settings=settings, cloud=cloud, poll_s=poll_s,
                       faults=sim_faults(known_issues=known_issues, crash_hosts=crash_hosts,
                                         fail_migrations=fail_migrations,
                                         fail_reinstalls=fail_reinstalls))
    runner = StoreRunner(state, spec, lease_ttl_s=lease_ttl_s, journal_dir=journal_dir)
    who = identity or default_identity()

    async def go() -> None:
        client = await _aconnect(address, namespace)
        err_console.print(f"worker {who}: serving "
                          f"{', '.join(names.task_queue(r) for r in served)} on {address} "
                          f"(namespace {namespace})", markup=False, highlight=False)
        await serve(client, served, runner, worker=who, say=_say)

    asyncio.run(go())
    err_console.print(f"worker {who}: stopped", markup=False, highlight=False)


def _say(line: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    err_console.print(f"{stamp} {line}", markup=False, highlight=False, soft_wrap=True)


def _campaign_store(state: str) -> Any:
    """The store, once it holds a campaign (a worker started first waits for it: a missing
    SQLite file or an empty database, as ``hvroll run`` finds them before it writes)."""
    from hvroll.store import Store

    said = False
    while True:
        if not _not_yet(state):
            store = Store(state, readonly=True)
            if store.campaign() is not None:
                return store
            store.close()
        if not said:
            err_console.print(f"waiting for a campaign in {state} ('hvroll run PLAN --state "
                              f"{state} --engine temporal' creates it)", markup=False,
                              highlight=False)
            said = True
        time.sleep(CAMPAIGN_WAIT_POLL_S)


def _not_yet(state: str) -> bool:
    """Nothing written yet: no SQLite file, or a database without tables."""
    from sqlalchemy import inspect

    from hvroll.store.read import database_url, url_engine

    if "://" not in state:
        return not Path(state).exists() or Path(state).stat().st_size == 0
    engine = url_engine(database_url(state))
    try:
        return not inspect(engine).get_table_names()
    finally:
        engine.dispose()


def check_options(address: str | None, heartbeat_timeout_s: float) -> None:
    """``hvroll run --engine temporal``'s own options, checked before anything is written."""
    from hvroll.scaleout import names

    _address(address)
    names.check_heartbeat_timeout(heartbeat_timeout_s, TTL_S)


def start_campaign(store: Any, state: str, *, address: str | None, namespace: str,
                   heartbeat_timeout_s: float, wait: bool, as_json: bool
                   ) -> dict[str, Any] | None:
    """``hvroll run --engine temporal`` once the campaign is in the store: start (or find) its
    workflow and say so; with ``wait``, follow it to the end and return the campaign's
    summary, each region's outcome under ``temporal.regions``."""
    import asyncio

    from hvroll.scaleout import client as tclient
    from hvroll.scaleout import names
    from hvroll.scaleout.campaign import database_name
    from hvroll.scaleout.workflow import CampaignTask

    target = _address(address)
    names.check_heartbeat_timeout(heartbeat_timeout_s, TTL_S)
    regions = store.regions()
    task = CampaignTask(key=names.campaign_key(store.packed("plan")), database=database_name(state),
                        regions=regions, heartbeat_timeout_s=heartbeat_timeout_s)
    store.close()

    async def go() -> tuple[Any, dict[str, Any] | None]:
        client = await _aconnect(target, namespace)
        started = await tclient.start(client, task)
        if not wait:
            return started, None
        return started, await tclient.wait(client, started.workflow_id)

    started, outcomes = asyncio.run(go())
    what = "started" if started.new else f"found ({started.status})"
    info: dict[str, Any] = {"engine": "temporal", "address": target, "namespace": namespace,
                            "workflow_id": started.workflow_id, "run_id": started.run_id,
                            "new": started.new, "status": started.status,
                            "task_queues": [names.task_queue(r) for r in regions]}
    if outcomes is None:
        if as_json:
            print_json(info)
        else:
            err_console.print(
                f"workflow {started.workflow_id} {what} on {target}: one executor per region "
                f"on task queues {', '.join(info['task_queues'])}; workers: 'hvroll worker "
                f"--temporal-address {target} --state {state} --regions all'; follow: "
                f"'hvroll status --state {state} --temporal-address {target}'",
                markup=False, highlight=False)
        return None
    from hvroll.executor.status import status as campaign_status
    from hvroll.store import Store

    reader = Store(state, readonly=True)
    try:
        summary = campaign_status(reader)
    finally:
        reader.close()
    rows = [{"region": r, "state": o.state, "worker": o.worker, "attempt": o.attempt,
             **({"error": o.detail["error"]} if "error" in o.detail else {})}
            for r, o in outcomes.items()]
    summary["temporal"] = {**info, "regions": rows}
    if not as_json:
        err_console.print(f"workflow {started.workflow_id} {what}, followed to its end",
                          markup=False, highlight=False)
    return summary


def regions_ok(summary: dict[str, Any]) -> bool:
    """Every region's part ended well (completed or aborted by the operator)."""
    return all(r["state"] in ("completed", "aborted") for r in summary["temporal"]["regions"])


async def _aconnect(address: str, namespace: str) -> Any:
    from hvroll.scaleout.client import TemporalError
    from hvroll.scaleout.worker import connect

    try:
        return await connect(address, namespace)
    except RuntimeError as exc:
        raise TemporalError(f"temporal: cannot reach {address} (namespace {namespace}): "
                            f"{exc}") from exc


def placements(state: str, address: str, namespace: str) -> list[dict[str, Any]]:
    """Temporal's view of which worker drives which region of the campaign in ``state``."""
    import asyncio

    from hvroll.scaleout import client as tclient
    from hvroll.scaleout import names
    from hvroll.scaleout.campaign import campaign_key, database_name

    key = campaign_key(state)
    if not key:
        return []
    wid = names.workflow_id(database_name(state), key)

    async def go() -> list[tclient.RegionPlacement]:
        client = await _aconnect(_address(address), namespace)
        return await tclient.placements(client, wid)

    return [{"region": p.region, "temporal": p.state, "worker": p.worker, "attempt": p.attempt,
             "heartbeat_age_s": p.heartbeat_age_s, "last_failure": p.last_failure}
            for p in asyncio.run(go())]


def print_regions(rows: list[dict[str, Any]]) -> None:
    """Each region's outcome, after ``hvroll run --engine temporal --wait``."""
    table = Table("region", "state", "worker", "attempt", title="regions (Temporal)",
                  title_justify="left", box=None)
    for row in rows:
        table.add_row(row["region"], row.get("state", row.get("temporal", "")),
                      row["worker"] or "-", str(row["attempt"]))
    console.print(table)


def print_placements(rows: list[dict[str, Any]]) -> None:
    """``hvroll status --temporal-address``: a line per region."""
    table = Table("region", "temporal", "worker", "attempt", "last heartbeat", "last failure",
                  title="regions (Temporal)", title_justify="left", box=None)
    for row in rows:
        age = row["heartbeat_age_s"]
        table.add_row(row["region"], row["temporal"], row["worker"] or "-", str(row["attempt"]),
                      "-" if age is None else f"{age:.0f} s ago", row["last_failure"] or "")
    console.print(table, markup=False, highlight=False)
