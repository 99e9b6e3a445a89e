"""``hvroll lab nova``: a real Nova control plane on loopback, for tests and rehearsals."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hvroll.cli.common import JSON_HELP, console, err_console, print_json
from hvroll.lab import nova

app = typer.Typer(help="Labs: real cloud control planes on this machine, on loopback only.",
                  no_args_is_help=True)
nova_app = typer.Typer(
    help="A real OpenStack Nova control plane (Nova 34 by default; 31-33 for upgrade "
         "rehearsals) on loopback (MariaDB, RabbitMQ, placement, "
         "glance, nova-api, conductor, scheduler) with N fake-virt computes; needs root. "
         "See docs/nova.md.",
    no_args_is_help=True)
app.add_typer(nova_app, name="nova")

WORKDIR = typer.Option(nova.DEFAULT_WORKDIR, "--workdir", "-w",
                       help="The lab's directory: configuration, databases, logs, clouds.yaml "
                            "and lab.json (what the lab owns).")


@nova_app.command()
def up(
    computes: int = typer.Option(3, "--computes", "-n", min=1, max=16,
                                 help="Number of nova-compute services (compute1..computeN), "
                                      f"all on profile {nova.DEFAULT_PROFILE}."),
    servers: int = typer.Option(12, "--servers", "-m", min=0, max=1000,
                                help="Servers to create, spread over the computes (a mix of "
                                     "flavors and images, two projects, one anti-affinity "
                                     "group of two)."),
    workdir: Path = WORKDIR,
    cache: Path = typer.Option(nova.DEFAULT_CACHE, "--cache",
                               help="Where Nova's own virtual environment is installed once "
                                    "per release and reused (env HVROLL_LAB_CACHE)."),
    port_offset: int = typer.Option(
        0, "--port-offset", envvar=nova.PORT_OFFSET_ENV, min=0, max=nova.MAX_PORT_OFFSET,
        help="Move every loopback port of the lab (MariaDB 3307, RabbitMQ 5682, epmd 4370, "
             "nova-api 8774, placement 8778, glance 9292, neutron 9696, …) up by this much, "
             "so two labs can run on one machine."),
    release: str = typer.Option(
        nova.DEFAULT_RELEASE, "--release", "-r",
        help=f"OpenStack release the lab runs, one of: {', '.join(nova.RELEASES)} (Nova "
             f"{', '.join(r.nova for r in nova.RELEASES.values())}); each is installed "
             "once into the cache with its own upper constraints."),
    virt: str = typer.Option(
        "fake", "--virt",
        help="The computes' virt driver: 'fake' (compute1..computeN, pretend guests and "
             "migrations) or 'libvirt' (one compute per host of a libvirt testbed brought up "
             "in DIR/tb: Nova's libvirt driver, TCG QEMU canary guests, real block live "
             "migrations capped at 32 MiB/s; about 256 MiB of RAM per server)."),
    testbed_prefix: str = typer.Option(
        "hvnl", "--testbed-prefix",
        help="With --virt libvirt: namespace prefix of the testbed's hosts (1-10 lowercase "
             "letters or digits); the computes are named PREFIX-h1..PREFIX-hN."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Start a fresh Nova lab (wiping the work directory's previous lab files) and write
    DIR/clouds.yaml with the cloud 'hvroll-lab'. Takes about 40 s once Nova is installed; the
    first run installs it (a few minutes)."""
    def step(what: str) -> None:
        if not as_json:
            err_console.print(f"starting {what} …", highlight=False)

    report = nova.up(workdir, computes, servers, cache=cache, release=release,
                     ports=nova.Ports().shifted(port_offset), on_step=step, virt=virt,
                     testbed_prefix=testbed_prefix)
    if as_json:
        print_json({"workdir": str(report.workdir), "clouds_yaml": str(report.clouds_yaml),
                    "cloud": nova.CLOUD_NAME, "computes": list(report.computes),
                    "servers": report.servers, "elapsed_s": report.elapsed_s})
        return
    console.print(f"Nova lab up in {report.elapsed_s} s: {len(report.computes)} computes, "
                  f"{report.servers} servers", highlight=False)
    console.print(f"export OS_CLIENT_CONFIG_FILE={report.clouds_yaml} "
                  f"OS_CLOUD={nova.CLOUD_NAME}", highlight=False, soft_wrap=True)


@nova_app.command()
def status(
    workdir: Path = WORKDIR,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Each process of the lab, and Nova's own view of its computes and servers; exit 1 if
    anything is down."""
    st = nova.status(workdir)
    if as_json:
        print_json(st.as_dict())
    else:
        table = Table("compute", "profile", "service", "hypervisor_version", "servers",
                      title=f"{st.workdir} (release {st.release})")
        for c in st.computes:
            table.add_row(c["host"], str(c["profile"]), f"{c['state']}/{c['status']}",
                          str(c["hypervisor_version"]), str(c["servers"]))
        console.print(table)
        down_ = [n for n, ok in st.services.items() if not ok]
        console.print(f"processes: {len(st.services) - len(down_)} of {len(st.services)} "
                      "running" + (f" (down: {', '.join(down_)})" if down_ else ""),
                      highlight=False)
        console.print("servers: " + (", ".join(f"{v} {k}" for k, v in st.servers.items())
                                     or "none"), highlight=False)
        if st.api_error:
            console.print(f"Nova API: {st.api_error}", highlight=False)
    if not st.healthy:
        raise typer.Exit(1)


@nova_app.command()
def reinstall(
    host: str = typer.Argument(..., help="A lab compute, e.g. compute2."),
    profile: str = typer.Option(..., "--profile", "-p",
                                help=f"Profile to bring it to: {', '.join(nova.PROFILES)}; "
                                "a --virt libvirt lab: TB or TB2."),
    workdir: Path = WORKDIR,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The lab's reinstall hook: restart HOST's nova-compute reporting PROFILE's hypervisor
    version (a --virt libvirt lab: its provider config file setting PROFILE's placement
    trait, CUSTOM_HVLAB_PROFILE_TB2), and wait until Nova shows it up (about 15-30 s). Use
    it as hvroll run's --reinstall-cmd
    'hvroll lab nova reinstall {host} --profile {profile} --workdir DIR'."""
    result = nova.reinstall(workdir, host, profile)
    if as_json:
        print_json(result)
    else:
        trait = f", trait {result['trait']}" if result.get("trait") else ""
        console.print(f"{host} is up on {profile} (hypervisor_version "
                      f"{result['hypervisor_version']}{trait})", highlight=False)


@nova_app.command()
def down(
    workdir: Path = WORKDIR,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Stop every process the lab started (by its recorded PID); the lab's files stay in
    the work directory for inspection."""
    report = nova.down(workdir)
    if as_json:
        print_json({"workdir": str(report.workdir), "stopped": list(report.stopped)})
        return
    err_console.print(f"Nova lab in {report.workdir} is down: {len(report.stopped)} "
                      "processes stopped")


@nova_app.command()
def knob(
    name: str = typer.Argument(..., help=f"One of: {', '.join(nova.KNOBS)}."),
    value: str | None = typer.Argument(None, help="lm_seconds: seconds a live migration runs "
                                       "(default 5); lm_fail/lm_stall: '1' for every "
                                       "migration or server UUIDs. Omit to clear."),
    workdir: Path = WORKDIR,
) -> None:
    """Set a knob of the lab computes' fake live migration (read at each migration's start)."""
    nova.set_knob(workdir, name, value)


GROUP_HELP = ("Which services: all (placement, nova-api, conductor, scheduler, computes), "
              "controllers (all but the computes), api (placement and nova-api), conductor, "
              "scheduler, placement or computes. Glance, MariaDB, RabbitMQ and the Neutron "
              "stub are left alone.")


@nova_app.command("release")
def release_(
    name: str = typer.Argument(..., help=f"The release to switch to: "
                               f"{', '.join(nova.RELEASES)}."),
    workdir: Path = WORKDIR,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The lab's package hook: services started from now on run release NAME (its Nova
    environment is installed into the cache if missing); running services keep theirs until
    restarted with 'stop' and 'start'. The databases are not migrated: run the release's
    nova-manage and placement-manage for that (see docs/controlplane.md)."""
    result = nova.switch(workdir, name)
    if as_json:
        print_json(result)
    else:
        console.print(f"the lab's services now start on {result['to']} (Nova "
                      f"{result['nova']}; was {result['from']})", highlight=False)


@nova_app.command("stop")
def stop_(
    group: str = typer.Argument("all", help=GROUP_HELP),
    workdir: Path = WORKDIR,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Stop a group of the lab's services by their recorded PIDs (SIGTERM, SIGKILL after
    10 s); the lab's other processes keep running. 'start' brings them back."""
    stopped = nova.stop_services(workdir, group)
    if as_json:
        print_json({"stopped": stopped})
    else:
        err_console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}",
                          highlight=False)


@nova_app.command("start")
def start_(
    group: str = typer.Argument("all", help=GROUP_HELP),
    workdir: Path = WORKDIR,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Start the group's services that are not running, on the lab's current release, and
    wait (up to 240 s) until each answers: the APIs on their ports, conductor, scheduler and
    computes reported up by Nova."""
    started = nova.start_services(workdir, group)
    if as_json:
        print_json({"started": started})
    else:
        err_console.print(f"started: {', '.join(started) or 'everything was running'}",
                          highlight=False)
