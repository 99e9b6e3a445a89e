"""Real live migrations: hvroll's libvirt driver against plain ``virsh migrate``, same guest.

    .venv/bin/python bench/real_lm.py [--runs 10] [--dirty-mb 16 --dirty-rate 16] [--ram-mib 256]

Brings up a two-host testbed of its own (needs root), boots one canary on h1 and migrates it
back and forth, interleaving the two ways so that both see the same machine:

* hvroll: ``LibvirtCloud.migrate`` then ``wait``/``job`` until the job is final (peer-to-peer
  ``migrateToURI3`` in a thread, statistics read as it runs and at the end);
* virsh: ``virsh -c SRC migrate --live --p2p --persistent --undefinesource VM DEST``.

Each is timed from the call to the moment the caller knows the migration completed. After
every migration the guest's console is checked (new heartbeats, no memory corruption). It
prints the median of each, their ratio (hvroll / virsh; the goal is at most 1.05), and per
hvroll migration the planner's pre-copy estimate against what libvirt measured: at the
inventory's link speed (what a plan assumes) and at the throughput libvirt reported.
Machines are noisy: compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from hvroll import testbed as tb
from hvroll.drivers.base import MigrationOptions
from hvroll.drivers.libvirt import LibvirtCloud
from hvroll.planner.estimate import precopy
from hvroll.testbed.driver import for_testbed

GUEST = "bench-lm"


@dataclass(frozen=True, slots=True)
class Sample:
    way: str
    wall_s: float
    job_s: float | None = None
    sent_mib: float | None = None
    iterations: int | None = None
    downtime_ms: float | None = None
    throughput_mib_s: float | None = None


def hvroll_once(cloud: LibvirtCloud, job: str, dest: str) -> Sample:
    started = time.perf_counter()
    cloud.migrate(job, GUEST, dest, MigrationOptions())
    while not cloud.job(job).final:
        cloud.wait(1.0)
    wall = time.perf_counter() - started
    p = cloud.job(job)
    if p.error:
        raise SystemExit(f"hvroll migration {job} failed: {p.error}")
    stats = p.extra.get("stats")
    bps = stats.get("memory_bps") if isinstance(stats, dict) else None
    return Sample("hvroll", wall, p.elapsed_s, p.processed_mib, p.iteration, p.downtime_ms,
                  float(bps) / 2**20 if bps else None)


def virsh_once(source_uri: str, dest_uri: str) -> Sample:
    started = time.perf_counter()
    done = subprocess.run(["virsh", "-q", "-c", source_uri, "migrate", "--live", "--p2p",
                           "--persistent", "--undefinesource", GUEST, dest_uri],
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"virsh migrate failed: {done.stderr.strip()}")
    return Sample("virsh", wall)


def check_health(guest: tb.Guest, offset: int) -> None:
    after = tb.wait_for_heartbeats(guest.console_log, guest.console_log.stat().st_size, 1,
                                   timeout_s=20)
    health = tb.guest_health(guest.console_log, offset)
    if not (after.ok and health.ok):
        raise SystemExit(f"{GUEST} is not healthy after a migration: {health.flags} "
                         f"{after.flags} {health.problem_lines}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="migrations of each kind")
    parser.add_argument("--ram-mib", type=int, default=256)
    parser.add_argument("--dirty-mb", type=int, default=0, help="0: heartbeat only")
    parser.add_argument("--dirty-rate", type=int, default=0, help="MiB/s; 0: flat out")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="testbed work directory [default: a temporary one]")
    parser.add_argument("--prefix", default="hvbench")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hvbench-"))
    bed = tb.up(2, workdir, "CPv1", prefix=args.prefix)
    try:
        run(bed, args)
    finally:
        tb.down(bed.workdir)
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def run(bed: tb.Testbed, args: argparse.Namespace) -> None:
    h1, h2 = bed.host("h1"), bed.host("h2")
    guest = tb.define_guest(h1.uri, GUEST, ram_mib=args.ram_mib, dirty_mb=args.dirty_mb,
                            dirty_rate_mib_s=args.dirty_rate, cpu_model="kvm64")
    booted = tb.wait_for_heartbeats(guest.console_log, guest.console_offset, 4, timeout_s=120)
    if not booted.ok:
        raise SystemExit(f"{GUEST} did not boot: {booted.flags}")
    fleet = tb.build_inventory(bed.workdir)
    cloud = for_testbed(fleet)
    here, there = h1, h2
    samples: list[Sample] = []
    for i in range(args.runs):
        for way in (("hvroll", "virsh") if i % 2 == 0 else ("virsh", "hvroll")):
            offset = guest.console_log.stat().st_size
            if way == "hvroll":
                samples.append(hvroll_once(cloud, f"bench-{i}", there.name))
            else:
                samples.append(virsh_once(here.uri, there.uri))
            check_health(guest, offset)
            here, there = there, here
    cloud.close()
    report(samples, fleet.hosts[0].link_mib_s, args)


def report(samples: list[Sample], link_mib_s: float, args: argparse.Namespace) -> None:
    ours = [s for s in samples if s.way == "hvroll"]
    theirs = [s for s in samples if s.way == "virsh"]
    med_ours = statistics.median(s.wall_s for s in ours)
    med_theirs = statistics.median(s.wall_s for s in theirs)
    dirty = float(args.dirty_rate if args.dirty_mb else 0)
    print(f"{len(ours)} + {len(theirs)} migrations of a {args.ram_mib} MiB guest "
          f"(dirty_mb={args.dirty_mb}, rate={args.dirty_rate} MiB/s), interleaved")
    print(f"median wall time: hvroll {med_ours:.3f} s, virsh {med_theirs:.3f} s, "
          f"ratio {med_ours / med_theirs:.3f} (goal <= 1.05)")
    print(f"hvroll walls: {', '.join(f'{s.wall_s:.2f}' for s in ours)}")
    print(f"virsh walls:  {', '.join(f'{s.wall_s:.2f}' for s in theirs)}")
    print()
    print(f"{'#':>2} {'wall s':>7} {'job s':>6} {'MiB':>6} {'iter':>4} {'down ms':>7} "
          f"{'MiB/s':>6} {'est@link s':>10} {'est@meas s':>10}")
    for n, s in enumerate(ours):
        at_link = precopy(args.ram_mib, link_mib_s, dirty, 500.0)
        measured = precopy(args.ram_mib, s.throughput_mib_s, dirty, 500.0) \
            if s.throughput_mib_s else None
        print(f"{n:>2} {s.wall_s:7.3f} {s.job_s or 0:6.3f} {s.sent_mib or 0:6.1f} "
              f"{s.iterations or 0:4d} {s.downtime_ms or 0:7.0f} {s.throughput_mib_s or 0:6.0f} "
              f"{at_link.total_s:10.3f} "
              f"{measured.total_s if measured else float('nan'):10.3f}")
    print()
    print(f"the planner assumes the inventory's link ({link_mib_s:g} MiB/s) and every RAM page "
          f"sent; libvirt sends only non-zero pages but adds a fixed cost (destination QEMU "
          f"start, CPU checks, switch-over) that the model does not have")


if __name__ == "__main__":
    main()
