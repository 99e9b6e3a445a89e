"""``hvroll demo``: a whole rehearsal on the embedded simulator, start to end."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import typer

from hvroll.cli.common import JSON_HELP, console, print_json, progress
from hvroll.errors import InputError


def demo(
    workdir: Path = typer.Option(Path("hvroll-demo"), "--workdir", "-w",
                                 help="Directory for the demo's files (inventory, plan, "
                                      "state): a new or empty directory, or one a previous "
                                      "demo made (its files are replaced; nothing else is "
                                      "touched)."),
    seed: int = typer.Option(1, "--seed", "-s", help="Seed of the fleet and the simulator."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Rehearse a rolling upgrade of the 'small' fleet on the simulator, end to end.

    Generates the fleet (2 regions, 80 hosts, ~600 VMs), checks every VM against the new
    profile, plans canary-first waves (CPv2; Broadwell hosts CPv2 with nosmap), runs the canary
    wave, gives the operator's go, runs the rest in virtual time, and prints a summary. Every
    file stays in WORKDIR: inspect it with 'hvroll status --state WORKDIR/campaign.db'.
    """
    from hvroll.compat.report import check_upgrade
    from hvroll.compat.verdict import Checker
    from hvroll.domain.states import CampaignState
    from hvroll.drivers.sim import SimCloud
    from hvroll.executor.engine import Executor
    from hvroll.executor.status import status
    from hvroll.inventory import load_fleet, save_fleet
    from hvroll.planner.build import Targets, plan, with_profiles
    from hvroll.planner.model import Policy, save_plan
    from hvroll.store import Store
    from hvroll.synthetic.generate import generate

    started = time.perf_counter()
    _prepare(workdir)
    inventory = workdir / "fleet.yaml"
    plan_file = workdir / "plan.json"
    state = workdir / "campaign.db"
    say = _printer(as_json)
    with progress("generating the small fleet", enabled=not as_json) as update:
        fleet = generate("small", seed, update)
    save_fleet(fleet, inventory)
    fleet = load_fleet(inventory)
    say(f"1. inventory {inventory}: {len(fleet.regions)} regions, {len(fleet.clusters)} "
        f"clusters, {len(fleet.hosts)} hosts ({sum(fleet.spares(c.name) for c in fleet.clusters)}"
        f" hot spares), {len(fleet.vms)} VMs")

    cpv2, cpv2n = fleet.profile_by_name["CPv2"], fleet.profile_by_name["CPv2n"]
    report = check_upgrade(fleet, cpv2, Checker(fleet), {"Broadwell": cpv2n})
    checked = report.data()
    say(f"2. check against CPv2 (Broadwell: CPv2 with nosmap): {checked['ok']} ok, "
        f"{checked['workaround']} need a workaround first "
        f"({', '.join(f'{k} {v}' for k, v in checked['workarounds'].items())}), "
        f"{checked['blocked']} blocked")

    policy = Policy(allow_suspend=True)
    result = plan(fleet, Targets(default=cpv2, by_name={"Broadwell": cpv2n}), policy,
                  inventory=str(inventory))
    save_plan(result, plan_file)
    s = result.summary
    say(f"3. plan {plan_file}: {s.hosts} hosts in {s.waves} waves (wave 0 = canary), "
        f"{s.migrations} migrations ({s.migrations_per_vm:.2f} per VM), estimated "
        f"{s.estimated_makespan_s / 3600:.1f} h (lower bound {s.lower_bound_s / 3600:.1f} h)")

    store = Store(state, create=True)
    store.create_campaign(result, with_profiles(fleet, result.targets), "sim", 0.0,
                          plan_file=str(plan_file))
    cloud = SimCloud(store.fleet(), seed=seed, journal=Path(f"{state}.sim.jsonl"))
    outcome = Executor(store, cloud).run().state
    canary = status(store)
    say(f"4. canary wave: {canary['migrations_completed']} migrations done, "
        f"{canary['migrations_failed']} failed, {canary['invariant_violations']} invariant "
        f"violations; the campaign is {outcome.value}")
    if outcome is CampaignState.HOLDING:
        store.request("resume")
        say("   the demo gives the operator's go ('hvroll resume')")
        outcome = Executor(store, cloud).run().state
    final = status(store)
    cloud.close()
    store.close()
    final["wall_s"] = round(time.perf_counter() - started, 2)
    final["workdir"] = str(workdir)
    if as_json:
        print_json(final)
    else:
        say(f"5. campaign {final['state']} in {final['makespan_s'] / 3600:.1f} h of simulated "
            f"time ({final['wall_s']} s here): {final['hosts_upgraded']}/{final['hosts_total']} "
            f"hosts upgraded, {final['hosts_failed']} failed; {final['vms_migrated']} VMs "
            f"moved, {final['vms_lost']} lost; {final['migrations_completed']} migrations "
            f"({', '.join(f'{k} {v}' for k, v in final['migrations_by_rung'].items())}), "
            f"{final['migrations_failed']} failed; {final['invariant_violations']} invariant "
            f"violations")
        console.print(f"next: hvroll status --state {state}")
    if outcome is not CampaignState.COMPLETED:
        raise typer.Exit(1)


MARKER = ".hvroll-demo"
"""Left in a directory the demo made, so that a next demo may replace its files."""
DEMO_FILES = ("fleet.yaml", "plan.json", "campaign.db", "campaign.db-wal", "campaign.db-shm",
              "campaign.db-journal", "campaign.db.sim.jsonl")


def _prepare(workdir: Path) -> None:
    """Make ``workdir`` ready: created (or empty) and marked as the demo's, or a previous
    demo's, whose own files only are removed. Anything else is refused untouched."""
    if workdir.exists() and not workdir.is_dir():
        raise InputError(f"{workdir}: is not a directory (expected a new or empty directory "
                         f"for --workdir)")
    if workdir.is_dir() and not (workdir / MARKER).is_file() and any(workdir.iterdir()):
        raise InputError(f"{workdir}: is not empty and was not made by 'hvroll demo' (expected "
                         f"a new or empty directory for --workdir; the demo writes "
                         f"{', '.join(DEMO_FILES[:3])} there)")
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / MARKER).write_text("made by hvroll demo; its files here may be replaced\n")
        for name in DEMO_FILES:
            (workdir / name).unlink(missing_ok=True)
    except OSError as exc:
        raise InputError(f"{workdir}: cannot prepare the demo's directory "
                         f"({exc.strerror})") from None


def _printer(quiet: bool) -> Callable[[str], None]:
    def say(text: str) -> None:
        if not quiet:
            console.print(text, highlight=False, soft_wrap=True)

    return say
