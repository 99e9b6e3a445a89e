"""Draining a host through Nova: hvroll's nova driver against a plain openstacksdk loop.

    .venv/bin/python bench/nova_drain.py [--workdir DIR] [--servers 6] [--rounds 2]
                                         [--lm-seconds 1] [--virt fake|libvirt]

Brings up a Nova lab of two computes (needs root; or uses the lab already up in --workdir) and
drains compute1 onto compute2 and back, alternating the two ways so both see the same machine:

* hvroll: ``NovaCloud.migrate`` for each server in turn, then ``wait``/``job`` until the job
  is final (Nova's migration record ``completed`` and the server ACTIVE on the destination);
* plain: ``live_migrate_server`` for each server in turn, then poll the server's migrations
  until the newest is ``completed``.

It prints the median drain time of each way and their ratio (hvroll / plain; the goal is at
most 1.10). Machines are noisy: compare ratios, not seconds.

``--virt libvirt`` starts the lab in its libvirt mode instead (two testbed hosts, Nova's
libvirt driver): the servers are real canary guests (idle, or dirtying 16 MiB/s), every
migration a real block live migration, both ways asking Nova for block migration.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from hvroll.drivers.base import MigrationOptions
from hvroll.drivers.nova.cloud import NovaCloud
from hvroll.drivers.nova.connect import connect
from hvroll.drivers.nova.discovery import fleet_from_cloud
from hvroll.drivers.nova.facts import load_facts
from hvroll.drivers.nova.read import read_cloud
from hvroll.lab import nova
from hvroll.lab.nova import seed
from hvroll.lab.nova.layout import Layout, load_record

POLL_S = 0.5
TIMEOUT_S = 300.0


def servers_on(conn: Any, host: str) -> list[Any]:
    return sorted(conn.compute.servers(all_projects=True, compute_host=host),
                  key=lambda s: s.name)


def drain_plain(conn: Any, source: str, dest: str, block: bool = False) -> float:
    started = time.perf_counter()
    for server in servers_on(conn, source):
        before = {m.id for m in conn.compute.migrations(server_id=server.id)}
        conn.compute.live_migrate_server(server, host=dest, block_migration=block)
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            new = [m for m in conn.compute.migrations(server_id=server.id) if m.id not in before]
            if new and new[0].status == "completed":
                break
            if new and new[0].status in ("error", "failed", "cancelled"):
                raise SystemExit(f"plain: migration of {server.name} ended {new[0].status}")
            if time.monotonic() > deadline:
                raise SystemExit(f"plain: {server.name} did not migrate in {TIMEOUT_S} s")
            time.sleep(POLL_S)
    return time.perf_counter() - started


def drain_hvroll(cloud: NovaCloud, source: str, dest: str, tag: str,
                 block: bool = False) -> float:
    started = time.perf_counter()
    for vm in cloud.host(source).vms:
        job = f"{tag}-{vm}"
        cloud.migrate(job, vm, dest, MigrationOptions(block=block))
        while not (progress := cloud.job(job)).final:
            cloud.wait(POLL_S)
        if progress.phase.value != "completed":
            raise SystemExit(f"hvroll: migration of {vm} ended {progress.phase.value}: "
                             f"{progress.error}")
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, help="A running lab to use (default: start one).")
    ap.add_argument("--servers", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--lm-seconds", default="1", help="fake computes: each migration's length")
    ap.add_argument("--virt", choices=("fake", "libvirt"), default="fake",
                    help="the lab's computes: fake-virt, or Nova's libvirt driver on testbed "
                         "hosts with real guests")
    args = ap.parse_args()
    own = args.workdir is None
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hvroll-bench-nova-"))
    if own:
        nova.up(workdir, 2, 0, virt=args.virt, testbed_prefix="hvbn")
    try:
        if args.virt == "libvirt":
            drain_real(workdir, args.servers, args.rounds)
            return
        nova.set_knob(workdir, "lm_seconds", args.lm_seconds)
        conn = connect("hvroll-lab", config_file=workdir / "clouds.yaml")
        flavor = conn.compute.find_flavor("hvlab.tiny") or \
            seed.create_flavors(conn)["hvlab.tiny"]
        image = conn.image.find_image("unlabelled") or seed.create_images(conn)["unlabelled"]
        have = len(servers_on(conn, "compute1")) + len(servers_on(conn, "compute2"))
        if own or have == 0:
            for i in range(args.servers):
                conn.compute.create_server(name=f"bench-{i:02d}", flavor_id=flavor.id,
                                           image_id=image.id, networks="none",
                                           availability_zone="nova:compute1")
            deadline = time.monotonic() + TIMEOUT_S
            while any(s.status != "ACTIVE" for s in servers_on(conn, "compute1")) or \
                    len(servers_on(conn, "compute1")) < args.servers:
                if time.monotonic() > deadline:
                    raise SystemExit("servers did not become ACTIVE")
                time.sleep(1.0)
        facts = load_facts(workdir / "host-facts.yaml")
        fleet = fleet_from_cloud(read_cloud(conn), facts).fleet
        cloud = NovaCloud(conn, fleet, facts, poll_s=POLL_S)
        plain_s, hvroll_s = [], []
        hosts = ("compute1", "compute2")
        for r in range(args.rounds):
            src, dst = hosts if not servers_on(conn, "compute2") else hosts[::-1]
            plain_s.append(drain_plain(conn, src, dst))
            hvroll_s.append(drain_hvroll(cloud, dst, src, f"r{r}"))
        cloud.close()
        p, h = statistics.median(plain_s), statistics.median(hvroll_s)
        print(f"servers drained per host: {args.servers}, rounds: {args.rounds}, "
              f"lm_seconds: {args.lm_seconds}")
        print(f"plain openstacksdk loop: median {p:.2f} s  {[round(x, 2) for x in plain_s]}")
        print(f"hvroll nova driver:      median {h:.2f} s  {[round(x, 2) for x in hvroll_s]}")
        print(f"ratio hvroll / plain: {h / p:.3f} (goal <= 1.10)")
    finally:
        if own:
            nova.down(workdir)


def drain_real(workdir: Path, servers: int, rounds: int) -> None:
    """The same two ways on the lab's libvirt mode: real guests, real block migrations."""
    record = load_record(Layout(workdir))
    hosts = tuple(record.computes[:2])
    conn = connect("hvroll-lab", config_file=workdir / "clouds.yaml")
    if not servers_on(conn, hosts[0]) and not servers_on(conn, hosts[1]):
        seed.create_canary_servers(conn, [hosts[0]], servers,
                                   Path(record.canary_image["kernel"]),
                                   Path(record.canary_image["initrd"]),
                                   TIMEOUT_S + 30.0 * servers, hot=False)
    if servers_on(conn, hosts[1]):  # start from all on the first host (not timed)
        drain_plain(conn, hosts[1], hosts[0], block=True)
    count = len(servers_on(conn, hosts[0]))
    facts = load_facts(workdir / "host-facts.yaml")
    fleet = fleet_from_cloud(read_cloud(conn), facts).fleet
    cloud = NovaCloud(conn, fleet, facts, poll_s=POLL_S)
    plain_s, hvroll_s = [], []
    for r in range(rounds):
        src, dst = hosts if not servers_on(conn, hosts[1]) else hosts[::-1]
        plain_s.append(drain_plain(conn, src, dst, block=True))
        hvroll_s.append(drain_hvroll(cloud, dst, src, f"r{r}", block=True))
    cloud.close()
    p, h = statistics.median(plain_s), statistics.median(hvroll_s)
    print(f"libvirt mode (real QEMU guests, block migrations): servers drained per host: "
          f"{count}, rounds: {rounds}")
    print(f"plain openstacksdk loop: median {p:.2f} s  {[round(x, 2) for x in plain_s]}")
    print(f"hvroll nova driver:      median {h:.2f} s  {[round(x, 2) for x in hvroll_s]}")
    print(f"ratio hvroll / plain: {h / p:.3f} (goal <= 1.10)")


if __name__ == "__main__":
    main()
