"""Skipped hosts (with why) and VMs left crashed are in the accounts: ``hvroll status``'s
numbers, the failures an operator must see, and the metrics (``hvroll_hosts_skipped``,
``hvroll_vms_crashed``)."""

from __future__ import annotations

import pytest

from hvroll.telemetry.metrics import render
from hvroll.telemetry.snapshot import StateSource
from hvroll.telemetry.views import failures
from telemetry.statefiles import Campaign, campaign

SKIPPED = ["bdw-r2", "bdw-u1", "bdw-u2", "hsw-u3"]


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    return campaign(tmp_path_factory, "accounts")


def test_status_names_skipped_hosts_and_crashed_vms(accounts: Campaign) -> None:
    status = StateSource(accounts.state).snapshot().status()
    assert status["state"] == "completed"
    assert status["outcome"] == "completed, 4 hosts skipped, 1 VM crashed"
    assert status["hosts_skipped"] == 4
    assert status["hosts_upgraded"] + status["hosts_failed"] + 4 == status["hosts_total"]
    assert [(h["host"], h["by"]) for h in status["skipped_hosts"]] == [
        (h, "plan") for h in SKIPPED]
    assert "GPU passthrough cannot be live-migrated" in status["skipped_hosts"][2]["reason"]
    assert status["vms_crashed"] == 1
    assert [(c["vm"], c["host"]) for c in status["crashed_vms"]] == [("app-sky", "sky-u4")]


def test_failures_list_them_for_an_operator(accounts: Campaign) -> None:
    found = failures(StateSource(accounts.state).snapshot())
    assert sorted(f.subject for f in found if f.kind == "host_skipped") == SKIPPED
    assert [f.subject for f in found if f.kind == "vm_crashed"] == ["app-sky"]


def test_metrics_count_them_with_labels(accounts: Campaign) -> None:
    text = render(StateSource(accounts.state)).decode()
    skipped = [line for line in text.splitlines() if line.startswith("hvroll_hosts_skipped{")]
    assert len(skipped) == 4
    assert sum(float(line.split()[-1]) for line in skipped) == 4.0
    assert any('cluster="c-bdw-u"' in line and 'by="plan"' in line
               and "GPU passthrough" in line for line in skipped)
    crashed = {line.split()[0]: float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("hvroll_vms_crashed{")}
    assert crashed['hvroll_vms_crashed{cluster="c-sky-u",region="r1"}'] == 1.0
    assert sum(crashed.values()) == 1.0
