"""``hvroll plan``: build a campaign plan from an inventory."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hvroll.cli.common import JSON_HELP, console, err_console, finite, print_json
from hvroll.cli.outputs import FORCE_HELP, Kind, check_output
from hvroll.cli.targets import (
    TARGET_FOR_OPTION,
    TARGET_OPTION,
    TARGETS_FILE_OPTION,
    targets_of,
)
from hvroll.inventory import load_fleet
from hvroll.planner.model import (
    MAX_DOWNTIME_MS,
    MAX_PER_WAVE,
    MAX_REINSTALL_S,
    Plan,
    Policy,
    SkipCause,
    Strategy,
    save_plan,
)


def plan(
    file: Path = typer.Argument(..., help="Inventory file, YAML or JSON.", show_default=False),
    target: str | None = TARGET_OPTION,
    target_for: list[str] = TARGET_FOR_OPTION,
    targets_file: Path | None = TARGETS_FILE_OPTION,
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the plan (JSON); "
                                "the input of 'hvroll run'. An existing plan is replaced only "
                                "with --force.", show_default=False),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    strategy: Strategy = typer.Option(Strategy.ROLL_FORWARD, "--strategy",
                                      help="roll-forward: VMs go straight to upgraded hosts, "
                                           "about one move each (hvroll's). evacuate-return: "
                                           "out and back, about two moves. scheduler: "
                                           "least-loaded host whatever its profile."),
    hosts_per_wave: int | None = typer.Option(None, "--hosts-per-wave", "-k", min=1,
                                              max=MAX_PER_WAVE,
                                              help="Hosts of a cluster upgraded at once "
                                                   "[default: the cluster's hot-spare count]."),
    drain_ahead: int = typer.Option(2, "--drain-ahead", min=1, max=MAX_PER_WAVE,
                                    help="Hosts of a cluster drained ahead of their reinstall "
                                         "(roll-forward), beside the k being reinstalled. "
                                         "More keeps the reinstall slots busy and shortens "
                                         "the campaign; each holds a host's capacity empty "
                                         "while it waits."),
    reinstall_s: float = typer.Option(1800.0, "--reinstall-s", min=1.0,
                                      max=MAX_REINSTALL_S, callback=finite,
                                      help="Time to reinstall and verify a host, seconds."),
    downtime_ms: float = typer.Option(500.0, "--downtime-ms", min=1.0,
                                      max=MAX_DOWNTIME_MS, callback=finite,
                                      help="Live-migration downtime limit, milliseconds."),
    per_source: int = typer.Option(2, "--migrations-per-source", min=1,
                                   max=MAX_PER_WAVE,
                                   help="Concurrent migrations out of one host."),
    per_region: int = typer.Option(64, "--migrations-per-region", min=1,
                                   max=MAX_PER_WAVE,
                                   help="Concurrent migrations in one region."),
    canary_hosts: int = typer.Option(6, "--canary-hosts", min=0,
                                     max=MAX_PER_WAVE,
                                     help="At most this many canary hosts (one per cluster); "
                                          "0 for no canary wave."),
    no_hold: bool = typer.Option(False, "--no-hold", help="Do not stop after the canary wave "
                                 "for an operator's 'hvroll resume'."),
    allow_suspend: bool = typer.Option(False, "--allow-suspend",
                                       help="A live migration that does not converge (and "
                                            "cannot use auto-converge or post-copy) may pause "
                                            "its guest until it completes: seconds of downtime "
                                            "instead of a failed drain."),
    allow_cold: bool = typer.Option(False, "--allow-cold-migration",
                                    help="VMs that cannot move live (GPU/FPGA passthrough, "
                                         "blocked CPU) may be stopped and cold-migrated in a "
                                         "maintenance window instead of skipping their host."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Plan the upgrade of every host below the target profile: canary wave, then waves of
    at most k hosts per cluster, each VM placed on a compatible host with room.

    Canary hosts hold internal tenants' VMs covering the heterogeneous combinations (guest
    family x host OS x generation x special devices); every upgraded generation and host OS
    gets one unless impossible, never a host holding a VM that cannot move when another would
    do. The output lists what the canary covers and what it does not, and why."""
    from hvroll.planner.build import plan as build_plan

    check_output(output, Kind.PLAN, inputs=[file], force=force)
    fleet = load_fleet(file)
    targets = targets_of(fleet, target, target_for, targets_file)
    policy = Policy(hosts_per_wave=hosts_per_wave, drain_ahead=drain_ahead,
                    reinstall_s=reinstall_s,
                    downtime_ms=downtime_ms, migrations_per_source=per_source,
                    migrations_per_region=per_region, canary_hosts=canary_hosts,
                    hold_after_canary=not no_hold, allow_suspend=allow_suspend,
                    allow_cold_migration=allow_cold)
    result = build_plan(fleet, targets, policy, strategy, inventory=str(file))
    save_plan(result, output)
    if as_json:
        print_json({"plan": str(output), **result.summary.model_dump(),
                    "kept_back": [s.host for s in result.skipped
                                  if s.cause is SkipCause.LEGACY_POOL],
                    "pinned": {s.host: s.pinned_by for s in result.skipped if s.pinned_by},
                    "canary": result.canary.model_dump(mode="json")})
        return
    _print(result)
    err_console.print(f"wrote {output}")


def _print(result: Plan) -> None:
    s = result.summary
    console.print(
        f"[bold]{result.strategy}[/] to {result.target}: {s.hosts} hosts, {s.vms} VMs, "
        f"{s.waves} waves, {s.migrations} migrations ({s.migrations_per_vm:.3f} per VM, "
        f"at most {s.max_moves_per_vm}), estimated {_hours(s.estimated_makespan_s)} "
        f"(lower bound {_hours(s.lower_bound_s)}; under the policy "
        f"{_hours(s.policy_bound_s)}), planned in {s.planning_time_s:.1f} s")
    table = Table("wave", "region", "hosts", "drained", "migrations", "estimated",
                  title="waves by region")
    for wave in result.waves:
        regions: dict[str, list[int]] = {}
        for step in wave.steps:
            row = regions.setdefault(step.region, [0, 0, 0])
            row[0] += 1
            row[1] += bool(step.drain)
            row[2] += len(step.drain)
        for region, (hosts, drained, migrations) in sorted(regions.items()):
            label = f"{wave.index}{' (canary)' if wave.canary else ''}"
            table.add_row(label, region, str(hosts), str(drained), str(migrations),
                          _hours(wave.estimated_s))
    console.print(table)
    if result.policy.hold_after_canary and result.waves and result.waves[0].canary:
        console.print("the campaign holds after wave 0 (canary) until 'hvroll resume'")
    _print_canary(result)
    if result.unmovable:
        table = Table("vm", "host", "action", "reason", title="VMs that cannot move live")
        for u in result.unmovable[:50]:
            table.add_row(u.vm, u.host, u.action.value, u.reason)
        console.print(table)
        if len(result.unmovable) > 50:
            console.print(f"… and {len(result.unmovable) - 50} more (see the plan file)")
    if result.skipped:
        table = Table("cause", "hosts", "example", title="hosts skipped (kept on their profile)")
        for cause in SkipCause:
            members = [h for h in result.skipped if h.cause is cause]
            if members:
                table.add_row(cause.value, str(len(members)),
                              f"{members[0].host}: {members[0].reason}")
        console.print(table)
        pinned = (f", {s.pinned_hosts} of those pinned by a VM that cannot leave them until "
                  f"an operator moves or stops it" if s.pinned_hosts else "")
        console.print(f"{len(result.skipped)} hosts skipped, {s.kept_back_hosts} of them kept "
                      f"back as legacy pools{pinned} (see 'skipped' in the plan file)")


def _print_canary(result: Plan) -> None:
    """What the canary wave covers (internal tenants' VMs) and what it does not, with why."""
    c = result.canary
    if not c.hosts and not c.pairs_without and not c.uncovered:
        return
    hosts = ", ".join(c.hosts) or "none"
    console.print(f"[bold]canary[/] hosts: {hosts}; covers {len(c.covered)} combinations of "
                  f"internal VMs (generation/host OS/guest/device)", highlight=False)
    for combo in c.covered:
        console.print(f"  covered      {combo}", markup=False, highlight=False)
    for combo, why in c.uncovered:
        console.print(f"  not covered  {combo}: {why}", markup=False, highlight=False,
                      soft_wrap=True)
    for pair, why in c.pairs_without:
        console.print(f"  no canary for {pair}: {why}", markup=False, highlight=False,
                      soft_wrap=True)


def _hours(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m"
