"""``hvroll fleet``: generate, show, validate and describe inventories."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hvroll.cli.common import JSON_HELP, console, err_console, print_json, progress
from hvroll.cli.outputs import FORCE_HELP, Kind, check_output
from hvroll.drivers.nova.read import PAGE_SIZE
from hvroll.inventory import load_fleet, save_fleet, schema_text
from hvroll.synthetic.presets import PRESETS

app = typer.Typer(help="Inventories: generate synthetic fleets, show, validate, print the schema.",
                  no_args_is_help=True)

FILE_ARG = typer.Argument(..., help="Inventory file, YAML or JSON (by extension).",
                          show_default=False)


@app.command()
def generate(
    preset: str = typer.Option("small", "--preset", "-p",
                               help=f"Fleet shape: {', '.join(PRESETS)}. 'small' is 2 regions, "
                                    "80 hosts, ~600 VMs; 'enterprise' 13 regions, 3,520 hosts, "
                                    "~35,000 VMs; 'public' 25 regions, ~250,000 VMs."),
    seed: int = typer.Option(1, "--seed", "-s", help="Random seed; the same seed gives the "
                                                     "same file, byte for byte."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the inventory; "
                                "'.json' writes JSON, anything else YAML. An existing "
                                "inventory is replaced only with --force.", show_default=False),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Generate a synthetic fleet, deterministic by seed."""
    from hvroll.synthetic.generate import generate as generate_fleet

    check_output(output, Kind.INVENTORY, force=force)
    with progress(f"generating {preset}", enabled=not as_json) as update:
        fleet = generate_fleet(preset, seed, update)
    save_fleet(fleet, output)
    summary = {"file": str(output), "preset": preset, "seed": seed,
               "regions": len(fleet.regions), "clusters": len(fleet.clusters),
               "hosts": len(fleet.hosts), "vms": len(fleet.vms)}
    if as_json:
        print_json(summary)
    else:
        err_console.print(f"wrote {output}: {summary['regions']} regions, "
                          f"{summary['clusters']} clusters, {summary['hosts']} hosts, "
                          f"{summary['vms']} VMs")


@app.command()
def show(
    file: Path = FILE_ARG,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Counts by region, cluster, generation, profile and guest OS family."""
    fleet = load_fleet(file)
    summary = fleet.summary()
    if as_json:
        print_json(summary)
        return
    console.print(f"[bold]{file}[/]: {summary['regions']} regions, {summary['clusters']} "
                  f"clusters, {summary['hosts']} hosts ({summary['spares']} hot spares), "
                  f"{summary['vms']} VMs")
    regions = Table("region", "clusters", "hosts", "vms", title="by region")
    by_region = summary["by_region"]
    assert isinstance(by_region, dict)
    for name, row in by_region.items():
        regions.add_row(name, str(row["clusters"]), str(row["hosts"]), str(row["vms"]))
    console.print(regions)
    for key, title in (("hosts_by_generation", "hosts by CPU generation"),
                       ("hosts_by_profile", "hosts by profile"),
                       ("vms_by_guest_family", "VMs by guest OS family"),
                       ("vms_by_power", "VMs by power state")):
        table = Table("name", "count", title=title)
        counts = summary[key]
        assert isinstance(counts, dict)
        for name, count in counts.items():
            table.add_row(name, str(count))
        console.print(table)


@app.command()
def validate(
    file: Path = FILE_ARG,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Check an inventory: types, unknown keys, references, duplicate names, capacity.

    Prints one line per problem, FILE:LINE: what (expected …, got …), and exits 2 if any.
    """
    fleet = load_fleet(file)
    if as_json:
        print_json({"file": str(file), "valid": True, "hosts": len(fleet.hosts),
                    "vms": len(fleet.vms)})
    else:
        console.print(f"{file}: valid ({len(fleet.hosts)} hosts, {len(fleet.vms)} VMs)")


@app.command()
def schema() -> None:
    """Print the inventory's JSON Schema."""
    typer.echo(schema_text(), nl=False)


@app.command()
def discover(
    from_libvirt: Path | None = typer.Option(
        None, "--libvirt", metavar="INVENTORY",
        help="Read libvirt hosts instead of Nova: the inventory whose hosts' libvirt_uri are "
             "asked (each host's CPU as libvirt's migratable host-model, versions, size, "
             "domains); what libvirt cannot tell (clusters, profiles, guest OS, history) is "
             "kept from it. HVROLL_SHARED_PATHS names shared storage (testbed: its own)."),
    cloud: str | None = typer.Option(None, "--cloud", "-c",
                                     help="Cloud name in clouds.yaml (default: OS_CLOUD). The "
                                          "file is OS_CLIENT_CONFIG_FILE, ./clouds.yaml, "
                                          "~/.config/openstack/ or /etc/openstack/."),
    region: str | None = typer.Option(None, "--region", "-r",
                                      help="Region to read (default: the cloud's)."),
    cluster_by: str = typer.Option("az", "--cluster-by",
                                   help="How hosts form clusters: 'aggregate' (a host's first "
                                        "host aggregate by name, else its zone), 'az' "
                                        "(availability zone) or 'regex:PATTERN' (first group "
                                        "of PATTERN matched on the host name)."),
    facts: Path | None = typer.Option(None, "--facts",
                                      help="Host-facts YAML naming profiles by hypervisor "
                                           "version, with what Nova cannot tell (libvirt, OS); "
                                           "default: the cloud's 'hvroll_host_facts' key in "
                                           "clouds.yaml. See docs/nova.md."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the inventory; "
                                "'.json' writes JSON, anything else YAML. An existing "
                                "inventory is replaced only with --force.", show_default=False),
    page_size: int = typer.Option(PAGE_SIZE, "--page-size", min=1, max=1000,
                                  help="Servers asked of Nova per request; every page is "
                                       "followed, so this changes only the size of each "
                                       "request (Nova caps it at its [api] max_limit, 1000 "
                                       "by default)."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Read an OpenStack cloud (hypervisors, services, placement, servers of all projects,
    server groups, instance actions) into an inventory, or, with --libvirt, what the libvirt
    daemons of an inventory's hosts report now. Nothing is written on failure.

    Example: hvroll fleet discover --libvirt tb.yaml -o now.yaml
    """
    if from_libvirt is not None:
        _discover_libvirt(from_libvirt, output, force=force, as_json=as_json,
                          nova_options=[o for o, v in (("--cloud", cloud), ("--region", region),
                                                       ("--facts", facts)) if v is not None])
        return
    from hvroll.drivers.nova.connect import cloud_extra, connect
    from hvroll.drivers.nova.discovery import check_cluster_by, fleet_from_cloud
    from hvroll.drivers.nova.facts import load_facts
    from hvroll.drivers.nova.read import read_cloud
    from hvroll.errors import InputError

    check_output(output, Kind.INVENTORY, force=force)
    check_cluster_by(cluster_by)
    conn = connect(cloud, region=region)
    facts_path = facts or (Path(str(cloud_extra(conn, "hvroll_host_facts")))
                           if cloud_extra(conn, "hvroll_host_facts") else None)
    if facts_path is None:
        raise InputError("discovery needs a host-facts file (Nova's API does not tell a host's "
                         "profile, libvirt or OS): pass --facts FILE or set hvroll_host_facts "
                         "in the cloud's clouds.yaml entry (docs/nova.md)")
    host_facts = load_facts(facts_path)
    def note(what: str, n: int) -> None:
        if not as_json:
            err_console.print(f"read {n} {what}", highlight=False)

    raw = read_cloud(conn, region=region, page_size=page_size, on_progress=note,
                     traits=host_facts.uses_traits)
    found = fleet_from_cloud(raw, host_facts, cluster_by)
    save_fleet(found.fleet, output)
    summary = {"file": str(output), "cloud": cloud, "region": raw.region, **found.counts,
               "notes": found.notes}
    if as_json:
        print_json(summary)
        return
    for line in found.notes:
        err_console.print(f"note: {line}", highlight=False, soft_wrap=True)
    err_console.print(f"wrote {output}: {found.counts['hosts']} hosts in "
                      f"{found.counts['clusters']} clusters, {found.counts['vms']} VMs of "
                      f"{found.counts['projects']} projects, {found.counts['server_groups']} "
                      "server groups", highlight=False)


def _discover_libvirt(source: Path, output: Path, *, force: bool, as_json: bool,
                      nova_options: list[str]) -> None:
    """``fleet discover --libvirt``: the inventory updated with what each host's libvirtd
    reports (see docs/libvirt.md, discovery)."""
    from hvroll.drivers.libvirt import cloud_for
    from hvroll.errors import InputError
    from hvroll.testbed.driver import testbed_defaults

    if nova_options:
        verb = "is" if len(nova_options) == 1 else "are"
        raise InputError(f"{', '.join(nova_options)} {verb} for Nova; --libvirt reads libvirt "
                         "daemons: give one or the other")
    check_output(output, Kind.INVENTORY, inputs=[source], force=force)
    fleet = load_fleet(source)
    missing = [h.name for h in fleet.hosts if not h.libvirt_uri]
    if missing:
        raise InputError(f"{source}: {len(missing)} host(s) without libvirt_uri (expected one "
                         f"per host to ask its libvirtd, e.g. qemu+tls://HOST/system; got none "
                         f"for {', '.join(missing[:5])})")
    with cloud_for(fleet, journal=None, defaults=testbed_defaults(fleet)) as cloud:
        found = cloud.discover()
    save_fleet(found, output)
    used = [g for g in found.generations if any(h.generation == g.name for h in found.hosts)]
    summary = {"file": str(output), "from": str(source), "hosts": len(found.hosts),
               "vms": len(found.vms),
               "generations": [{"name": g.name, "model": g.model, "vendor": g.vendor,
                                "features": list(g.features), "disabled": list(g.disabled)}
                               for g in used]}
    if as_json:
        print_json(summary)
        return
    err_console.print(f"wrote {output}: {summary['hosts']} hosts, {summary['vms']} VMs as "
                      f"their libvirt daemons report them (CPU generations: "
                      f"{', '.join(g.name for g in used)})",
                      highlight=False)
