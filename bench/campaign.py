"""Campaign benchmark: a whole upgrade (``enterprise`` or ``public``) on the simulator,
through the real executor, in one run.

    .venv/bin/python bench/campaign.py [--preset enterprise|public] [--seed 1] [--state DIR]
                                       [--drain-ahead N]

Prints wall and CPU time of each phase (generate, plan, create the campaign in the store,
load it into the executor, run it, read its status), simulated events per wall second, the
simulated makespan over the planner's estimate and its two lower bounds (for every plan, and
under the policy's rules: docs/planner.md, "The lower bound"), the same bounds with each
host's reinstall as the simulator drew it (the bounds of the campaign that ran), peak memory
(the process's maximum resident set), and each figure over its goal (``docs/performance.md``):
creating the campaign and the run for ``enterprise``, the whole rehearsal (the process's CPU
so far: imports, every phase, the status) for ``public``. Machines are noisy, and a shared
machine more so: CPU seconds and their ratios are the result, not wall seconds.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from hvroll.drivers.sim import SimCloud
from hvroll.executor.engine import Executor
from hvroll.executor.status import status
from hvroll.planner.bounds import plan_bounds
from hvroll.planner.build import plan, with_profiles
from hvroll.planner.model import Policy
from hvroll.store import Store
from hvroll.synthetic.generate import generate

sys.path.insert(0, str(Path(__file__).parent))
from plan import setups  # the same targets and policy as the planner bench

GOALS = {  # preset: (create the campaign s, run s, the whole rehearsal s) — issue #16
    "enterprise": (1.0, 6.0, None), "public": (None, None, 90.0)}


def peak_mib() -> float:
    """The process's peak resident memory so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Phase:
    """Wall and CPU seconds of one phase."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def done(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def ratio(value: float, goal: float | None) -> str:
    return "" if goal is None else f" (goal {goal:g} s: x{value / goal:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="enterprise")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--state", type=Path, default=None,
                        help="directory for the state file [a temporary one]")
    parser.add_argument("--drain-ahead", type=int, default=Policy().drain_ahead,
                        help="the policy's drain_ahead: hosts of a cluster drained ahead of "
                             "their reinstall [the default policy's]")
    args = parser.parse_args()
    workdir = args.state or Path(tempfile.mkdtemp(prefix="hvroll-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)

    phase = Phase()
    fleet = generate(args.preset, args.seed)
    targets, policy = setups(args.preset, fleet)
    policy = policy.model_copy(update={"allow_suspend": True, "hold_after_canary": False,
                                       "drain_ahead": args.drain_ahead})
    gen, phase = phase.done(), Phase()
    result = plan(fleet, targets, policy)
    planned, phase = phase.done(), Phase()
    store = Store(workdir / "campaign.db", create=True)
    store.create_campaign(result, with_profiles(fleet, result.targets), "sim", 0.0)
    created, phase = phase.done(), Phase()
    cloud = SimCloud(store.fleet(), seed=args.seed)
    executor = Executor(store, cloud)
    loaded, phase = phase.done(), Phase()
    outcome = executor.run()
    ran, phase = phase.done(), Phase()
    s = status(store)
    summed = phase.done()
    events = cloud.events_processed
    print(f"preset {args.preset}: {len(fleet.hosts)} hosts, {len(fleet.vms)} VMs; "
          f"state in {workdir}")
    for name, (wall, cpu) in (("generate", gen), ("plan", planned), ("create campaign", created),
                              ("load executor", loaded), ("run", ran), ("status", summed)):
        print(f"  {name:<16}{wall:>8.1f} s wall{cpu:>8.1f} s CPU")
    goal_create, goal_run, goal_all = GOALS.get(args.preset, (None, None, None))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    process = usage.ru_utime + usage.ru_stime
    print(f"create the campaign {created[1]:.2f} s CPU{ratio(created[1], goal_create)}; run "
          f"{ran[1]:.1f} s CPU{ratio(ran[1], goal_run)}; the whole rehearsal (the process so "
          f"far) {process:.1f} s CPU{ratio(process, goal_all)}; executor turns {outcome.turns}")
    print(f"campaign {s['state']}: {s['hosts_upgraded']}/{s['hosts_total']} hosts upgraded, "
          f"{s['migrations_completed']} migrations, {s['migrations_failed']} failed, "
          f"vms_lost {s['vms_lost']}, invariant_violations {s['invariant_violations']}")
    print(f"simulated events {events} in {ran[0]:.1f} s wall: "
          f"{events / max(ran[0], 1e-9):,.0f} events/s")
    makespan, summary = s["makespan_s"], result.summary
    print(f"simulated makespan {makespan / 3600:.2f} h; planner estimate "
          f"{summary.estimated_makespan_s / 3600:.2f} h "
          f"(simulated/estimate {makespan / summary.estimated_makespan_s:.3f}); the plan's "
          f"lower bound (each reinstall {policy.reinstall_s:g} s) "
          f"{summary.lower_bound_s / 3600:.2f} h "
          f"(simulated/bound {makespan / summary.lower_bound_s:.3f}); under the "
          f"policy {summary.policy_bound_s / 3600:.2f} h (simulated/bound under the policy "
          f"{makespan / summary.policy_bound_s:.3f})")
    lower, under_policy = plan_bounds(fleet, result, policy,
                                      cloud.reinstall_seconds().__getitem__)
    print(f"with the reinstalls as drawn, the bounds of the campaign that ran (no schedule of "
          f"its reinstalls beats them): lower bound {lower / 3600:.2f} h (simulated/bound "
          f"{makespan / lower:.3f}; goal 1.10); under the policy {under_policy / 3600:.2f} h "
          f"(simulated/bound under the policy {makespan / under_policy:.3f})")
    print(f"peak memory {peak_mib():,.0f} MiB (goal for public plan + rehearsal: 3072 MiB)")


if __name__ == "__main__":
    main()
