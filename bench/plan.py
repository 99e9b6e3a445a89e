"""Planner benchmark: hvroll's roll-forward against the two baselines, in one run.

    .venv/bin/python bench/plan.py [--presets enterprise,public] [--seed 1] [--no-cli]

For each preset it generates the fleet, then plans the same upgrade with each strategy and
prints planning time (wall and CPU), migrations per VM, the estimated makespan over the lower
bound (``ratio``) and over the lower bound under the policy's rules (``policy``), and the
ratios of each baseline to roll-forward; then roll-forward's planning time over its goal
(``docs/performance.md``), the hosts it keeps back (pinned by a VM that cannot leave them, or
chosen as a cluster's legacy pool) and the peak memory of the process. For a preset with a
goal for it (``public``), it then writes the fleet as an inventory file and times ``hvroll
plan`` on it end to end, as an operator runs it (load, plan, write), in a child process: its
wall and CPU seconds and its peak resident memory (``--no-cli`` skips it). Machines are
noisy: compare ratios and CPU seconds, not wall seconds.

Targets follow the domain brief: ``enterprise`` goes to CPv2, Broadwell hosts to CPv2 booted
with nosmap (CPv2n); ``public`` goes to newton and allows cold migration in maintenance
windows, since its VMs with a local disk and a volume cannot move live from a libvirt older
than 1.3.3.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from hvroll.domain import Fleet
from hvroll.inventory import save_fleet
from hvroll.planner.build import Targets, plan
from hvroll.planner.model import Plan, Policy, SkipCause, Strategy
from hvroll.synthetic.generate import generate

GOALS_S = {"enterprise": 3.0, "public": 30.0}
"""Roll-forward planning time goals, seconds (issue #16)."""
CLI_GOALS = {"public": (45.0, 2048.0)}
"""``hvroll plan`` end to end (load, plan, write): wall seconds and peak resident MiB."""


def setups(preset: str, fleet: Fleet) -> tuple[Targets, Policy]:
    if preset == "public":
        return Targets(default=fleet.profile_by_name["newton"]), Policy(allow_cold_migration=True)
    return (Targets(default=fleet.profile_by_name["CPv2"],
                    by_name={"Broadwell": fleet.profile_by_name["CPv2n"]}), Policy())


def row(preset: str, result: Plan, seconds: float, cpu_s: float) -> dict[str, float | str]:
    s = result.summary
    return {"preset": preset, "strategy": result.strategy.value, "plan_s": seconds,
            "cpu_s": cpu_s,
            "hosts": s.hosts, "vms": s.vms, "migrations": s.migrations,
            "per_vm": s.migrations_per_vm, "max_moves": s.max_moves_per_vm,
            "makespan_h": s.estimated_makespan_s / 3600, "bound_h": s.lower_bound_s / 3600,
            "ratio": s.estimated_makespan_s / s.lower_bound_s if s.lower_bound_s else 0.0,
            "policy_ratio": (s.estimated_makespan_s / s.policy_bound_s if s.policy_bound_s
                             else 0.0),
            "skipped": s.skipped_hosts}


def kept_back(fleet: Fleet, result: Plan) -> str:
    """The hosts ``result`` keeps back (legacy pools), per cluster: those pinned by a VM that
    cannot leave them, and those the plan chose, against the goal of at most one chosen per
    cluster."""
    s = result.summary
    kept = [k for k in result.skipped if k.cause is SkipCause.LEGACY_POOL]
    clusters = {k.host: fleet.host_by_name[k.host].cluster for k in kept}
    chosen = Counter(clusters[k.host] for k in kept if not k.pinned_by)
    over = sorted(c for c, n in chosen.items() if n > 1)
    others = f"{s.skipped_hosts - s.kept_back_hosts} other hosts skipped"
    if not kept:
        return f"keeps back no host; {others}"
    return (f"keeps back {s.kept_back_hosts} hosts in {len(set(clusters.values()))} "
            f"clusters: {s.pinned_hosts} pinned by a VM that cannot leave them, "
            f"{s.kept_back_hosts - s.pinned_hosts} chosen as pools, at most "
            f"{max(chosen.values(), default=0)} in a cluster (goal 1; more in "
            f"{', '.join(over) or 'none'}: see their reasons); {others}")


HIGH_WATER = """
import atexit, runpy, sys
def high_water(path):
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(path, "w") as out:
        out.write(kib)
atexit.register(high_water, sys.argv[1])
sys.argv = ["hvroll", *sys.argv[2:]]
runpy.run_module("hvroll", run_name="__main__")
"""
"""Runs ``hvroll`` with its arguments after the first, and writes to the first, at exit, the
peak resident memory of the program it became, in KiB (``VmHWM``: the child's own
``ru_maxrss`` would count its parent's, whose memory it shared until its ``exec``)."""


def cli_plan(fleet: Fleet, preset: str, targets: Targets, policy: Policy) -> str:
    """``hvroll plan`` of ``fleet``'s inventory file, timed in a child process: what it took
    against :data:`CLI_GOALS`."""
    wall_goal, peak_goal = CLI_GOALS[preset]
    with tempfile.TemporaryDirectory() as tmp:
        inventory, out, peak_file = (Path(tmp) / "fleet.yaml", Path(tmp) / "plan.json",
                                     Path(tmp) / "peak")
        save_fleet(fleet, inventory)
        args = [sys.executable, "-c", HIGH_WATER, str(peak_file), "plan", str(inventory),
                "-o", str(out)]
        if targets.default is not None:
            args += ["--target", targets.default.name]
        args += [f"--target-for={name}={p.name}" for name, p in targets.by_name.items()]
        if policy.allow_cold_migration:
            args.append("--allow-cold-migration")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode:
            sys.exit(f"hvroll plan failed (exit {done.returncode}): {done.stderr.strip()}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak = int(peak_file.read_text()) / 1024
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return (f"hvroll plan end to end (load, plan, write) {wall:.1f} s wall, {cpu:.1f} s CPU, "
            f"peak {peak:,.0f} MiB; goal {wall_goal:g} s, {peak_goal:,.0f} MiB: "
            f"x{wall / wall_goal:.2f}, x{peak / peak_goal:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="enterprise,public")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-cli", action="store_true",
                        help="skip timing 'hvroll plan' end to end on an inventory file")
    args = parser.parse_args()
    header = (f"{'preset':<11}{'strategy':<17}{'plan s':>8}{'CPU s':>8}{'hosts':>7}{'VMs':>8}"
              f"{'migr.':>8}{'per VM':>8}{'max':>5}{'makespan h':>12}{'bound h':>9}"
              f"{'ratio':>7}{'policy':>8}{'skipped':>9}")
    print(header)
    wrote = ""
    for preset in args.presets.split(","):
        fleet = generate(preset, args.seed)
        targets, policy = setups(preset, fleet)
        rows, plans = {}, {}
        for strategy in Strategy:
            start, cpu = time.perf_counter(), time.process_time()
            result = plans[strategy] = plan(fleet, targets, policy, strategy)
            r = rows[strategy] = row(preset, result, time.perf_counter() - start,
                                     time.process_time() - cpu)
            print(f"{r['preset']:<11}{r['strategy']:<17}{r['plan_s']:>8.2f}{r['cpu_s']:>8.2f}"
                  f"{r['hosts']:>7}"
                  f"{r['vms']:>8}{r['migrations']:>8}{r['per_vm']:>8.3f}{r['max_moves']:>5}"
                  f"{r['makespan_h']:>12.2f}{r['bound_h']:>9.2f}{r['ratio']:>7.3f}"
                  f"{r['policy_ratio']:>8.3f}{r['skipped']:>9}", flush=True)
        ours = rows[Strategy.ROLL_FORWARD]
        for strategy in (Strategy.EVACUATE_RETURN, Strategy.SCHEDULER):
            other = rows[strategy]
            print(f"  {preset}: {strategy.value} / roll-forward: migrations per VM "
                  f"{float(other['per_vm']) / float(ours['per_vm']):.2f}x, makespan "
                  f"{float(other['makespan_h']) / float(ours['makespan_h']):.2f}x")
        goal = GOALS_S.get(preset)
        if goal is not None:
            print(f"  {preset}: roll-forward plan {float(ours['plan_s']):.2f} s wall, "
                  f"{float(ours['cpu_s']):.2f} s CPU; goal {goal:g} s: "
                  f"x{float(ours['plan_s']) / goal:.2f} wall, x{float(ours['cpu_s']) / goal:.2f} "
                  f"CPU; estimated makespan/bound {float(ours['ratio']):.3f}, under the "
                  f"policy {float(ours['policy_ratio']):.3f} (the goal of 1.10 is the "
                  f"simulated makespan's: bench/campaign.py)")
        print(f"  {preset}: roll-forward {kept_back(fleet, plans[Strategy.ROLL_FORWARD])}")
        if preset in CLI_GOALS and not args.no_cli:
            print(f"  {preset}: {cli_plan(fleet, preset, targets, policy)}", flush=True)
            wrote = " and the inventory files it wrote for hvroll plan"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(f"peak memory of this process {peak:,.0f} MiB (its plans{wrote})")


if __name__ == "__main__":
    main()
