"""``hvroll testbed``: real libvirt hosts on this machine, for tests and rehearsals."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from hvroll import testbed as tb
from hvroll.cli.common import JSON_HELP, console, err_console, print_json
from hvroll.cli.outputs import FORCE_HELP, Kind, check_output
from hvroll.errors import InputError

app = typer.Typer(help="Real libvirt hosts on this machine (one libvirtd per network "
                       "namespace) with tiny canary guests; needs root.",
                  no_args_is_help=True)

WORKDIR = typer.Option(tb.DEFAULT_WORKDIR, "--workdir", "-w",
                       help="Directory holding the hosts' state, the guest image and the "
                            "kernel cache.")


DIRTY_RATE_HELP = ("MiB/s at which each new guest rewrites its memory (its dirtier checks "
                   "every page each second); 0 = heartbeat only, nothing dirtied.")
DIRTY_MIB_HELP = ("MiB of its memory each new guest rewrites when --dirty-rate > 0 (at most a "
                  "quarter of --guest-ram-mib).")
GUEST_RAM_HELP = "Memory of each new guest, MiB (QEMU uses about this much more per guest)."
CPU_MODEL_HELP = (f"libvirt CPU model of new guests; '{tb.DEFAULT_GUEST_CPU}' has no "
                  "vendor-specific feature, so every testbed host provides it on Intel and "
                  "AMD machines alike.")


def _check(name: str, spec: tb.CanarySpec) -> None:
    """Bad guest options are refused before anything starts."""
    from hvroll.compat.cpu import model_names
    from hvroll.testbed.guests import GuestSpec, check_spec

    check_spec(GuestSpec(name=name, kernel=Path("-"), initrd=Path("-"), console_log=Path("-"),
                         ram_mib=spec.ram_mib, dirty_mb=spec.dirty_mb,
                         dirty_rate_mib_s=spec.dirty_rate_mib_s))
    if spec.cpu_model is not None and spec.cpu_model not in model_names():
        raise InputError(f"--cpu-model {spec.cpu_model!r} is not a libvirt CPU model (expected "
                         f"one of 'virsh cpu-models x86_64', e.g. {tb.DEFAULT_GUEST_CPU})")


def _spec(dirty_rate_mib_s: int, dirty_mib: int, ram_mib: int, cpu_model: str) -> tb.CanarySpec:
    return tb.CanarySpec(ram_mib=ram_mib, dirty_mb=dirty_mib if dirty_rate_mib_s else 0,
                         dirty_rate_mib_s=dirty_rate_mib_s, cpu_model=cpu_model)


@app.command()
def up(
    hosts: int = typer.Option(2, "--hosts", "-n", min=1, max=64,
                              help="Number of hosts (h1..hN); hosts that already run are kept."),
    guests: int = typer.Option(0, "--guests", "-g", min=0, max=64,
                               help="Canary guests canary-1..canary-M to have running: missing "
                                    "ones are defined on the hosts running the fewest guests "
                                    "(4 on 3 hosts: h1, h2, h3, h1) and booted; running ones "
                                    "are kept wherever they are."),
    dirty_rate: int = typer.Option(0, "--dirty-rate", min=0, max=4096, help=DIRTY_RATE_HELP),
    dirty_mib: int = typer.Option(16, "--dirty-mib", min=1, help=DIRTY_MIB_HELP),
    guest_ram_mib: int = typer.Option(256, "--guest-ram-mib", min=96, max=4096,
                                      help=GUEST_RAM_HELP),
    cpu_model: str = typer.Option(tb.DEFAULT_GUEST_CPU, "--cpu-model", help=CPU_MODEL_HELP),
    profile: str = typer.Option(tb.DEFAULT_PROFILE, "--profile",
                                help=f"Profile of new hosts: {', '.join(tb.PROFILE_RANKS)}."),
    workdir: Path = WORKDIR,
    prefix: str | None = typer.Option(None, "--prefix",
                                      help="Namespace prefix (default: the work directory's, "
                                           f"else '{tb.DEFAULT_PREFIX}')."),
    output: Path | None = typer.Option(None, "--output", "-o",
                                       help="Write the testbed's inventory here, ready for "
                                            "'hvroll plan' ('.json' writes JSON, anything else "
                                            "YAML). An existing inventory is replaced only with "
                                            "--force."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Bring testbed hosts up (idempotent), boot canary guests on them and optionally write
    their inventory.

    Example: hvroll testbed up --hosts 3 --guests 4 --dirty-rate 4 -o tb.yaml
    """
    from hvroll.inventory import save_fleet
    from hvroll.testbed.canaries import canary_name

    if output is not None:
        check_output(output, Kind.INVENTORY, force=force)
    spec = _spec(dirty_rate, dirty_mib, guest_ram_mib, cpu_model)
    if guests:
        _check(canary_name(1), spec)
    start = time.monotonic()
    bed = tb.up(hosts, workdir, profile, prefix=prefix)
    booted = tb.ensure_canaries(bed.workdir, guests, [int(h.short_name[1:]) for h in bed.hosts],
                                spec) if guests else []
    if output is not None:
        save_fleet(tb.build_inventory(bed.workdir), output)
    elapsed_s = round(time.monotonic() - start, 2)
    states = tb.guest_states(bed.workdir)
    if as_json:
        print_json({"workdir": str(bed.workdir), "prefix": bed.prefix, "elapsed_s": elapsed_s,
                    "inventory": None if output is None else str(output),
                    "hosts": [{"name": h.name, "ip": h.ip, "uri": h.uri,
                               "profile": h.profile.profile} for h in bed.hosts],
                    "guests_booted": [g.name for g in booted],
                    "guests": [g.as_dict() for g in states]})
        return
    for h in bed.hosts:
        console.print(f"{h.name}  {h.ip}  {h.profile.profile}  {h.uri}", highlight=False,
                      soft_wrap=True)
    for g in states:
        console.print(f"{g.name}  on {g.host}  {'running' if g.running else 'shut off'}",
                      highlight=False)
    err_console.print(f"{len(bed.hosts)} hosts up, {len(states)} guests "
                      f"({len(booted)} booted now) in {elapsed_s} s"
                      + (f", inventory in {output}" if output else ""), highlight=False)


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
    """Per host: daemon, running and defined guests, profile and versions; per guest: where it
    runs and its own health check (heartbeats that only grow, no page found corrupted by its
    memory check, no oops or panic, a console line in the last 30 s). Exit 1 if a daemon is
    down or a running canary is not healthy."""
    state = tb.status(workdir)
    guests = tb.guest_states(workdir) if state.healthy else []
    if as_json:
        print_json({**state.as_dict(), "guests": [g.as_dict() for g in guests]})
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
        if guests:
            gt = Table("guest", "host", "state", "health", "last heartbeat", "silent s",
                       title="guests")
            for g in guests:
                gh = g.health
                why = ", ".join(gh.flags) if gh is not None and gh.flags else "silent"
                gt.add_row(g.name, g.host, "running" if g.running else "shut off",
                           "ok" if g.ok else ("-" if gh is None else why),
                           "-" if gh is None or gh.last_heartbeat is None
                           else str(gh.last_heartbeat),
                           "-" if g.silent_s is None else f"{g.silent_s:.0f}")
            console.print(gt)
    if not state.healthy or any(g.judged and not g.ok for g in guests):
        raise typer.Exit(1)


guest_app = typer.Typer(help="Canary guests on the testbed's hosts: add one, remove one "
                             "('hvroll testbed status' lists them with their health).",
                        no_args_is_help=True)
app.add_typer(guest_app, name="guest")


@guest_app.command("add")
def guest_add(
    name: str | None = typer.Argument(None, help="Guest name (letters, digits, '_.-'); "
                                                 "default: the first free canary-K."),
    host: str | None = typer.Option(None, "--host", help="Host to start it on: h2, "
                                    "PREFIX-h2 or 2 (default: the host running the fewest "
                                    "guests)."),
    dirty_rate: int = typer.Option(0, "--dirty-rate", min=0, max=4096, help=DIRTY_RATE_HELP),
    dirty_mib: int = typer.Option(16, "--dirty-mib", min=1, help=DIRTY_MIB_HELP),
    ram_mib: int = typer.Option(256, "--ram-mib", min=96, max=4096, help=GUEST_RAM_HELP),
    cpu_model: str = typer.Option(tb.DEFAULT_GUEST_CPU, "--cpu-model", help=CPU_MODEL_HELP),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the guest's first "
                              "heartbeat (up to 180 s) before returning."),
    workdir: Path = WORKDIR,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Define and boot one canary guest (a TCG guest checking its own memory and printing a
    heartbeat every second). Write the inventory again ('hvroll testbed up -o FILE --force')
    for a campaign to include it.

    Example: hvroll testbed guest add noisy --host h2 --dirty-rate 8
    """
    from hvroll.testbed.canaries import canary_name

    spec = _spec(dirty_rate, dirty_mib, ram_mib, cpu_model)
    _check(name or canary_name(1), spec)
    guest = tb.add_guest(workdir, name, host, spec, wait=wait)
    [state] = [g for g in tb.guest_states(workdir) if g.name == guest.name]
    if as_json:
        print_json({**state.as_dict(), "console_log": str(guest.console_log),
                    "uri": guest.uri})
        return
    err_console.print(f"guest {guest.name} {'booted' if wait else 'started'} on {state.host}; "
                      f"console in {guest.console_log}", highlight=False)


@guest_app.command("remove")
def guest_remove(
    name: str = typer.Argument(..., help="Guest to destroy and undefine on every host.",
                               show_default=False),
    workdir: Path = WORKDIR,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Destroy and undefine a guest wherever it is defined (its console log stays)."""
    hosts = tb.remove_guest(workdir, name)
    if as_json:
        print_json({"name": name, "removed_from": hosts})
        return
    err_console.print(f"guest {name} removed from {', '.join(hosts)}", highlight=False)
