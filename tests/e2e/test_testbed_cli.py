"""A testbed rehearsal driven by hvroll's command line only, exactly as the README shows it.

``hvroll testbed up --hosts 3 --guests 4 --dirty-rate 4 -o f.yaml`` boots four canaries (their
own memory check and heartbeat), ``hvroll plan`` and ``hvroll run --driver libvirt`` upgrade
every host by real live migrations, ``hvroll status`` and ``hvroll testbed status`` say how it
went: every guest moved, none lost, no invariant violated, every guest's own health check good.
One testbed serves the module; nothing but CLI commands acts on it.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drivers.libvirt.bed import cannot_run
from hvroll.inventory import load_fleet
from hvroll.testbed.system import netns_list, pids_mentioning

pytestmark = pytest.mark.libvirt
pytest.importorskip("libvirt")

HVROLL = [sys.executable, "-m", "hvroll"]


@dataclass(frozen=True)
class Cli:
    """``hvroll`` run in one directory against one testbed work directory."""

    cwd: Path
    workdir: Path
    prefix: str

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*HVROLL, *args], cwd=self.cwd, capture_output=True, text=True,
                              check=False, timeout=900)

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = self(*args)
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
        return done

    def testbed(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self("testbed", *args, "--workdir", str(self.workdir))

    def guests(self) -> dict[str, dict[str, object]]:
        done = self.testbed("status", "--json")
        return {g["name"]: g for g in json.loads(done.stdout)["guests"]}


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    reason = cannot_run()
    if reason:
        pytest.skip(f"testbed {reason}")
    c = Cli(cwd=tmp_path_factory.mktemp("cli"), workdir=tmp_path_factory.mktemp("tb"),
            prefix=f"c{secrets.token_hex(3)}")
    try:
        up = c.testbed("up", "--hosts", "3", "--guests", "4", "--dirty-rate", "4",
                       "--prefix", c.prefix, "-o", "f.yaml")
        assert up.returncode == 0, up.stderr
        yield c
    finally:
        c.testbed("down")


def test_up_boots_four_canaries_round_robin_and_writes_a_runnable_inventory(cli: Cli) -> None:
    guests = cli.guests()
    assert {name: g["host"] for name, g in guests.items()} == {
        "canary-1": f"{cli.prefix}-h1", "canary-2": f"{cli.prefix}-h2",
        "canary-3": f"{cli.prefix}-h3", "canary-4": f"{cli.prefix}-h1"}
    assert all(g["ok"] for g in guests.values()), guests
    shown = json.loads(cli.ok("fleet", "show", "f.yaml", "--json").stdout)
    assert (shown["hosts"], shown["vms"]) == (3, 4)
    checked = json.loads(cli.ok("check", "f.yaml", "--target", "CPv2", "--json").stdout)
    assert (checked["ok"], checked["blocked"]) == (4, 0), checked["blocked_vms"]


def test_up_refuses_to_replace_an_inventory_without_force(cli: Cli) -> None:
    before = (cli.cwd / "f.yaml").read_text()
    again = cli.testbed("up", "--hosts", "3", "--guests", "4", "-o", "f.yaml")
    assert again.returncode == 2
    [line] = again.stderr.strip().splitlines()
    assert "f.yaml" in line and "--force" in line
    assert (cli.cwd / "f.yaml").read_text() == before


def test_a_campaign_from_cli_commands_only_moves_every_guest_intact(cli: Cli) -> None:
    cli.ok("plan", "f.yaml", "--target", "CPv2", "-o", "p.json")
    cli.ok("run", "p.json", "--driver", "libvirt", "--state", "c.db", "--quiet")
    summary = json.loads(cli.ok("status", "--state", "c.db", "--json").stdout)
    assert summary["state"] == "completed"
    assert summary["hosts_upgraded"] == summary["hosts_total"] == 3
    assert summary["vms_migrated"] == summary["vms_total"] == 4
    assert (summary["vms_lost"], summary["invariant_violations"]) == (0, 0)
    assert summary["migrations_completed"] == summary["migrations"] >= 4
    assert summary["migrations_failed"] == 0
    guests = cli.guests()
    assert sorted(guests) == ["canary-1", "canary-2", "canary-3", "canary-4"]
    bad = {n: (g["flags"], g["silent_s"]) for n, g in guests.items() if not g["ok"]}
    assert bad == {}
    assert cli.testbed("status").returncode == 0


def test_fleet_discover_reads_the_hosts_migratable_cpu_from_libvirt(cli: Cli) -> None:
    """``fleet discover --libvirt`` asks each host's daemon: the CPU its guests can get (TCG's
    host-model here, no invtsc), and every canary where the campaign left it."""
    refused = cli("fleet", "discover", "--libvirt", "f.yaml", "-o", "f.yaml")
    assert refused.returncode == 2
    found = json.loads(cli.ok("fleet", "discover", "--libvirt", "f.yaml", "-o", "now.yaml",
                              "--json").stdout)
    assert (found["hosts"], found["vms"]) == (3, 4)
    [generation] = found["generations"]
    assert not {"invtsc", "xsaves"} & set(generation["features"])
    where = {name: g["host"] for name, g in cli.guests().items()}
    assert {v.name: v.host for v in load_fleet(cli.cwd / "now.yaml").vms} == where
    checked = json.loads(cli.ok("check", "now.yaml", "--target", "CPv2", "--json").stdout)
    assert (checked["ok"], checked["blocked"]) == (4, 0)


def test_guest_add_and_remove(cli: Cli) -> None:
    added = json.loads(cli.testbed("guest", "add", "--host", "h2", "--json").stdout)
    assert (added["name"], added["host"], added["ok"]) == ("canary-5", f"{cli.prefix}-h2", True)
    twice = cli.testbed("guest", "add", "canary-5")
    assert twice.returncode == 2 and "already exists" in twice.stderr
    removed = json.loads(cli.testbed("guest", "remove", "canary-5", "--json").stdout)
    assert removed == {"name": "canary-5", "removed_from": [f"{cli.prefix}-h2"]}
    assert "canary-5" not in cli.guests()
    gone = cli.testbed("guest", "remove", "canary-5")
    assert gone.returncode == 2
    [line] = gone.stderr.strip().splitlines()
    assert "no guest 'canary-5'" in line


def test_down_leaves_nothing_behind(cli: Cli) -> None:
    down = json.loads(cli.ok("testbed", "down", "--workdir", str(cli.workdir),
                             "--json").stdout)
    assert len(down["destroyed_domains"]) == 4
    assert not [ns for ns in netns_list() if ns.startswith(f"{cli.prefix}-")]
    assert not pids_mentioning(f"{cli.workdir}/")
