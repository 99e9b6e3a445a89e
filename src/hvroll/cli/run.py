"""``hvroll run``, ``status``, ``pause``, ``resume``, ``abort``: drive and steer a campaign."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hvroll.cli import scaleout
from hvroll.cli.common import (
    CRASH_HOSTS_HELP,
    JSON_HELP,
    console,
    driver_spec,
    err_console,
    finite,
    print_json,
    sim_faults,
)
from hvroll.domain.states import TERMINAL_HOST, TERMINAL_MIGRATION, CampaignState, ControlAction
from hvroll.drivers.settings import SETTINGS, help_text
from hvroll.errors import (
    CampaignCreatingError,
    CampaignExistsError,
    InputError,
    InventoryError,
    Problem,
)
from hvroll.telemetry.logs import LogFormat, LogLevel

if TYPE_CHECKING:  # the store, the executor and the drivers are imported where they are used
    from structlog.typing import FilteringBoundLogger

    from hvroll.domain import Fleet
    from hvroll.drivers.base import Driver
    from hvroll.drivers.settings import DriverSettings
    from hvroll.executor.engine import Executor
    from hvroll.planner.model import Plan
    from hvroll.store import Store
    from hvroll.store.lease import Lease


def _setting(name: str) -> Any:
    """The ``hvroll run`` option of a driver setting (its help names unit, default, env)."""
    return typer.Option(None, SETTINGS[name].flag, help=help_text(name), show_default=False,
                        rich_help_panel="Driver settings (or HVROLL_* environment variables)")


STATE_HELP = ("The campaign's state file: a path (SQLite) or a SQLAlchemy URL such as "
              "sqlite:///campaign.db or postgresql://host/db. Created on first run; a file that "
              "is not a hvroll state file is refused untouched.")


class Engine(StrEnum):
    TEMPORAL = "temporal"


MAX_CRASH_RATE_PER_H = 3600.0
"""``--crash-hosts``: at most one crash per host per virtual second."""


def journal_path(state: str, driver: str, journal: Path | None = None,
                 region: str | None = None) -> Path:
    """Where the driver keeps its crash journal (:func:`hvroll.executor.regions.journal_path`)."""
    from hvroll.executor import regions

    return regions.journal_path(state, driver, journal, region)


def make_driver(name: str, store: Store, *, seed: int, faults: dict[str, Any],
                settings: DriverSettings | None = None, cloud: str | None = None,
                journal: Path | None = None, region: str | None = None) -> Driver:
    """The driver named ``name`` for the campaign in ``store``; ``settings`` configure the
    real backends (default: from the environment); its crash journal at ``journal`` (default:
    :func:`journal_path`); ``region``: for that region's executor."""
    from hvroll.executor import regions

    return regions.make_driver(driver_spec(name, seed=seed, faults=faults, settings=settings,
                                           cloud=cloud, journal=journal), store, region)


def run(
    plan_file: Path = typer.Argument(..., metavar="PLAN", help="A plan written by 'hvroll plan'.",
                                     show_default=False),
    state: str = typer.Option(..., "--state", "-s", help=STATE_HELP, show_default=False),
    driver: str = typer.Option("sim", "--driver", "-d",
                               help="sim: the simulated cloud in virtual time; libvirt: the "
                                    "hosts' libvirt URIs from the inventory; nova: an "
                                    "OpenStack cloud through Nova's API (--cloud)."),
    cloud: str | None = typer.Option(None, "--cloud", "-c",
                                     help="nova driver: the cloud's name in clouds.yaml "
                                          "(default: OS_CLOUD; the file by openstacksdk's "
                                          "conventions, e.g. OS_CLIENT_CONFIG_FILE). Its "
                                          "'hvroll_host_facts' key names the host-facts file "
                                          "(docs/nova.md)."),
    inventory: Path | None = typer.Option(None, "--inventory", "-i",
                                          help="The inventory the plan was made from "
                                               "(default: the path the plan records)."),
    region: str | None = typer.Option(None, "--region", "-r", metavar="REGION",
                                      help="Drive only this region's part of the campaign, "
                                           "with the region's own lease: runners of different "
                                           "regions run at once (from any machines sharing a "
                                           "PostgreSQL --state), a second runner of the same "
                                           "region is refused. pause, resume and abort apply "
                                           "to every region. The simulator then simulates "
                                           "only the region, with its own journal "
                                           "(STATE.sim.REGION.jsonl). Default: every region, "
                                           "one lease for the campaign."),
    seed: int = typer.Option(1, "--seed", help="Simulator seed (sim driver)."),
    journal: Path | None = typer.Option(None, "--journal",
                                        help="The driver's crash journal, read back when the "
                                             "campaign resumes [default: beside a state file, "
                                             "STATE.DRIVER.jsonl; for a database URL, "
                                             "DATABASE.DRIVER.jsonl in the working directory; "
                                             "with --region, STATE.DRIVER.REGION.jsonl]."),
    fail_migrations: float = typer.Option(0.0, "--fail-migrations", min=0.0, max=1.0,
                                          callback=finite,
                                          help="Simulator: share of migration jobs that fail."),
    fail_reinstalls: float = typer.Option(0.0, "--fail-reinstalls", min=0.0, max=1.0,
                                          callback=finite,
                                          help="Simulator: share of reinstalls that fail."),
    known_issues: bool = typer.Option(True, "--known-issues/--no-known-issues",
                                      help="Simulator: reproduce the known issues a migration "
                                           "ignores, as the compatibility rules describe them "
                                           "(a Windows guest with a balloon live-migrated again "
                                           "without remove_balloon fails at switch-over; local "
                                           "disk without block migration, passed-through "
                                           "device, iso9660 config drive not copied: refused). "
                                           "On by default: a rehearsal fails where the real "
                                           "cloud would."),
    crash_hosts: float = typer.Option(0.0, "--crash-hosts", min=0.0, max=MAX_CRASH_RATE_PER_H,
                                      callback=finite, metavar="RATE",
                                      help=CRASH_HOSTS_HELP),
    poll_s: float | None = typer.Option(None, "--poll-s", min=0.05, max=3600.0,
                                        callback=finite,
                                        help="Seconds between two decisions of the executor "
                                             "(default: 5 for sim, in virtual time; 1 for "
                                             "libvirt)."),
    approve: bool = typer.Option(False, "--approve", help="Give the go for after the canary "
                                 "wave in advance: the campaign does not hold."),
    wait: bool = typer.Option(False, "--wait", help="When the campaign holds or is paused, "
                              "wait for 'hvroll resume' instead of exiting. With --engine "
                              "temporal: follow the workflow until every region ends."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar, and only "
                               "warnings and errors in the log (unless --log-level is given)."),
    log_format: LogFormat = typer.Option(LogFormat.AUTO, "--log-format",
                                         help="How events are logged on standard error: "
                                              "console (one readable line each), json (one "
                                              "object per line), or auto: console on a "
                                              "terminal, json otherwise."),
    log_level: LogLevel | None = typer.Option(None, "--log-level",
                                              help="Lowest level logged: debug adds every poll "
                                                   "of every running migration; info logs each "
                                                   "event and a migration's progress at most "
                                                   "every 30 s of campaign time [default: info; "
                                                   "warning with --quiet]."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    engine: Engine | None = typer.Option(
        None, "--engine", rich_help_panel=scaleout.ENGINE_PANEL,
        help="temporal: do not drive the campaign in this process; start (or find, by the "
             "campaign's id) its Temporal workflow, one executor per region run by 'hvroll "
             "worker' processes, and return (--wait: follow it to the end). Default: this "
             "process drives every region."),
    temporal_address: str | None = typer.Option(
        None, "--temporal-address", envvar="HVROLL_TEMPORAL_ADDRESS",
        rich_help_panel=scaleout.ENGINE_PANEL, help=scaleout.ADDRESS_HELP),
    namespace: str = typer.Option("default", "--namespace", rich_help_panel=scaleout.ENGINE_PANEL,
                                  help=scaleout.NAMESPACE_HELP),
    heartbeat_timeout_s: float = typer.Option(
        30.0, "--heartbeat-timeout-s", min=2.0, max=60.0, callback=finite,
        rich_help_panel=scaleout.ENGINE_PANEL,
        help="Seconds without a heartbeat (one per turn of a region's executor) after which "
             "Temporal gives a region's worker up and schedules the region on another worker "
             "(retries back off 1, 2, 4 … 30 s, without limit). At most the region lease's "
             "TTL (60 s)."),
    reinstall_cmd: str | None = _setting("reinstall_cmd"),
    reinstall_timeout_s: float | None = _setting("reinstall_timeout_s"),
    reinstall_retries: int | None = _setting("reinstall_retries"),
    migration_bandwidth_mib_s: float | None = _setting("migration_bandwidth_mib_s"),
    shared_paths: str | None = _setting("shared_paths"),
    libvirt_poll_s: float | None = _setting("libvirt_poll_s"),
) -> None:
    """Run (or resume) a campaign: drain, reinstall and verify hosts wave by wave.

    Resumable: after a crash or a kill, run the same command again; every unfinished step is
    reconciled with the cloud before anything new happens. Exits when the campaign completes,
    holds after its canary wave, is paused or aborted.

    With --engine temporal the campaign is written to --state (a database every worker
    reaches), its workflow is started on the Temporal server and 'hvroll worker' processes
    drive its regions; the command returns at once, or with --wait when every region ends.

    The real backends (libvirt) are configured by the settings below, each also read from
    its HVROLL_* environment variable (a flag wins); see docs/settings.md.
    """
    from hvroll.drivers.settings import load as load_settings
    from hvroll.executor.regions import check_region
    from hvroll.planner.model import load_plan
    from hvroll.store import Store
    from hvroll.store.lease import Lease
    from hvroll.telemetry.logs import make_logger

    settings = load_settings({
        "reinstall_cmd": reinstall_cmd, "reinstall_timeout_s": reinstall_timeout_s,
        "reinstall_retries": reinstall_retries,
        "migration_bandwidth_mib_s": migration_bandwidth_mib_s, "shared_paths": shared_paths,
        "libvirt_poll_s": libvirt_poll_s})
    if engine is Engine.TEMPORAL:
        scaleout.check_options(temporal_address, heartbeat_timeout_s)  # before any file
    plan = load_plan(plan_file)
    fleet: Fleet | None = None
    if "://" not in state and (not Path(state).exists() or Path(state).stat().st_size == 0):
        fleet = _checked_fleet(plan, plan_file, inventory)  # before the file is created
    if driver == "nova":  # the cloud answers, with credentials and API: before any file
        from hvroll.drivers.nova.cloud import open_cloud
        open_cloud(cloud)
    store = Store(state, create=True)
    log = make_logger(log_format, log_level or (LogLevel.WARNING if quiet else LogLevel.INFO))
    lease: Lease | None = None
    try:
        _check_campaign(store, plan, state, driver)  # bad input: nothing written, not even
        if engine is Engine.TEMPORAL:
            _on_temporal(store, plan, fleet, state, plan_file, driver, inventory, region=region,
                         approve=approve, address=temporal_address, namespace=namespace,
                         heartbeat_timeout_s=heartbeat_timeout_s, wait=wait, as_json=as_json)
            return
        if region is not None:
            if store.campaign() is None:
                fleet = fleet or _checked_fleet(plan, plan_file, inventory)
                known = [r.name for r in fleet.regions]
                if region not in known:
                    raise InputError(f"{state}: unknown region {region!r} (expected one of: "
                                     f"{', '.join(known)})")
            else:
                check_region(store, region)
        lease = Lease(store, region=region)
        lease.acquire()  # the lease; a second run exits 1 naming the holder
        _open(store, plan, fleet, state, plan_file, driver, inventory)
        summary = _drive(store, lease, log, settings, state, driver, cloud=cloud, seed=seed,
                         journal=journal, region=region,
                         fail_migrations=fail_migrations, fail_reinstalls=fail_reinstalls,
                         known_issues=known_issues, crash_hosts=crash_hosts, poll_s=poll_s,
                         approve=approve, wait=wait,
                         show=not quiet and not as_json)
    finally:
        if lease is not None:
            lease.release()
        store.close()
    if as_json:
        print_json(summary)
    else:
        _print_summary(summary, state)
    if summary["state"] == CampaignState.FAILED.value:
        raise typer.Exit(1)


def _on_temporal(store: Store, plan: Plan, fleet: Fleet | None, state: str, plan_file: Path,
                 driver: str, inventory: Path | None, *, region: str | None, approve: bool,
                 address: str | None, namespace: str, heartbeat_timeout_s: float, wait: bool,
                 as_json: bool) -> None:
    """``--engine temporal``: write the campaign if it is new (under the campaign's lease,
    given back at once: the regions' executors take their own), then start or find its
    workflow, and follow it with ``wait``."""
    from hvroll.store.lease import Lease

    if region is not None:
        raise InputError("--region: --engine temporal runs every region (each worker chooses "
                         "the regions it serves with 'hvroll worker --regions')")
    if store.campaign() is None:
        lease = Lease(store)
        lease.acquire()
        try:
            _open(store, plan, fleet, state, plan_file, driver, inventory)
            if approve:
                store.require_campaign().approved = True
                store.commit()
        finally:
            lease.release()
    followed = scaleout.start_campaign(store, state, address=address, namespace=namespace,
                                       heartbeat_timeout_s=heartbeat_timeout_s, wait=wait,
                                       as_json=as_json)
    if followed is None:
        return
    if as_json:
        print_json(followed)
    else:
        scaleout.print_regions(followed["temporal"]["regions"])
        _print_summary(followed, state)
    if not scaleout.regions_ok(followed):
        raise typer.Exit(1)


def _drive(store: Store, lease: Lease, log: FilteringBoundLogger, settings: DriverSettings,
           state: str, driver: str, *, cloud: str | None, seed: int, journal: Path | None,
           region: str | None,
           fail_migrations: float, fail_reinstalls: float, known_issues: bool,
           crash_hosts: float, poll_s: float | None, approve: bool, wait: bool,
           show: bool) -> dict[str, Any]:
    from hvroll.executor.regions import POLL_S
    from hvroll.executor.status import region_status
    from hvroll.executor.status import status as campaign_status

    faults = sim_faults(known_issues=known_issues, crash_hosts=crash_hosts,
                        fail_migrations=fail_migrations, fail_reinstalls=fail_reinstalls)
    with make_driver(driver, store, seed=seed, faults=faults, settings=settings,
                     cloud=cloud, journal=journal, region=region) as cloud_driver:
        if approve:
            store.require_campaign().approved = True
            store.commit()
        started = time.perf_counter()
        while True:
            result = _execute(store, cloud_driver, lease, log, show=show, region=region,
                              approve=approve,
                              poll_s=poll_s if poll_s is not None else POLL_S[driver])
            if not wait or result not in (CampaignState.HOLDING, CampaignState.PAUSED):
                break
            err_console.print(f"campaign {result.value}; waiting for 'hvroll resume --state "
                              f"{state}'")
            seen = None if region is None else store.region_run(region).controls_seen
            while not store.pending_controls(seen):
                lease.tick()
                time.sleep(1.0)
    summary = campaign_status(store) if region is None else region_status(store, region)
    summary["wall_s"] = round(time.perf_counter() - started, 2)
    return summary


def _open(store: Store, plan: Plan, fleet: Fleet | None, state: str, plan_file: Path,
          driver: str, inventory: Path | None) -> None:
    from sqlalchemy.exc import IntegrityError

    from hvroll.planner.build import with_profiles

    if store.campaign() is None:
        fleet = fleet or _checked_fleet(plan, plan_file, inventory)
        try:
            store.create_campaign(plan, with_profiles(fleet, plan.targets), driver, 0.0,
                                  plan_file=str(plan_file))
            return
        except (IntegrityError, CampaignExistsError):
            # A runner of another region created it at the same time: it committed between
            # the look above and the insert (IntegrityError) or the look inside create.
            store.session.rollback()
        _check_campaign(store, plan, state, driver)
    else:
        _check_campaign(store, plan, state, driver)


def _check_campaign(store: Store, plan: Plan, state: str, driver: str) -> None:
    """The campaign ``store`` holds (if any) is this plan's, run with this driver, and its
    records read back; InputError otherwise."""
    camp = store.campaign()
    if camp is None:
        return
    if store.plan() != plan:
        raise InputError(f"{state}: holds another plan's campaign (expected the plan it was "
                         f"started with, {camp.plan_file or 'unknown'}, or a new state file)")
    if camp.driver != driver:
        raise InputError(f"{state}: was run with driver {camp.driver!r} (expected --driver "
                         f"{camp.driver})")
    store.fleet()  # a damaged inventory record is refused here, before the lease is written


def _checked_fleet(plan: Plan, plan_file: Path, inventory: Path | None) -> Fleet:
    """The plan's inventory, once the plan is checked against it and itself."""
    from hvroll.inventory import load_fleet
    from hvroll.planner.validate import plan_problems

    source = inventory or (Path(plan.inventory) if plan.inventory else None)
    if source is None:
        raise InputError(f"{plan_file}: the plan names no inventory (expected --inventory "
                         f"FILE)")
    fleet = load_fleet(source)
    problems = plan_problems(plan, fleet)
    if problems:
        raise InventoryError([Problem(str(plan_file), 0, f"{p} (inventory {source})")
                              for p in problems])
    return fleet


def _execute(store: Store, cloud: Driver, lease: Lease, log: FilteringBoundLogger, *,
             show: bool, poll_s: float, region: str | None, approve: bool) -> CampaignState:
    from hvroll.executor import regions

    if not show or not err_console.is_terminal:
        return regions.run_with(store, cloud, lease, region=region, approve=approve,
                                poll_s=poll_s, log=log).state
    total = len(store.migrations(region))
    hosts = len({s.host for s in store.steps(region)})
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console, transient=True) as bar:
        mig_task = bar.add_task("migrations", total=total)
        host_task = bar.add_task("hosts", total=hosts)
        turn = [0]

        def update(ex: Executor) -> None:
            turn[0] += 1
            if turn[0] % 200:
                return
            done = sum(1 for m in ex.migrations if m.state in TERMINAL_MIGRATION)
            upgraded = len({s.host for s in ex.steps if s.state in TERMINAL_HOST})
            bar.update(mig_task, completed=done,
                       description=f"migrations (t={ex.clock.now() / 3600:.1f} h)")
            bar.update(host_task, completed=upgraded)

        return regions.run_with(store, cloud, lease, region=region, approve=approve,
                                poll_s=poll_s, log=log, on_turn=update).state



SHOWN_AT_MOST = 20
"""Skipped hosts and crashed VMs listed by name under the summary (all in --json)."""


def _print_summary(s: dict[str, Any], state: str) -> None:
    table = Table("", "", show_header=False, box=None)
    table.add_row("state", str(s.get("outcome", s["state"])))
    for key in ("vms_total", "vms_migrated", "vms_lost", "vms_crashed", "hosts_upgraded",
                "hosts_failed", "hosts_skipped", "migrations", "migrations_completed",
                "migrations_failed", "invariant_violations", "makespan_s",
                "estimated_makespan_s"):
        table.add_row(key, str(s.get(key, 0)))
    console.print(table)
    for title, rows, name in (("hosts skipped", s.get("skipped_hosts", []), "host"),
                              ("VMs crashed", s.get("crashed_vms", []), "vm")):
        if not rows:
            continue
        listing = Table(name, "reason", title=title, title_justify="left", box=None)
        for row in rows[:SHOWN_AT_MOST]:
            listing.add_row(row[name], row["reason"])
        console.print(listing)
        if len(rows) > SHOWN_AT_MOST:
            console.print(f"… and {len(rows) - SHOWN_AT_MOST} more (--json lists them all)")
    downtime = s.get("downtime_ms") or {}
    if downtime.get("max") is not None:
        console.print("guest downtime (ms): " + ", ".join(
            f"{k} {v:,.1f}" for k, v in downtime.items() if v is not None))
    if s.get("migrations_by_rung"):
        console.print("finished on rung: " + ", ".join(
            f"{k} {v}" for k, v in s["migrations_by_rung"].items()))
    if s.get("waiting_for"):
        console.print(f"waiting for {s['waiting_for'].replace('FILE', str(state))}")


def status(
    state: str = typer.Option(..., "--state", "-s", help=STATE_HELP, show_default=False),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    temporal_address: str | None = typer.Option(
        None, "--temporal-address", rich_help_panel=scaleout.ENGINE_PANEL,
        help="Also ask Temporal which worker drives which region (attempt, last heartbeat, "
             "last failure) of a campaign run with --engine temporal."),
    namespace: str = typer.Option("default", "--namespace", rich_help_panel=scaleout.ENGINE_PANEL,
                                  help=scaleout.NAMESPACE_HELP),
) -> None:
    """Progress and outcome of a campaign: hosts, VMs, migrations, violations, ETA."""
    from hvroll.executor.status import BEING_CREATED, regions_of
    from hvroll.executor.status import status as campaign_status
    from hvroll.store import Store

    store = Store(state, readonly=True)
    try:
        summary = campaign_status(store)
        summary["regions"] = regions_of(store)
    except CampaignCreatingError as exc:  # not an error: the campaign is on its way
        if as_json:
            print_json({"state": BEING_CREATED, "detail": str(exc)})
        else:
            console.print(f"state  {BEING_CREATED}\n{exc}", markup=False, highlight=False)
        return
    finally:
        store.close()
    placed = (scaleout.placements(state, temporal_address, namespace)
              if temporal_address else None)
    if placed is not None:
        summary["temporal"] = placed
    if as_json:
        print_json(summary)
    else:
        _print_summary(summary, state)
        if placed is not None:
            scaleout.print_placements(placed)


def _control(state: str, action: ControlAction) -> None:
    from hvroll.executor.status import campaign_of
    from hvroll.store import Store

    store = Store(state)
    try:
        campaign_of(store)  # being created: exit 1, look again in a moment
        store.request(action)
    finally:
        store.close()
    err_console.print(f"{action} requested; the campaign takes it at its next safe point "
                      f"(never in the middle of a reinstall)")


def pause(state: str = typer.Option(..., "--state", "-s", help=STATE_HELP,
                                     show_default=False)) -> None:
    """Pause a campaign: running migrations and reinstalls finish, nothing new starts."""
    _control(state, ControlAction.PAUSE)


def resume(state: str = typer.Option(..., "--state", "-s", help=STATE_HELP,
                                      show_default=False)) -> None:
    """Resume a paused campaign, or give the go after the canary wave; then 'hvroll run'
    (or the waiting run) goes on."""
    _control(state, ControlAction.RESUME)


def abort(state: str = typer.Option(..., "--state", "-s", help=STATE_HELP,
                                     show_default=False)) -> None:
    """Abort a campaign, for good: running live migrations are cancelled (VMs stay on their
    source), reinstalls in progress finish, nothing new starts. Then no host is left out of
    service: a reinstalled host is verified and enabled; a host taken out and not
    reinstalled gets scheduling enabled again on its old profile (unless the inventory had it
    disabled), its step skipped with why ('hvroll status'). A host that cannot be enabled is
    reported failed."""
    _control(state, ControlAction.ABORT)
