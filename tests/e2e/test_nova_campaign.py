"""Campaigns on the Nova lab through the CLI, judged by Nova itself (marker ``nova``).

The worked example of the README and docs/nova.md, command for command: ``hvroll lab nova up``,
``fleet discover``, ``plan``, ``run --driver nova``; afterwards Nova says every server is
ACTIVE on an upgraded host, every migration record is ``completed``, every compute service is
enabled and the anti-affinity group still holds. Then, on the same lab with one compute put
back on CPv1: ``hvroll abort`` while a migration runs, a migration Nova fails (the ladder's
next rung, then the VM reported and its host not reinstalled), a move Nova refuses ("No valid
host", the reason in ``status --json`` and the report), and a ``hvroll run`` killed (SIGKILL)
during a migration, whose restart adopts that migration (Nova lists one for the server, not
two) and finishes. Tests run in file order on one lab; the module stops it at its end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hvroll.drivers.nova.connect import connect
from hvroll.lab import nova
from hvroll.store import Store

pytestmark = pytest.mark.nova
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (
    "hvroll lab nova up --computes 3 --servers 12 --workdir {D}",
    "OS_CLIENT_CONFIG_FILE={D}/clouds.yaml hvroll fleet discover --cloud hvroll-lab -o f.yaml",
    "hvroll plan f.yaml --target CPv2 --no-hold -o p.json",
    "OS_CLIENT_CONFIG_FILE={D}/clouds.yaml hvroll run p.json --driver nova --cloud hvroll-lab "
    "--reinstall-cmd 'hvroll lab nova reinstall {{host}} --profile {{profile}} --workdir {D}' "
    "--state c.db",
)
"""The worked example of the README (with ``D``) and docs/nova.md (``/var/tmp/lab``), run here
as written (through ``sh -c``) with the lab's directory as ``D``."""
TIMEOUT_S = 900.0
CPV1, CPV2 = 2_000_000, 2_011_001
BIN = Path(sys.executable).parent


@dataclass
class Lab:
    workdir: Path
    conn: Any

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("OS_CLOUD",)}
        env.update(PATH=f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}",
                   OS_CLIENT_CONFIG_FILE=str(self.workdir / "clouds.yaml"), **extra)
        return env

    def hv(self, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["hvroll", *args], cwd=cwd, env=self.env(), text=True,
                              capture_output=True, timeout=TIMEOUT_S, check=False)
        if check:
            assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-4000:])
        return done

    def run_args(self, state: str = "c.db") -> list[str]:
        hook = f"hvroll lab nova reinstall {{host}} --profile {{profile}} --workdir {self.workdir}"
        return ["run", "p.json", "--driver", "nova", "--cloud", "hvroll-lab", "--reinstall-cmd",
                hook, "--state", state]

    def start_run(self, cwd: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(["hvroll", *self.run_args(), "--json"], cwd=cwd, env=self.env(),
                                text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def knob(self, name: str, value: str | None = None) -> None:
        nova.set_knob(self.workdir, name, value)

    def prepare(self, cwd: Path) -> dict[str, str]:
        """discover + plan (to CPv2) as the worked example does; the servers' UUIDs by name."""
        self.hv("fleet", "discover", "--cloud", "hvroll-lab", "-o", "f.yaml", cwd=cwd)
        self.hv("plan", "f.yaml", "--target", "CPv2", "--no-hold", "-o", "p.json", cwd=cwd)
        return {s.name: s.id for s in self.servers()}

    def servers(self) -> list[Any]:
        return list(self.conn.compute.servers(details=True, all_projects=True))

    def versions(self) -> dict[str, int]:
        return {((h.service_details or {}).get("host") or h.name): int(h.hypervisor_version)
                for h in self.conn.compute.hypervisors(details=True)}

    def migrations(self, uuid: str | None = None) -> list[Any]:
        query = {"server_id": uuid} if uuid else {}
        return list(self.conn.compute.migrations(**query))

    def services(self) -> dict[str, Any]:
        return {s.host: s for s in self.conn.compute.services(binary="nova-compute")}

    def power_cycle(self, host: str) -> None:
        """Reboot every server on ``host`` through Nova, as an operator does before moving a
        Windows guest live-migrated since its last power cycle: its hop would want
        ``remove_balloon``, which Nova's API cannot do (discovery counts a reboot as a power
        cycle)."""
        ids = [s.id for s in self.servers() if s.compute_host == host]
        for uuid in ids:
            self.conn.compute.reboot_server(uuid, "HARD")
        wait_for("the rebooted servers to be ACTIVE", lambda: all(
            s.status == "ACTIVE" and not s.task_state for s in self.servers() if s.id in ids))


def wait_for(what: str, probe: Callable[[], Any], proc: subprocess.Popen[str] | None = None,
             timeout_s: float = 300.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"hvroll run ended before {what}: {proc.communicate()}")
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def example(line: str, workdir: Path, cwd: Path) -> None:
    """Run one command of the worked example as written, with ``workdir`` as its ``D``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["PATH"] = f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    done = subprocess.run(["sh", "-c", line.format(D=workdir)], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=TIMEOUT_S, check=False)
    assert done.returncode == 0, (line, done.stdout[-2000:], done.stderr[-4000:])


def status(lab: Lab, cwd: Path, state: str = "c.db") -> dict[str, Any]:
    data: dict[str, Any] = json.loads(lab.hv("status", "--state", state, "--json",
                                             cwd=cwd).stdout)
    return data


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.fail("the Nova lab tests need root (run them as CI does, as root)")
    workdir = tmp_path_factory.mktemp("novacampaign") / "D"
    try:
        example(EXAMPLE[0], workdir, workdir.parent)
        yield Lab(workdir, connect("hvroll-lab", config_file=workdir / "clouds.yaml"))
    finally:
        if (workdir / "lab.json").exists():
            nova.down(workdir)


def test_worked_example_completes_and_nova_says_so(lab: Lab, tmp_path: Path) -> None:
    lab.knob("lm_seconds", "1")  # the example as documented, with quicker fake migrations
    for line in EXAMPLE[1:]:
        example(line, lab.workdir, tmp_path)
    versions = lab.versions()
    assert versions == {f"compute{i}": CPV2 for i in (1, 2, 3)}
    servers = lab.servers()
    assert len(servers) == 12
    assert [(s.name, s.status, s.task_state) for s in servers
            if s.status != "ACTIVE" or s.task_state] == []
    assert {s.compute_host for s in servers} <= set(versions)
    migrations = lab.migrations()
    assert migrations and {m.status for m in migrations} == {"completed"}
    services = lab.services()
    assert {h: (s.status, s.state) for h, s in services.items()} == {
        f"compute{i}": ("enabled", "up") for i in (1, 2, 3)}
    group = next(g for g in lab.conn.compute.server_groups(all_projects=True)
                 if g.name == "hvlab-anti")
    hosts = [lab.conn.compute.get_server(m).compute_host for m in group.member_ids]
    assert len(hosts) == len(set(hosts)) == 2
    summary = status(lab, tmp_path)
    assert summary["state"] == "completed"
    assert summary["hosts_upgraded"] == 3 and summary["hosts_failed"] == 0
    assert summary["migrations_completed"] == summary["migrations"] >= 12


@pytest.mark.parametrize(("doc", "workdir"), [("README.md", "D"),
                                              ("docs/nova.md", "/var/tmp/lab")])
def test_the_docs_show_the_worked_example_as_run_here(doc: str, workdir: str) -> None:
    text = (ROOT / doc).read_text().replace("\\\n", " ")
    text = " ".join(text.split())
    for line in EXAMPLE:
        assert f"# {line.format(D=workdir)}" in text, line


@pytest.fixture(scope="module")
def old_host(lab: Lab) -> str:
    """The compute holding the most servers, put back on CPv1 for the scenarios below."""
    counts: dict[str, int] = {}
    for s in lab.servers():
        counts[s.compute_host] = counts.get(s.compute_host, 0) + 1
    host = max(sorted(counts), key=lambda h: counts[h])
    assert counts[host] >= 3, counts
    nova.reinstall(lab.workdir, host, "CPv1")
    return host


def on(lab: Lab, host: str) -> list[Any]:
    return [s for s in lab.servers() if s.compute_host == host]


def test_abort_cancels_the_running_migration_and_its_vm_stays(lab: Lab, old_host: str,
                                                                tmp_path: Path) -> None:
    lab.power_cycle(old_host)
    lab.knob("lm_stall", "1")
    try:
        lab.prepare(tmp_path)
        before = {s.id for s in on(lab, old_host)}
        run = lab.start_run(tmp_path)
        moving = wait_for("a running Nova migration", lambda: [
            m for m in lab.migrations() if m.status == "running"], run)
        lab.hv("abort", "--state", "c.db", cwd=tmp_path)
        out, err = run.communicate(timeout=180)
    finally:
        lab.knob("lm_stall", None)
    assert run.returncode == 0, err[-4000:]
    assert json.loads(out)["state"] == "aborted"
    for m in moving:
        assert next(x for x in lab.migrations(m.server_id) if x.id == m.id).status == "cancelled"
    assert [m.status for m in lab.migrations() if m.status not in ("completed", "cancelled",
                                                                   "error")] == []
    after = {s.id: (s.compute_host, s.status) for s in lab.servers()}
    assert {m.server_id for m in moving} <= before
    for m in moving:
        assert after[m.server_id] == (old_host, "ACTIVE")
    assert lab.versions()[old_host] == CPV1
    assert lab.services()[old_host].status == "enabled"  # given back, not left disabled
    skipped = {h["host"]: h["reason"] for h in status(lab, tmp_path)["skipped_hosts"]}
    assert skipped[old_host].startswith("the campaign was aborted while the host was "
                                        "draining; scheduling enabled again"), skipped


def test_a_migration_nova_fails_climbs_the_ladder_then_is_reported_and_the_host_kept(
        lab: Lab, old_host: str, tmp_path: Path) -> None:
    lab.power_cycle(old_host)
    lab.knob("lm_seconds", "1")
    uuids = lab.prepare(tmp_path)
    name = next(s.name for s in on(lab, old_host) if s.name not in ("vm-01", "vm-02"))
    lab.knob("lm_fail", uuids[name])
    try:
        run = lab.hv(*lab.run_args(), "--json", cwd=tmp_path, check=False)
    finally:
        lab.knob("lm_fail", None)
    assert run.returncode in (0, 1), run.stderr[-4000:]
    store = Store(tmp_path / "c.db")
    try:
        [row] = [m for m in store.migrations() if m.vm == name]
        rungs = json.loads(row.rungs)
        assert (row.state, rungs[0]) == ("failed", "precopy"), (row.state, rungs)
        assert "block" in rungs  # the ladder's next rung for a failed live migration
        assert "ended error" in row.error, row.error
        others = [m for m in store.migrations() if m.vm != name]
        assert others and {m.state for m in others} == {"completed"}
    finally:
        store.close()
    assert [s.name for s in on(lab, old_host)] == [name]  # the others moved off
    assert lab.versions()[old_host] == CPV1  # not reinstalled
    summary = status(lab, tmp_path)
    assert summary["hosts_upgraded"] == 0 and summary["hosts_failed"] >= 1
    assert any(name in f["error"] and f["host"] == old_host for f in summary["failures"])
    failed_in_nova = [m for m in lab.migrations(uuids[name]) if m.status == "error"]
    assert len(failed_in_nova) >= 2  # pre-copy and block both reached Nova and failed there
    [reported] = [f for f in summary["failed_migrations"] if f["vm"] == name]
    assert reported["source"] == old_host and "ended error" in reported["error"]


def test_a_move_nova_refuses_gets_novas_reason_in_status_and_report(
        lab: Lab, old_host: str, tmp_path: Path) -> None:
    lab.power_cycle(old_host)
    uuids = lab.prepare(tmp_path)
    [name] = [s.name for s in on(lab, old_host)]
    others = [h for h in lab.services() if h != old_host]
    for host in others:  # the operator has taken every other compute out of scheduling
        lab.conn.compute.disable_service(lab.services()[host], disabled_reason="maintenance")
    try:
        run = lab.hv(*lab.run_args(), "--json", cwd=tmp_path, check=False)
    finally:
        for host in others:
            lab.conn.compute.enable_service(lab.services()[host])
    assert run.returncode in (0, 1), run.stderr[-4000:]
    summary = status(lab, tmp_path)
    assert len(summary["failed_migrations"]) == 1, (run.returncode, run.stdout[-2000:],
                                                    run.stderr[-4000:])
    [reported] = summary["failed_migrations"]
    assert reported["vm"] == name and "No valid host" in reported["error"], reported
    report = lab.hv("report", "--state", "c.db", "-o", "r.html", cwd=tmp_path)
    assert report.returncode == 0
    assert "No valid host" in (tmp_path / "r.html").read_text()
    assert [s.compute_host for s in lab.servers() if s.id == uuids[name]] == [old_host]
    assert lab.versions()[old_host] == CPV1


def test_a_killed_run_adopts_novas_migration_and_finishes(lab: Lab, old_host: str,
                                                          tmp_path: Path) -> None:
    lab.power_cycle(old_host)
    uuids = lab.prepare(tmp_path)
    [name] = [s.name for s in on(lab, old_host)]
    uuid = uuids[name]
    seen = {m.id for m in lab.migrations(uuid)}
    lab.knob("lm_seconds", "30")
    run = lab.start_run(tmp_path)
    try:
        wait_for("the server's migration to run", lambda: [
            m for m in lab.migrations(uuid) if m.id not in seen and m.status == "running"], run)
    finally:
        lab.knob("lm_seconds", "1")  # the next migrations are quick; the running one is not
    run.send_signal(signal.SIGKILL)
    run.communicate()
    again = lab.hv(*lab.run_args(), "--json", cwd=tmp_path)
    assert json.loads(again.stdout)["state"] == "completed"
    summary = status(lab, tmp_path)
    assert (summary["hosts_upgraded"], summary["failures"]) == (1, []), again.stderr[-4000:]
    new = [m for m in lab.migrations(uuid) if m.id not in seen]
    assert [m.status for m in new] == ["completed"]  # one Nova migration, adopted
    server = lab.conn.compute.get_server(uuid)
    assert server.status == "ACTIVE" and server.compute_host != old_host
    assert lab.versions()[old_host] == CPV2
    assert {s.status for s in lab.services().values()} == {"enabled"}
    store = Store(tmp_path / "c.db")
    try:
        assert store.events("lease_taken_over")
        assert len([a for a in store.attempts() if a.phase == "completed"]) >= 1
    finally:
        store.close()
