"""``hvroll demo``: a whole rehearsal on the embedded simulator, start to end."""

from __future__ import annotations

from pathlib import Path

import typer

from hvroll.cli.common import JSON_HELP, console, print_json, progress
from hvroll.inventory import load_fleet, save_fleet
from hvroll.inventory.generate import generate


def demo(
    workdir: Path = typer.Option(Path("hvroll-demo"), "--workdir", "-w",
                                 help="Directory for the demo's files (inventory, plan, "
                                      "state); created if missing."),
    seed: int = typer.Option(1, "--seed", "-s", help="Seed of the generated fleet."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Generate the 'small' fleet and rehearse its upgrade on the simulator, printing a summary.

    Every file it writes stays in WORKDIR so each step can be inspected or re-run by hand.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    inventory = workdir / "fleet.yaml"
    with progress("generating the small fleet", enabled=not as_json) as update:
        fleet = generate("small", seed, update)
    save_fleet(fleet, inventory)
    fleet = load_fleet(inventory)
    summary = {"inventory": str(inventory), **{k: v for k, v in fleet.summary().items()
                                               if k in ("regions", "clusters", "hosts", "vms",
                                                        "spares")}}
    if as_json:
        print_json(summary)
        return
    console.print(f"[bold]inventory[/] {inventory}: {summary['regions']} regions, "
                  f"{summary['clusters']} clusters, {summary['hosts']} hosts "
                  f"({summary['spares']} hot spares), {summary['vms']} VMs")
    console.print(f"next: hvroll fleet show {inventory}")
