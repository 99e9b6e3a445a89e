"""``hvroll serve`` on a control-plane run's state file: its hops, steps and events, as a page
and as JSON, read-only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from upgraderuns import rolled_back_run
from web.conftest import Server, start_server


@pytest.fixture(scope="module")
def served_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(rolled_back_run(tmp_path_factory.mktemp("served-run")),
                          "--refresh", "1")
    yield server
    server.stop()


def test_the_page_shows_each_hop_and_the_rollback_events(served_run: Server) -> None:
    page = httpx.get(served_run.url + "/", timeout=30)
    assert page.status_code == 200
    html = page.text
    assert 'id="campaign-state">rolled_back<' in html
    assert 'data-hop="1"' in html and 'data-hop="2"' in html
    assert 'data-step="h2.rollback.verify-servers" class="st-done"' in html
    assert 'data-event="run_rolling_back" class="bad"' in html
    assert "h2.hook: exit 3: hook failed on purpose" in html
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


def test_the_api_gives_the_same_numbers(served_run: Server) -> None:
    data = httpx.get(served_run.url + "/api/upgrade", timeout=30).json()
    assert [h["hop"] for h in data["hops"]] == [1, 2]
    assert data["state"] == "rolled_back"
    assert data["events"][-1]["kind"] == "run_rolled_back"
    marker = httpx.get(served_run.url + "/api/marker", timeout=30).json()["marker"]
    assert marker.endswith(":rolled_back")


def test_the_dashboard_writes_nothing(served_run: Server) -> None:
    state = Path(served_run.state)
    before = state.stat().st_mtime_ns
    httpx.get(served_run.url + "/", timeout=30)
    assert httpx.post(served_run.url + "/api/control/abort", timeout=30).status_code in (
        404, 405)
    assert state.stat().st_mtime_ns == before
