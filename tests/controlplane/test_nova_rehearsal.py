"""Rehearsal of control-plane upgrades on real Nova releases: nova 31 (2025.1), 32 (2025.2)
and 33 (2026.1), each in its own virtual environment installed with that release's upper
constraints, upgrading a real Nova database (SQLite) that holds servers created by Nova's own
objects. ``hvroll controlplane run`` runs the real ``nova-manage api_db sync``, ``db sync`` and
``db online_data_migrations`` of each release; the servers are checked after every hop.

What this does not cover yet: Nova's API and services (the servers are read from the cell
database, and ``nova-status upgrade check`` needs the placement API): that needs the Nova lab.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = [pytest.mark.controlplane, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RELEASES = {"2025.1": 31, "2025.2": 32, "2026.1": 33}
CACHE = Path(os.environ.get("HVROLL_CONTROLPLANE_CACHE", "/var/cache/hvroll-controlplane"))


def constraints(series: str) -> Path:
    """``shared/openstack/upper-constraints-<series>.txt`` beside the checkout (or above)."""
    for parent in ROOT.parents:
        found = parent / "shared" / "openstack" / f"upper-constraints-{series}.txt"
        if found.exists():
            return found
    raise AssertionError(f"upper-constraints-{series}.txt not found in a shared/openstack "
                         f"folder above {ROOT}")


def venvs_built() -> dict[str, Path]:
    """Each release's virtual environment in the cache, built once (the marker file is
    written last); missing ones are installed side by side."""
    folders = {series: CACHE / f"nova-{series}" for series in RELEASES}
    installs: list[tuple[Path, subprocess.Popen[bytes]]] = []
    for series, folder in folders.items():
        if (folder / ".complete").exists():
            continue
        if folder.exists():
            shutil.rmtree(folder)
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        major = RELEASES[series]
        installs.append((folder, subprocess.Popen(
            [str(folder / "bin" / "pip"), "install", "-q", "-c", str(constraints(series)),
             f"nova>={major},<{major + 1}"], stdout=subprocess.DEVNULL)))
    for folder, install in installs:
        assert install.wait() == 0, f"installing {folder.name} failed"
        (folder / ".complete").touch()
    return folders


@pytest.fixture(scope="module")
def venvs() -> dict[str, Path]:
    return venvs_built()


def hvroll(*args: str) -> list[str]:
    return [sys.executable, "-m", "hvroll", *args]


def nova_conf(work: Path) -> Path:
    conf = work / "nova.conf"
    conf.write_text(f"""\
[DEFAULT]
state_path = {work}/state
log_dir = {work}/logs
[api_database]
connection = sqlite:///{work}/db/api.sqlite
[database]
connection = sqlite:///{work}/db/cell1.sqlite
""")
    return conf


def deployment(work: Path) -> Path:
    conf = work / "nova.conf"
    log = f"echo $HVROLL_STEP >> {work}/calls-{{from}}.log &&"
    manage = f"{{bin}}nova-manage --config-file {conf}"
    dbs = f"{work}/db/api.sqlite {work}/db/cell1.sqlite"
    text = f"""\
projects: [nova]
bin: "{CACHE}/nova-{{to}}/bin/"
backup_dir: "{work}/backups/{{hop}}-{{from}}"
monitoring_patterns: "{work}/patterns.txt"
logs: ["{work}/logs/*.log"]
overrides:
  nova:
    migrate: ["{log} {manage} api_db sync", "{log} {manage} db sync"]
    online: "{log} {manage} db online_data_migrations"
commands:
  servers: "{sys.executable} {HERE / 'nova' / 'servers.py'} {work}/db/cell1.sqlite"
  api_check: "{log} {manage} db version"
  backup_db: "{log} mkdir -p {{backup_dir}} && cp {dbs} {{backup_dir}}/"
  restore_db: "{log} cp {{backup_dir}}/api.sqlite {{backup_dir}}/cell1.sqlite {work}/db/"
  backup_config: "{log} mkdir -p {{backup_dir}} && cp {conf} {{backup_dir}}/"
  hook: "{log} echo {{to}} > {work}/installed && test ! -e {work}/fail-{{to}}"
  stop: "{log} true"
  start: "{log} true"
"""
    (work / "patterns.txt").write_text(
        "# nova's log line format: date time.ms pid LEVEL logger [request] message\n"
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \d+ (DEBUG|INFO|WARNING) [\w.]+ \[" "\n")
    path = work / "deployment.yaml"
    path.write_text(text)
    return path


def seed(work: Path, venvs: dict[str, Path], count: int = 6) -> list[dict[str, object]]:
    """A Nova 31 database with ``count`` servers created by Nova's objects."""
    for name in ("db", "logs", "state"):
        (work / name).mkdir(parents=True, exist_ok=True)
    conf = nova_conf(work)
    manage = [str(venvs["2025.1"] / "bin" / "nova-manage"), "--config-file", str(conf)]
    subprocess.run([*manage, "api_db", "sync"], check=True, capture_output=True)
    subprocess.run([*manage, "db", "sync"], check=True, capture_output=True)
    subprocess.run([str(venvs["2025.1"] / "bin" / "python"), str(HERE / "nova" / "seed.py"),
                    str(conf), str(count)], check=True, capture_output=True)
    return servers(work)


def servers(work: Path) -> list[dict[str, object]]:
    out = subprocess.run([sys.executable, str(HERE / "nova" / "servers.py"),
                          str(work / "db" / "cell1.sqlite")], check=True,
                         capture_output=True, text=True).stdout
    data: list[dict[str, object]] = json.loads(out)
    return data


def schema(work: Path) -> tuple[str, str]:
    """The alembic revisions of the API and cell databases."""
    versions = []
    for name in ("api", "cell1"):
        with sqlite3.connect(work / "db" / f"{name}.sqlite") as db:
            versions.append(db.execute("SELECT version_num FROM alembic_version").fetchone()[0])
    return versions[0], versions[1]


def heads(venv_dir: Path) -> tuple[str, str]:
    """The newest alembic revision of the API and cell databases a release ships: the one no
    other migration script names as its ``down_revision``."""
    found = []
    for name in ("api", "main"):
        folder = next(venv_dir.glob(f"lib/python3*/site-packages/nova/db/{name}/migrations/"
                                    f"versions"))
        revisions, parents = set(), set()
        for script in folder.glob("*.py"):
            text = script.read_text()
            rev = re.search(r"^revision = ['\"](\w+)['\"]", text, re.M)
            down = re.search(r"^down_revision = ['\"](\w+)['\"]", text, re.M)
            if rev:
                revisions.add(rev.group(1))
            if down:
                parents.add(down.group(1))
        (head,) = revisions - parents
        found.append(head)
    return found[0], found[1]


def plan(work: Path, start: str, end: str) -> Path:
    path = work / f"plan-{start}-{end}.json"
    subprocess.run(hvroll("controlplane", "plan", "--from", start, "--to", end, "-o",
                          str(path)), check=True, capture_output=True)
    return path


def wait_for(predicate: Callable[[], bool], timeout_s: float = 600.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def run(work: Path, plan_file: Path, *extra: str) -> tuple[int, dict[str, object]]:
    done = subprocess.run(hvroll("controlplane", "run", str(plan_file), "--state",
                                 str(work / "run.db"), "--json", *extra),
                          capture_output=True, text=True, timeout=1800)
    return done.returncode, json.loads(done.stdout)


@pytest.fixture(scope="module")
def two_hops(venvs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) \
        -> dict[str, object]:
    """31 → 32 → 33 in two rolling hops; the runner is killed with SIGKILL during hop 1's
    ``nova-manage db sync`` and started again."""
    work = tmp_path_factory.mktemp("two-hops")
    before = seed(work, venvs)
    start_schema = schema(work)
    # The shortest path 2025.1 → 2026.1 is the skip-level hop: the two adjacent hops are two
    # plans, run one after the other (each with its own state file).
    first = plan(work, "2025.1", "2025.2")
    second = plan(work, "2025.2", "2026.1")
    assert json.loads(first.read_text())["path"][0]["kind"] == "rolling"
    assert json.loads(second.read_text())["path"][0]["kind"] == "rolling"
    calls = work / "calls-2025.1.log"
    runner = subprocess.Popen(hvroll("controlplane", "run", str(first), "--state",
                                     str(work / "run.db"), "-d", str(deployment(work))),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: calls.exists() and "h1.migrate:nova.2" in calls.read_text())
    finally:
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
    code1, status1 = run(work, first)
    after_first = schema(work)
    servers_first = servers(work)
    second_work_state = work / "run2.db"
    done = subprocess.run(hvroll("controlplane", "run", str(second), "--state",
                                 str(second_work_state), "-d", str(work / "deployment.yaml"),
                                 "--json"), capture_output=True, text=True, timeout=1800)
    return {"work": work, "before": before, "start_schema": start_schema, "code1": code1,
            "status1": status1, "after_first": after_first, "servers_first": servers_first,
            "code2": done.returncode, "status2": json.loads(done.stdout),
            "after_second": schema(work), "servers_second": servers(work),
            "calls": calls.read_text().splitlines(),
            "calls2": (work / "calls-2025.2.log").read_text().splitlines()}


def test_two_hops_upgrade_the_real_schema_and_keep_every_server(
        two_hops: dict[str, object]) -> None:
    assert (two_hops["code1"], two_hops["code2"]) == (0, 0)
    assert two_hops["start_schema"] == heads(CACHE / "nova-2025.1")
    assert two_hops["after_first"] == heads(CACHE / "nova-2025.2")
    assert two_hops["after_second"] == heads(CACHE / "nova-2026.1")
    assert two_hops["servers_first"] == two_hops["before"]
    assert two_hops["servers_second"] == two_hops["before"]
    for key in ("status1", "status2"):
        status = two_hops[key]
        assert isinstance(status, dict)
        (hop,) = status["hops"]
        assert hop["migration_s"] > 0
        assert hop["api_downtime_s"] is not None


def test_sigkill_during_a_migration_does_not_repeat_a_done_step(
        two_hops: dict[str, object]) -> None:
    calls = two_hops["calls"]
    assert isinstance(calls, list)
    # api_db sync was done before the kill, db sync was running: the restarted runner
    # adopted the running db sync instead of starting it again
    assert [calls.count(f"h1.migrate:nova.{n}") for n in (1, 2)] == [1, 1]
    assert calls.count("h1.backup-db") == 1
    status = two_hops["status1"]
    assert isinstance(status, dict)
    assert status["state"] == "completed"


def test_skip_level_hop_reaches_the_same_schema(venvs: dict[str, Path],
                                                 two_hops: dict[str, object],
                                                 tmp_path: Path) -> None:
    before = seed(tmp_path, venvs)
    plan_file = plan(tmp_path, "2025.1", "2026.1")
    assert [h["kind"] for h in json.loads(plan_file.read_text())["path"]] == ["skip-level"]
    code, status = run(tmp_path, plan_file, "-d", str(deployment(tmp_path)))
    assert (code, status["state"]) == (0, "completed")
    assert schema(tmp_path) == two_hops["after_second"]
    assert servers(tmp_path) == before


def test_failed_hook_at_the_middle_hop_rolls_back_to_the_old_release(
        two_hops: dict[str, object], tmp_path: Path) -> None:
    """Start from the 2025.2 database hop 2 of the two-hop run backed up, make the hook of
    2026.1 fail: the hop rolls back, the database answers nova 32's tools, every server is
    there."""
    work = two_hops["work"]
    assert isinstance(work, Path)
    backup = work / "backups" / "1-2025.2"
    for name in ("db", "logs", "state"):
        (tmp_path / name).mkdir()
    for name in ("api.sqlite", "cell1.sqlite"):
        shutil.copy(backup / name, tmp_path / "db" / name)
    nova_conf(tmp_path)
    (tmp_path / "fail-2026.1").touch()
    plan_file = plan(tmp_path, "2025.2", "2026.1")
    code, status = run(tmp_path, plan_file, "-d", str(deployment(tmp_path)))
    assert (code, status["state"]) == (1, "rolled_back")
    assert status["error"] == "h1.hook: exit 1: "
    assert schema(tmp_path) == two_hops["after_first"]
    assert servers(tmp_path) == two_hops["before"]
    steps = {s["id"]: s["state"] for s in status["step_list"]}
    assert steps["h1.rollback.restore-db"] == "done"
    assert steps["h1.rollback.verify-api"] == "done"
    assert steps["h1.rollback.verify-servers"] == "done"
