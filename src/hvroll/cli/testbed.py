"""``hvroll testbed``: real libvirt hosts on this machine, for tests and rehearsals."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from hvroll import testbed as tb
from hvroll.cli.common import JSON_HELP, console, err_console, print_json
from hvroll.inventory import save_fleet

app = typer.Typer(help="Real libvirt hosts on this machine (one libvirtd per network "
                       "namespace) with tiny canary guests; needs root.",
                  no_args_is_help=True)

WORKDIR = typer.Option(tb.DEFAULT_WORKDIR, "--workdir", "-w",
                       help="Directory holding the hosts' state, the guest image and the "
                            "kernel cache.")


@app.command()
def up(
    hosts: int = typer.Option(2, "--hosts", "-n", min=1, max=64,
                              help="Number of hosts (h1..hN); hosts that already run are kept."),
    profile: str = typer.Option(tb.DEFAULT_PROFILE, "--profile",
                                help=f"Profile of new hosts: {', '.join(tb.PROFILE_RANKS)}."),
    workdir: Path = WORKDIR,
    prefix: str | None = typer.Option(None, "--prefix",
                                      help="Namespace prefix (default: the work directory's, "
                                           f"else '{tb.DEFAULT_PREFIX}')."),
    output: Path | None = typer.Option(None, "--output", "-o",
                                       help="Write the testbed's inventory here ('.json' "
                                            "writes JSON, anything else YAML)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Bring testbed hosts up (idempotent) and optionally write their inventory."""
    start = time.monotonic()
    bed = tb.up(hosts, workdir, profile, prefix=prefix)
    if output is not None:
        save_fleet(tb.build_inventory(bed.workdir), output)
    elapsed_s = round(time.monotonic() - start, 2)
    if as_json:
        print_json({"workdir": str(bed.workdir), "prefix": bed.prefix, "elapsed_s": elapsed_s,
                    "inventory": None if output is None else str(output),
                    "hosts": [{"name": h.name, "ip": h.ip, "uri": h.uri,
                               "profile": h.profile.profile} for h in bed.hosts]})
        return
    for h in bed.hosts:
        console.print(f"{h.name}  {h.ip}  {h.profile.profile}  {h.uri}", highlight=False,
                      soft_wrap=True)
    err_console.print(f"{len(bed.hosts)} hosts up in {elapsed_s} s"
                      + (f", inventory in {output}" if output else ""))


@app.command()
def down(
    workdir: Path = WORKDIR,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Destroy every guest, stop every daemon, delete every namespace of the testbed."""
    report = tb.down(workdir)
    if as_json:
        print_json({"workdir": str(report.workdir),
                    "destroyed_domains": list(report.destroyed_domains),
                    "stopped_pids": list(report.stopped_pids),
                    "removed_netns": list(report.removed_netns)})
        return
    err_console.print(f"testbed in {report.workdir} is down: "
                      f"{len(report.destroyed_domains)} guests destroyed, "
                      f"{len(report.stopped_pids)} processes stopped, "
                      f"{len(report.removed_netns)} namespaces removed")


@app.command()
def status(
    workdir: Path = WORKDIR,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Per host: daemon, running and defined guests, profile and versions; exit 1 if a
    daemon is down."""
    state = tb.status(workdir)
    if as_json:
        print_json(state.as_dict())
    else:
        table = Table("host", "ip", "daemon", "running", "defined", "profile", "qemu",
                      "libvirt", title=str(state.workdir))
        for h in state.hosts:
            p = h.profile
            table.add_row(h.name, h.ip, "up" if h.answering else "DOWN",
                          ", ".join(h.running_domains), ", ".join(h.defined_domains),
                          p.profile if p else "-", (p.qemu_version or "-") if p else "-",
                          (p.libvirt_version or "-") if p else "-")
        console.print(table)
    if not state.healthy:
        raise typer.Exit(1)
