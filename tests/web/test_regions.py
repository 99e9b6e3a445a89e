"""The dashboard shows which executor drives which region when regions are driven by their own
executors (``hvroll run --region``, ``hvroll worker``): each region's state and the holder of
its lease, named ``PID@HOST`` as a worker names itself; nothing of it for a campaign one
process drives whole."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from campaigns import targets_of, three_regions
from hvroll.inventory import save_fleet
from hvroll.planner.build import plan
from hvroll.planner.model import Policy, save_plan
from hvroll.store import Store
from hvroll.store.lease import Lease
from hvroll.telemetry.snapshot import StateSource
from hvroll.web import create_app
from telemetry.statefiles import Campaign, copy

TOKEN = "in-process-token-0123456789"


@pytest.fixture(scope="module")
def one_region_done(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three regions; lab03 driven to its end by its own ``hvroll run --region``."""
    where = tmp_path_factory.mktemp("regions")
    fleet = three_regions()
    save_fleet(fleet, where / "fleet.yaml")
    save_plan(plan(fleet, targets_of(fleet), Policy(allow_suspend=True),
                   inventory=str(where / "fleet.yaml")), where / "plan.json")
    done = subprocess.run([sys.executable, "-m", "hvroll", "run", str(where / "plan.json"),
                           "--state", str(where / "state.db"), "--region", "lab03",
                           "--approve", "--quiet", "--json"], capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "completed"
    return where / "state.db"


def client_of(state: Path | str) -> Iterator[TestClient]:
    source = StateSource(state)
    with TestClient(create_app(source, TOKEN), base_url="http://127.0.0.1") as c:
        yield c
    source.close()


@pytest.mark.slow
def test_the_overview_names_each_region_s_state_and_who_drives_it(
        one_region_done: Path) -> None:
    store = Store(str(one_region_done))
    lease = Lease(store, region="lab02")  # this test's process drives lab02 now
    lease.acquire()
    try:
        for client in client_of(one_region_done):
            drivers = client.get("/api/overview").json()["drivers"]
            me = f"{os.getpid()}@{socket.gethostname()}"
            assert {r: (d["state"], d["worker"]) for r, d in drivers.items()} == {
                "lab02": ("pending", me), "lab03": ("completed", None)}
            assert drivers["lab02"]["holder"]["live"] is True
            assert drivers["lab02"]["holder"]["pid"] == os.getpid()
            page = client.get("/").text
            assert "<th>driven by</th>" in page
            row = page[page.index('<tr data-region="lab02">'):]
            row = row[:row.index("</tr>")]
            assert '<td class="region-state">pending</td>' in row and me in row
            row = page[page.index('<tr data-region="lab03">'):]
            row = row[:row.index("</tr>")]
            assert '<td class="region-state">completed</td>' in row
            assert '<td class="region-driver">–</td>' in row
        lease.release()
        for client in client_of(one_region_done):  # given back: nobody drives it
            drivers = client.get("/api/overview").json()["drivers"]
            assert drivers["lab02"] == {"state": "pending", "holder": None, "worker": None}
    finally:
        lease.release()
        store.close()


def test_a_campaign_driven_whole_shows_no_region_drivers(finished: Campaign,
                                                         tmp_path: Path) -> None:
    made = copy(finished, tmp_path)
    for client in client_of(made.state):
        assert client.get("/api/overview").json()["drivers"] == {}
        assert "driven by" not in client.get("/").text
