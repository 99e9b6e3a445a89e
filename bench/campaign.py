"""Campaign benchmark: the full ``enterprise`` upgrade on the simulator, through the real
executor, in one run.

    .venv/bin/python bench/campaign.py [--preset enterprise] [--seed 1] [--state DIR]

Prints wall time (planning and running apart), simulated events per wall second, and the
simulated makespan over the planner's estimate and lower bound. Machines are noisy: the
ratios are the result, not the seconds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hvroll.drivers.sim import SimCloud
from hvroll.executor.engine import Executor
from hvroll.executor.status import status
from hvroll.planner.build import Targets, plan, with_profiles
from hvroll.planner.model import Policy
from hvroll.store import Store
from hvroll.synthetic.generate import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="enterprise")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--state", type=Path, default=None,
                        help="directory for the state file [a temporary one]")
    args = parser.parse_args()
    workdir = args.state or Path(tempfile.mkdtemp(prefix="hvroll-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    fleet = generate(args.preset, args.seed)
    targets = Targets(default=fleet.profile_by_name["CPv2"],
                      by_name={"Broadwell": fleet.profile_by_name["CPv2n"]})
    t1 = time.perf_counter()
    result = plan(fleet, targets, Policy(allow_suspend=True, hold_after_canary=False))
    t2 = time.perf_counter()
    store = Store(workdir / "campaign.db", create=True)
    store.create_campaign(result, with_profiles(fleet, result.targets), "sim", 0.0)
    cloud = SimCloud(store.fleet(), seed=args.seed)
    executor = Executor(store, cloud)
    t3 = time.perf_counter()
    outcome = executor.run()
    t4 = time.perf_counter()
    s = status(store)
    events = cloud.events_processed
    print(f"preset {args.preset}: {len(fleet.hosts)} hosts, {len(fleet.vms)} VMs; "
          f"state in {workdir}")
    print(f"generate {t1 - t0:.1f} s, plan {t2 - t1:.1f} s, load campaign {t3 - t2:.1f} s, "
          f"run {t4 - t3:.1f} s (executor turns {outcome.turns})")
    print(f"campaign {s['state']}: {s['hosts_upgraded']}/{s['hosts_total']} hosts upgraded, "
          f"{s['migrations_completed']} migrations, {s['migrations_failed']} failed, "
          f"vms_lost {s['vms_lost']}, invariant_violations {s['invariant_violations']}")
    print(f"simulated events {events} in {t4 - t3:.1f} s wall: "
          f"{events / max(t4 - t3, 1e-9):,.0f} events/s")
    makespan = s["makespan_s"]
    print(f"simulated makespan {makespan / 3600:.2f} h; planner estimate "
          f"{result.summary.estimated_makespan_s / 3600:.2f} h "
          f"(simulated/estimate {makespan / result.summary.estimated_makespan_s:.3f}); lower "
          f"bound {result.summary.lower_bound_s / 3600:.2f} h "
          f"(simulated/bound {makespan / result.summary.lower_bound_s:.3f})")


if __name__ == "__main__":
    main()
