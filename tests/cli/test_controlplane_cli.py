"""``hvroll controlplane plan`` as the operator sees it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hvroll.cli import main

DEPLOYMENT = """\
commands:
  servers: "openstack server list --long -f json"
  api_check: "openstack server list --limit 1"
  backup_db: "mysqldump --all-databases > {backup_dir}/db.sql"
  restore_db: "mysql < {backup_dir}/db.sql"
  backup_config: "tar czf {backup_dir}/etc.tgz /etc/nova"
  hook: "ansible-playbook upgrade.yml -e release={to}"
  stop: "systemctl stop nova-{phase}"
  start: "systemctl start nova-{phase}"
"""

SPIRAL = ["controlplane", "plan", "--from", "juno", "--to", "ussuri",
          "--controller-os", "ubuntu-14.04:ubuntu-20.04",
          "--compute-os", "ubuntu-14.04:ubuntu-18.04", "--compute-os", "rhel-7.1:rhel-8.2"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_icehouse_to_liberty_goes_through_juno_and_kilo(capsys: pytest.CaptureFixture[str]) \
        -> None:
    code, out, _ = run(capsys, "controlplane", "plan", "--from", "icehouse", "--to", "liberty",
                       "--json")
    data = json.loads(out)
    assert code == 0
    assert [(h["from"]["release"], h["to"]["release"], h["kind"]) for h in data["path"]] == [
        ("icehouse", "juno", "cold"), ("juno", "kilo", "cold"), ("kilo", "liberty", "cold")]
    assert data["upgrades"] == 3
    assert "kilo is a required stop for nova" in data["path"][1]["reason"]


def test_skip_level_offered_only_between_slurps(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "controlplane", "plan", "--from", "2025.1", "--to", "2026.1",
                    "--json")
    assert [h["kind"] for h in json.loads(out)["path"]] == ["skip-level"]
    _, out, _ = run(capsys, "controlplane", "plan", "--from", "2025.2", "--to", "2026.2",
                    "--json")
    assert [(h["from"]["release"], h["to"]["release"]) for h in json.loads(out)["path"]] == [
        ("2025.2", "2026.1"), ("2026.1", "2026.2")]


def test_spiral_json_names_each_os(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *SPIRAL, "--json")
    data = json.loads(out)
    assert code == 0
    assert data["path"][0]["from"] == {"release": "juno", "name": "juno",
                                       "controllers": "ubuntu-14.04",
                                       "computes-ubuntu": "ubuntu-14.04",
                                       "computes-rhel": "rhel-7.1"}
    assert (data["upgrades"], data["os_upgrades"], data["campaigns"]) == (17, 6, 3)
    assert all(h["reason"] for h in data["path"])


def test_spiral_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *SPIRAL)
    assert code == 0
    assert "Spiral" in out and "hvroll campaign" in out
    assert "17 upgrades: 11 OpenStack, 6 OS (3 hvroll campaigns)" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2026.1", "--to", "2025.1"],
     "error: no upgrade path 2026.1 (gazpacho) → 2025.1 (epoxy): it is a downgrade "
     "(database migrations only go forward)\n"),
    (["--from", "juno", "--to", "kilo", "--controller-os", "ubuntu-14.04"],
     "error: --controller-os: 'ubuntu-14.04' is not a change of OS (expected START:END such "
     "as ubuntu-14.04:ubuntu-20.04)\n"),
    (["--from", "juno", "--to", "kilo", "--compute-os", "ubuntu-14.04:rhel-7.1"],
     "error: --compute-os: 'ubuntu-14.04:rhel-7.1' changes the OS family (expected the same "
     "family at both ends, got ubuntu and rhel; give each group of computes its own "
     "--compute-os)\n"),
    (["--from", "juno", "--to", "ussuri", "--controller-os", "ubuntu-14.04:ubuntu-24.04"],
     "error: ussuri does not run on ubuntu-24.04 (controllers at the end; ubuntu releases it "
     "runs on: ubuntu-18.04, ubuntu-20.04)\n"),
])
def test_impossible_requests_exit_2_with_one_line(capsys: pytest.CaptureFixture[str],
                                                  args: list[str], message: str) -> None:
    code, out, err = run(capsys, "controlplane", "plan", *args)
    assert (code, out, err) == (2, "", message)


def test_plan_file_then_runbook(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    deployment = tmp_path / "deployment.yaml"
    deployment.write_text(DEPLOYMENT)
    code, _, _ = run(capsys, "controlplane", "plan", "--from", "2025.1", "--to", "2026.1",
                     "-o", str(plan_file))
    assert code == 0
    code, out, _ = run(capsys, "controlplane", "runbook", str(plan_file), "-d", str(deployment),
                       "--json")
    assert code == 0
    (hop,) = json.loads(out)["hops"]
    assert hop["kind"] == "skip-level (rolling)"
    assert hop["steps"][0]["id"] == "h1.snapshot-servers"
    assert [s["name"] for s in hop["rollback"]][:2] == ["stop", "restore-db"]
    code, out, _ = run(capsys, "controlplane", "runbook", str(plan_file), "-d", str(deployment))
    assert code == 0 and "h1.point-of-no-return" in out


def test_runbook_refuses_a_plan_the_catalogue_no_longer_gives(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    deployment = tmp_path / "deployment.yaml"
    deployment.write_text(DEPLOYMENT)
    run(capsys, "controlplane", "plan", "--from", "2025.1", "--to", "2026.1", "-o",
        str(plan_file))
    data = json.loads(plan_file.read_text())
    data["path"][0]["kind"] = "cold"
    plan_file.write_text(json.dumps(data))
    code, out, err = run(capsys, "controlplane", "runbook", str(plan_file), "-d",
                         str(deployment))
    assert (code, out) == (2, "")
    assert err == (f"error: {plan_file}: the catalogue now plans another path for this "
                   f"request (expected the same hops; plan again with 'hvroll controlplane "
                   f"plan')\n")


def test_run_refuses_bad_input_without_creating_the_state_file(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    run(capsys, "controlplane", "plan", "--from", "2025.1", "--to", "2025.2", "-o",
        str(plan_file))
    state = tmp_path / "run.db"
    code, out, err = run(capsys, "controlplane", "run", str(plan_file), "--state", str(state))
    assert (code, out) == (2, "")
    assert err == (f"error: {state}: a new run needs --deployment FILE (expected the "
                   f"deployment file the runbook is built from)\n")
    bad = tmp_path / "deployment.yaml"
    bad.write_text(DEPLOYMENT.replace("  hook:", "  hok:"))
    code, _, err = run(capsys, "controlplane", "run", str(plan_file), "--state", str(state),
                       "-d", str(bad))
    assert code == 2 and err.startswith(f"error: {bad}:")
    assert not state.exists()
