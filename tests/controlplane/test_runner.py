"""Running runbooks on a toy control plane through real shell commands: completion, online
migrations repeated until done, rollback before the point of no return, pause, the lease."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from hvroll.controlplane.catalogue import shipped_catalogue
from hvroll.controlplane.journal import Journal
from hvroll.controlplane.path import Options, plan_document, plan_path
from hvroll.controlplane.runbook import build_runbook, parse_deployment
from hvroll.controlplane.runner import Runner, StepView, hop_timings, next_step, rollback_skips
from hvroll.controlplane.shell import ShellExecutor
from hvroll.domain.states import UpgradeRunState
from hvroll.store.lease import LeaseHeldError, LeaseLostError
from races import open_at_once

TOY = Path(__file__).with_name("toycp.py")
SERVERS = [{"id": "s1", "name": "web", "host": "c1", "status": "ACTIVE",
            "addresses": {"net": [{"addr": "10.0.0.5"}]}},
           {"id": "s2", "name": "db", "host": "c2", "status": "SHUTOFF",
            "addresses": {"net": [{"addr": "10.0.0.6"}]}}]


def deployment_text(d: Path) -> str:
    toy = f"{sys.executable} {TOY} {d}"
    return f"""\
projects: [toy]
overrides:
  toy:
    migrate: ["{toy} migrate {{to}}"]
    online: "{toy} online"
    check: "{toy} check"
backup_dir: "{d}/backups/{{hop}}-{{from}}"
monitoring_patterns: "{d}/patterns.txt"
logs: ["{d}/toy*.log"]
commands:
  servers: "{toy} servers"
  api_check: "{toy} api"
  backup_db: "{toy} backup {{backup_dir}}"
  restore_db: "{toy} restore {{backup_dir}}"
  backup_config: "{toy} backup {{backup_dir}}/etc"
  hook: "{toy} hook {{to}}"
  stop: "{toy} stop"
  start: "{toy} start"
"""


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    d = tmp_path / "cp"
    d.mkdir()
    (d / "db.json").write_text(json.dumps({"release": "2024.2", "servers": SERVERS}))
    (d / "api.up").touch()
    (d / "patterns.txt").write_text("^INFO toy \n")
    return d


def journal_for(d: Path, start: str, end: str, *, cold: bool = False) -> Journal:
    cat = shipped_catalogue()
    src, dst = cat.release(start), cat.release(end)
    opts = Options(projects=("toy",)) if cold else Options()
    path = plan_path(cat, src, dst, (), opts)
    dep = parse_deployment(deployment_text(d), "deployment.yaml")
    journal = Journal(d.parent / "run.db", create=True)
    journal.create(plan_document(path, src, dst), build_runbook(path, dep),
                   dep.model_dump(mode="json"), 0.0)
    return journal


def calls(d: Path) -> list[str]:
    return (d / "calls.log").read_text().splitlines()


def runner(journal: Journal, d: Path) -> Runner:
    return Runner(journal, ShellExecutor(d.parent / "jobs"), poll_s=0.02)


def test_two_rolling_hops_complete_each_step_once(toy: Path) -> None:
    journal = journal_for(toy, "2024.2", "2025.2")
    assert runner(journal, toy).run() is UpgradeRunState.COMPLETED
    assert json.loads((toy / "db.json").read_text())["release"] == "2025.2"
    steps = [c.split()[0] for c in calls(toy)]
    assert steps.count("h1.online:toy") == 3  # exit 1, 1, then 0: none remain
    once = [c for c in calls(toy) if "online:toy" not in c]
    assert len(once) == len(set(once))  # restart steps call stop then start: two lines
    assert [c for c in calls(toy) if c.startswith("h2.")][:6] == [
        "h2.snapshot-servers servers", "h2.backup-db backup", "h2.backup-config backup",
        "h2.hook hook", "h2.migrate:toy migrate", "h2.check:toy check"]
    timings = hop_timings(journal.steps())
    assert [t["hop"] for t in timings] == [1, 2]
    assert all(t["migration_s"] is not None and t["migration_s"] > 0 for t in timings)


def test_failed_hook_rolls_the_hop_back(toy: Path) -> None:
    (toy / "fail").write_text("h2.hook\n")
    journal = journal_for(toy, "2024.2", "2025.2")
    assert runner(journal, toy).run() is UpgradeRunState.ROLLED_BACK
    run = journal.require_run()
    assert (run.failed_hop, run.error) == (2, "h2.hook: exit 3: hook failed on purpose")
    assert [c for c in calls(toy) if c.startswith("h2.")] == [
        "h2.snapshot-servers servers", "h2.backup-db backup", "h2.backup-config backup",
        "h2.hook hook", "h2.rollback.stop stop", "h2.rollback.restore-db restore",
        "h2.rollback.hook hook", "h2.rollback.start start", "h2.rollback.verify-api api",
        "h2.rollback.verify-servers servers"]
    assert json.loads((toy / "db.json").read_text())["release"] == "2025.1"
    assert (toy / "installed").read_text() == "2025.1"
    assert (toy / "api.up").exists()


def test_lost_addresses_fail_the_gate_and_roll_back(toy: Path) -> None:
    """Seed 002: after the upgrade 'nova list' showed no IP addresses."""
    (toy / "lose-addresses").touch()
    journal = journal_for(toy, "2025.1", "2025.2", cold=True)
    assert runner(journal, toy).run() is UpgradeRunState.ROLLED_BACK
    assert journal.require_run().error == (
        "h1.verify-servers: server s1 ('web') addresses 10.0.0.5 → none; server s2 ('db') "
        "addresses 10.0.0.6 → none")
    servers = json.loads((toy / "db.json").read_text())["servers"]
    assert servers == SERVERS


def test_changed_log_format_fails_the_gate(toy: Path) -> None:
    """Seed 002: the monitoring's regexes stopped matching the new release's log lines."""
    (toy / "toy.log").write_text("INFO toy old line\n")
    (toy / "logformat").write_text("2026 INFO")
    journal = journal_for(toy, "2025.1", "2025.2", cold=True)
    assert runner(journal, toy).run() is UpgradeRunState.ROLLED_BACK
    assert journal.require_run().error == (
        f"h1.verify-logs: 1 new log lines match no monitoring pattern, first: {toy}/toy.log: "
        f"2026 INFO toy started on 2025.2")


def test_a_failure_after_the_point_of_no_return_stops_without_rollback(toy: Path) -> None:
    (toy / "fail").write_text("h1.hook:computes\n")
    journal = journal_for(toy, "2025.1", "2025.2")
    assert runner(journal, toy).run() is UpgradeRunState.FAILED
    assert not any(".rollback." in c for c in calls(toy))


def test_pause_then_resume(toy: Path) -> None:
    journal = journal_for(toy, "2025.1", "2025.2")
    journal.request("pause")
    assert runner(journal, toy).run() is UpgradeRunState.PAUSED
    assert not (toy / "calls.log").exists()
    assert runner(journal, toy).run() is UpgradeRunState.COMPLETED


def test_one_runner_per_state_file(toy: Path) -> None:
    """The campaigns' lease (store/lease.py) guards the run's state file: a live holder is
    refused by name, a released lease is taken, and the runner that lost it writes nothing."""
    journal = journal_for(toy, "2025.1", "2025.2")
    journal.acquire(lambda: 0.0)
    other = Journal(toy.parent / "run.db")
    with pytest.raises(LeaseHeldError, match=r"run.db: the control-plane upgrade is run by "
                                             r"another hvroll controlplane run \(host "):
        other.acquire(lambda: 1.0)
    journal.release()
    other.acquire(lambda: 2.0)
    journal.acquire(lambda: 200.0)  # other's lease expired at 62: taken over
    with pytest.raises(LeaseLostError, match="lost the control-plane upgrade's lease"):
        other.event(201.0, "late")
        other.commit()
    assert [e.kind for e in Journal(toy.parent / "run.db").events()].count("late") == 0


def test_runs_opening_a_new_state_file_at_once_all_open_it(tmp_path: Path) -> None:
    """Two operators starting runs on one new state file at the same moment both get it
    opened, and meet at the lease, never 'not a control-plane state file': the tables are
    created by one opener while the others wait. (Created by each opener table by table, more
    than half of three openers failed on a table another had just made.)"""
    for attempt in range(20):
        target = tmp_path / f"run{attempt}.db"
        outcomes = open_at_once(lambda t=target: Journal(t, create=True).engine.dispose())
        assert outcomes == ["opened"] * 3


def v(sid: str, state: str) -> StepView:
    hop = int(sid[1])
    phase = "rollback" if ".rollback." in sid else "upgrade"
    return StepView(sid, hop, phase, sid.split(".")[-1], state)


def test_next_step_decisions() -> None:
    steps = [v("h1.a", "done"), v("h1.b", "running"), v("h1.rollback.c", "pending"),
             v("h2.a", "pending"), v("h2.rollback.c", "pending")]
    assert next_step(steps, UpgradeRunState.RUNNING, None) == "h1.b"
    assert next_step(steps, UpgradeRunState.ROLLING_BACK, 2) == "h2.rollback.c"
    assert next_step(steps, UpgradeRunState.ROLLING_BACK, 1) == "h1.rollback.c"
    assert next_step(steps, UpgradeRunState.PAUSED, None) is None


@pytest.mark.parametrize(("states", "skipped"), [
    ({"snapshot-servers": "failed"},
     ["h1.rollback.stop", "h1.rollback.restore-db", "h1.rollback.hook", "h1.rollback.start",
      "h1.rollback.verify-servers"]),
    ({"snapshot-servers": "done", "stop-api": "failed"},
     ["h1.rollback.restore-db", "h1.rollback.hook"]),
    ({"snapshot-servers": "done", "stop-api": "done", "backup-db": "done", "hook": "failed"},
     []),
])
def test_rollback_skips_what_never_happened(states: dict[str, str], skipped: list[str]) \
        -> None:
    names = ["snapshot-servers", "stop-api", "backup-db", "hook", "start"]
    steps = [StepView(f"h1.{n}", 1, "upgrade", n, states.get(n, "pending")) for n in names]
    steps += [StepView(f"h1.rollback.{n}", 1, "rollback", n, "pending")
              for n in ("stop", "restore-db", "hook", "start", "verify-api", "verify-servers")]
    assert rollback_skips(steps, 1) == skipped


def test_a_job_finished_before_the_crash_is_adopted_not_rerun(toy: Path) -> None:
    """The runner died after the command ended but before it recorded the result: the
    restarted runner reads the job's result file instead of running the command again."""
    journal = journal_for(toy, "2025.1", "2025.2")
    executor = ShellExecutor(toy.parent / "jobs")
    first = journal.steps()[0]
    assert first.id == "h1.snapshot-servers"
    first.state, first.runs, first.job = "running", 1, "h1.snapshot-servers.1"
    journal.commit()
    executor.start(first.job, f"HVROLL_STEP=h1.snapshot-servers {sys.executable} {TOY} {toy} "
                              f"servers")
    while executor.poll(first.job) is None:
        pass
    assert runner(journal, toy).run() is UpgradeRunState.COMPLETED
    assert [c for c in calls(toy) if c.startswith("h1.snapshot-servers")] == [
        "h1.snapshot-servers servers"]
    assert [e.kind for e in journal.events() if e.step == "h1.snapshot-servers"] == [
        "step_adopted", "step_done"]


def test_api_down_before_the_hop_rolls_back_nothing_but_checks(toy: Path) -> None:
    """The snapshot fails (API down): nothing was changed, the rollback only checks the API,
    which is still down, so the run fails for the operator."""
    (toy / "api.up").unlink()
    journal = journal_for(toy, "2025.1", "2025.2")
    assert runner(journal, toy).run() is UpgradeRunState.FAILED
    assert calls(toy) == ["h1.snapshot-servers servers", "h1.rollback.verify-api api"]
