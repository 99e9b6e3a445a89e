"""``hvroll controlplane``: plan (and run) the control plane's own upgrades."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from hvroll.cli.common import JSON_HELP, console, err_console, print_json
from hvroll.cli.outputs import FORCE_HELP, Kind, check_output
from hvroll.errors import InputError

if TYPE_CHECKING:  # the control plane's modules are imported by the commands that use them
    from hvroll.controlplane.catalogue import Catalogue
    from hvroll.controlplane.journal import Journal
    from hvroll.controlplane.path import Path as UpgradePath
    from hvroll.controlplane.path import Role
    from hvroll.controlplane.runbook import Runbook

app = typer.Typer(help="Control-plane upgrades: the OpenStack release path with the host OS "
                       "upgrades it needs (the spiral), and its runbook.",
                  no_args_is_help=True)

CATALOGUE_HELP = ("Release catalogue (YAML) to use instead of the shipped one "
                  "(hvroll/controlplane/data/catalogue.yaml); see docs/controlplane.md.")


def _catalogue(path: Path | None) -> Catalogue:
    from hvroll.controlplane.catalogue import load_catalogue, shipped_catalogue

    return shipped_catalogue() if path is None else load_catalogue(path)


def _pair(catalogue: Catalogue, text: str, option: str) -> tuple[str, str]:
    start, sep, end = text.partition(":")
    if not sep or not start or not end:
        raise InputError(f"{option}: {text!r} is not a change of OS (expected START:END such "
                         f"as ubuntu-14.04:ubuntu-20.04)")
    a, b = catalogue.parse_os(start, option), catalogue.parse_os(end, option)
    if a.family != b.family:
        raise InputError(f"{option}: {text!r} changes the OS family (expected the same family "
                         f"at both ends, got {a.family} and {b.family}; give each group of "
                         f"computes its own --compute-os)")
    return start, end


def _roles(catalogue: Catalogue, controller_os: str | None,
           compute_os: list[str]) -> list[Role]:
    from hvroll.controlplane.path import CONTROLLERS, Role

    roles: list[Role] = []
    if controller_os:
        a, b = _pair(catalogue, controller_os, "--controller-os")
        roles.append(Role(CONTROLLERS, catalogue.parse_os(a), catalogue.parse_os(b)))
    pairs = [_pair(catalogue, text, "--compute-os") for text in compute_os]
    families = Counter(catalogue.parse_os(a).family for a, _ in pairs)
    seen: Counter[str] = Counter()
    for a, b in pairs:
        start, end = catalogue.parse_os(a), catalogue.parse_os(b)
        if len(pairs) == 1:
            name = "computes"
        elif families[start.family] == 1:
            name = f"computes-{start.family}"
        else:
            seen[start.family] += 1
            name = f"computes-{start.family}-{seen[start.family]}"
        roles.append(Role(name, start, end))
    return roles


def _downtime(seconds: float) -> str:
    if seconds <= 0:
        return "none"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@app.command()
def plan(
    source: str = typer.Option(..., "--from", help="Current OpenStack release: a name "
                               "(icehouse … hibiscus) or a series (2023.1 … 2026.2).",
                               show_default=False),
    target: str = typer.Option(..., "--to", help="OpenStack release to reach (name or "
                               "series).", show_default=False),
    controller_os: str | None = typer.Option(
        None, "--controller-os", help="Controllers' OS now and at the end, START:END, e.g. "
        "ubuntu-14.04:ubuntu-20.04 (FAMILY-VERSION; rhel-7.1 matches rhel 7). Omitted: the "
        "controllers' OS is not planned.", show_default=False),
    compute_os: list[str] = typer.Option(
        [], "--compute-os", help="A group of computes' OS now and at the end, START:END, e.g. "
        "rhel-7.1:rhel-8.2; repeat for each group (Ubuntu and RHEL clusters). Compute OS "
        "upgrades are hvroll campaigns.", show_default=False),
    project: list[str] = typer.Option(
        [], "--project", help="Projects deployed, whose rolling-upgrade facts decide rolling "
        "vs cold per hop; repeat [default: every project the catalogue knows].",
        show_default=False),
    cold_downtime_s: float = typer.Option(
        3600.0, "--cold-downtime-s", min=0.0, help="Expected API downtime of a cold hop, "
        "seconds (backup, packages, schema migrations); a planning assumption."),
    catalogue_file: Path | None = typer.Option(None, "--catalogue", help=CATALOGUE_HELP,
                                               show_default=False),
    output: Path | None = typer.Option(None, "--output", "-o", help="Also write the plan "
                                       "(JSON) here: the input of 'hvroll controlplane "
                                       "runbook' and 'hvroll controlplane run'; an "
                                       "existing control-plane plan is replaced only with "
                                       "--force, any other file never.",
                                       show_default=False),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Plan the upgrade path from one OpenStack release to another with the host OS upgrades
    it needs: fewest upgrades first, then least API downtime, preferring long-term OS
    releases. An impossible request is refused (exit 2) naming the missing edge."""
    from hvroll.controlplane.path import Options, plan_document, plan_path

    if output is not None:
        check_output(output, Kind.CONTROLPLANE_PLAN, inputs=[catalogue_file], force=force)
    catalogue = _catalogue(catalogue_file)
    src = catalogue.release(source, "--from")
    dst = catalogue.release(target, "--to")
    roles = _roles(catalogue, controller_os, compute_os)
    options = Options(cold_api_downtime_s=cold_downtime_s,
                      projects=tuple(project) if project else None)
    path = plan_path(catalogue, src, dst, roles, options)
    if output is not None:
        output.write_text(json.dumps(plan_document(path, src, dst), indent=2) + "\n",
                          encoding="utf-8")
    if as_json:
        print_json(path.data())
        return
    _print(path)


def _print(path: UpgradePath) -> None:
    table = Table(title="Upgrade path", title_justify="left")
    for col in ("#", "hop", "kind", "API downtime", "why"):
        table.add_column(col, overflow="fold")
    for n, hop in enumerate(path.hops, 1):
        if hop.kind == "os":
            k = [r.name for r in path.roles].index(hop.role or "")
            what = (f"{hop.role} {hop.source.os[k]} → {hop.target.os[k]} "
                    f"(at {hop.source.release.label})")
            kind = "os (hvroll campaign)" if hop.campaign else "os"
        else:
            what = f"{hop.source.release.label} → {hop.target.release.label}"
            kind = hop.kind if hop.kind != "skip-level" else \
                f"skip-level ({'rolling' if hop.rolling else 'cold'})"
        table.add_row(str(n), escape(what), escape(kind), _downtime(hop.api_downtime_s),
                      escape(hop.reason))
    console.print(table)
    if path.roles:
        spiral = Table(title="Spiral (OS of each role at each OpenStack release reached)",
                       title_justify="left")
        spiral.add_column("OpenStack")
        for role in path.roles:
            spiral.add_column(role.name)
        rows: list[tuple[str, list[str]]] = []
        states = [path.hops[0].source] + [h.target for h in path.hops] if path.hops else []
        for state in states:
            cells = [str(o) for o in state.os]
            if rows and rows[-1][0] == state.release.label:
                rows[-1] = (state.release.label, cells)
            else:
                rows.append((state.release.label, cells))
        for label, cells in rows:
            spiral.add_row(label, *cells)
        console.print(spiral)
    console.print(f"{path.upgrades} upgrades: {path.openstack_upgrades} OpenStack, "
                  f"{path.os_upgrades} OS ({sum(1 for h in path.hops if h.campaign)} hvroll "
                  f"campaigns); expected API downtime {_downtime(path.api_downtime_s)} "
                  f"(cold hop: {_downtime(path.options.cold_api_downtime_s)}, an assumption: "
                  f"--cold-downtime-s)", highlight=False)


def read_plan(file: Path, catalogue: Catalogue) -> UpgradePath:
    from hvroll.controlplane.path import load_plan_document
    from hvroll.inventory.reading import load_json, read_text

    data = load_json(read_text(file, "a plan written by 'hvroll controlplane plan -o'"),
                     str(file))
    return load_plan_document(data, catalogue, str(file))


PLAN_ARG = typer.Argument(..., help="Plan file written by 'hvroll controlplane plan -o'.",
                          show_default=False)
DEPLOYMENT_HELP = ("Deployment file (YAML): projects, and the commands that back up, stop, "
                   "start, upgrade (the hook) and list servers; see docs/controlplane.md.")


@app.command()
def runbook(
    plan_file: Path = PLAN_ARG,
    deployment: Path = typer.Option(..., "--deployment", "-d", help=DEPLOYMENT_HELP,
                                    show_default=False),
    catalogue_file: Path | None = typer.Option(None, "--catalogue", help=CATALOGUE_HELP,
                                               show_default=False),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Print the runbook of every hop: backups, API stop or rolling order, the hook, schema
    and online migrations, upgrade checks, verification gates, the point of no return, and
    the rollback offered before it."""
    from hvroll.controlplane.runbook import build_runbook, load_deployment

    catalogue = _catalogue(catalogue_file)
    book = build_runbook(read_plan(plan_file, catalogue), load_deployment(deployment))
    if as_json:
        print_json(book.data())
        return
    _print_runbook(book)


def _print_runbook(book: Runbook) -> None:
    for hop in book.hops:
        table = Table(title=f"hop {hop.hop}: {hop.title} ({hop.kind})", title_justify="left")
        for col in ("step", "what", "command", "gate"):
            table.add_column(col, overflow="fold")
        for step in (*hop.steps, *hop.rollback):
            table.add_row(escape(step.id), escape(step.title), escape(step.command),
                          "gate" if step.gate else "")
        console.print(table)


STATE_HELP = ("State of the run: a path (SQLite file) or a SQLAlchemy URL such as "
              "sqlite:///upgrade.db or postgresql://USER@HOST:PORT/DB. Created on the first "
              "run, resumed after; the jobs' files go beside a file (STATE.jobs/), or to "
              "DATABASE.jobs/ in the working directory for a database server.")
STATE_OPTION_HELP = ("State of the run, as given to 'hvroll controlplane run --state': a "
                     "path or a SQLAlchemy URL (postgresql://USER@HOST:PORT/DB).")


def jobs_dir(state: str) -> Path:
    """Where a run keeps its jobs' files (output, exit code; ``controlplane/shell.py``):
    beside a SQLite state file (``STATE.jobs``); for a database server's URL,
    ``DATABASE.jobs`` in the working directory (pure).

    >>> jobs_dir("run/upgrade.db"), jobs_dir("postgresql://u@db/upgrade")
    (PosixPath('run/upgrade.db.jobs'), PosixPath('upgrade.jobs'))
    """
    if "://" not in state:
        return Path(f"{state}.jobs")
    from sqlalchemy.engine.url import make_url

    from hvroll.store.read import database_url

    url = make_url(database_url(state))
    if url.get_backend_name() == "sqlite" and url.database:
        return Path(f"{url.database}.jobs")
    return Path(f"{Path(url.database or 'controlplane').name}.jobs")


@app.command("run")
def run_cmd(
    plan_file: Path = PLAN_ARG,
    state: str = typer.Option(..., "--state", help=STATE_HELP, show_default=False),
    deployment: Path | None = typer.Option(None, "--deployment", "-d",
                                           help=DEPLOYMENT_HELP + " Needed to start a run; "
                                           "a resumed run keeps the one it started with.",
                                           show_default=False),
    catalogue_file: Path | None = typer.Option(None, "--catalogue", help=CATALOGUE_HELP,
                                               show_default=False),
    poll_s: float = typer.Option(0.2, "--poll-s", min=0.01,
                                 help="How often a running command is checked, seconds."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Run the plan's runbook, or resume it: each step's intent is committed before its
    command starts, a killed run resumes without repeating a done step, one runner per state
    file. A failed step before a hop's point of no return rolls that hop back."""
    from hvroll.controlplane.journal import Journal
    from hvroll.controlplane.runbook import build_runbook, load_deployment
    from hvroll.controlplane.runner import Runner
    from hvroll.controlplane.shell import ShellExecutor
    from hvroll.domain.states import UpgradeRunState
    from hvroll.inventory.reading import load_json, read_text

    catalogue = _catalogue(catalogue_file)
    path = read_plan(plan_file, catalogue)
    document = load_json(read_text(plan_file, "a control-plane plan"), str(plan_file))
    fresh = "://" not in state and not Path(state).exists()
    if fresh:
        # Everything the operator gave is checked before the state file is created.
        if deployment is None:
            raise InputError(f"{state}: a new run needs --deployment FILE (expected the "
                             f"deployment file the runbook is built from)")
        dep = load_deployment(deployment)
        book = build_runbook(path, dep)
    journal = Journal(state, create=fresh)
    try:
        row = journal.run()
        if row is None:
            if not fresh:
                if deployment is None:
                    raise InputError(f"{state}: a new run needs --deployment FILE (expected "
                                     f"the deployment file the runbook is built from)")
                dep = load_deployment(deployment)
                book = build_runbook(path, dep)
            journal.create(document, book, dep.model_dump(mode="json"), time.time())
        elif json.loads(row.plan).get("path") != document.get("path"):
            raise InputError(f"{state}: holds a run of another plan (expected {plan_file} to "
                             f"be the plan it was started with)")
        workdir = jobs_dir(state)
        quiet = as_json

        def progress(step: str, what: str) -> None:
            if not quiet:
                err_console.print(f"{step}: {what}", markup=False, highlight=False)

        final = Runner(journal, ShellExecutor(workdir), poll_s=poll_s,
                       progress=progress).run()
        summary = status_data(journal)
    finally:
        journal.close()
    if as_json:
        print_json(summary)
    else:
        _print_status(summary)
    if final in (UpgradeRunState.FAILED, UpgradeRunState.ROLLED_BACK, UpgradeRunState.ABORTED):
        raise typer.Exit(1)


def status_data(journal: Journal) -> dict[str, Any]:
    from hvroll.controlplane.runner import hop_timings
    from hvroll.domain.states import UpgradeStepState

    run = journal.require_run()
    rows = journal.steps()
    return {"state": run.state, "failed_hop": run.failed_hop, "error": run.error,
            "steps": {s.value: sum(1 for r in rows if r.state == s.value)
                      for s in UpgradeStepState},
            "hops": hop_timings(rows),
            "step_list": [{"id": r.id, "state": r.state, "runs": r.runs,
                           "exit_code": r.exit_code, "error": r.error,
                           "started_s": r.started_s, "finished_s": r.finished_s}
                          for r in rows],
            "events": [{"t_s": e.t_s, "kind": e.kind, "step": e.step, "message": e.message}
                       for e in journal.events()]}


def _print_status(data: dict[str, Any]) -> None:
    table = Table(title=f"control-plane run: {data['state']}", title_justify="left")
    for col in ("hop", "elapsed", "API downtime", "migrations"):
        table.add_column(col)

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f} s"

    for hop in data["hops"]:
        table.add_row(str(hop["hop"]), fmt(hop["elapsed_s"]), fmt(hop["api_downtime_s"]),
                      fmt(hop["migration_s"]))
    console.print(table)
    counts = ", ".join(f"{n} {k}" for k, n in data["steps"].items() if n)
    console.print(f"steps: {counts}", highlight=False)
    for event in data["events"][-5:]:
        where = f" {event['step']}" if event["step"] else ""
        console.print(f"  {event['kind']}{where}: {event['message']}"[:200], markup=False,
                      highlight=False)
    if data["error"]:
        console.print(f"error: {data['error']}", markup=False, highlight=False)


@app.command()
def status(
    state: str = typer.Option(..., "--state", help=STATE_OPTION_HELP, show_default=False),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show a run: its state, each hop's elapsed time, API downtime and migration time
    (seconds), and its steps by state."""
    from hvroll.controlplane.journal import Journal

    journal = Journal(state)
    try:
        data = status_data(journal)
    finally:
        journal.close()
    if as_json:
        print_json(data)
    else:
        _print_status(data)


def _request(state: str, action: str) -> None:
    from hvroll.controlplane.journal import Journal

    journal = Journal(state)
    try:
        journal.require_run()
        journal.request(action)
    finally:
        journal.close()
    console.print(f"{action} requested: taken after the running step", highlight=False)


@app.command()
def pause(state: str = typer.Option(..., "--state", help=STATE_OPTION_HELP,
                                    show_default=False)) -> None:
    """Pause the run after its running step; 'hvroll controlplane run' resumes it."""
    _request(state, "pause")


@app.command()
def abort(state: str = typer.Option(..., "--state", help=STATE_OPTION_HELP,
                                    show_default=False)) -> None:
    """Stop the run after its running step, for good (no automatic rollback)."""
    _request(state, "abort")
