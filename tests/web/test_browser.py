"""The dashboard in a real headless Chromium: every page loads from the server alone, shows
the store's numbers, draws its charts, links through to a VM, updates live while the
campaign runs, and refuses controls without the token."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from hvroll.executor.status import status
from hvroll.store import Store
from telemetry.statefiles import Campaign, copy
from web.browsers import colored_pixels
from web.conftest import TOKEN, Server, start_server

pytestmark = pytest.mark.browser


class Watched:
    """A page with what it requested and what its console said."""

    def __init__(self, page: Page, server: Server) -> None:
        self.page = page
        self.server = server
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def open(self, path: str) -> Page:
        response = self.page.goto(self.server.url + path)
        assert response is not None and response.status == 200, path
        return self.page

    def check_clean(self) -> None:
        """Nothing but the server was asked for, and no script or load error."""
        foreign = [u for u in self.requests if not u.startswith(self.server.url + "/")]
        assert foreign == []
        assert self.errors == []


@pytest.fixture
def watched(chromium: Browser, served: Server) -> Iterator[Watched]:
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    w = Watched(page, served)
    yield w
    context.close()
    w.check_clean()


def store_status(state: Path) -> dict[str, object]:
    store = Store(state)
    try:
        return status(store)
    finally:
        store.close()


def sql(state: Path, query: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def stat(page: Page, key: str) -> str:
    return page.locator(f'main [data-stat="{key}"]').first.inner_text().strip()


def assert_chart_drawn(page: Page, selector: str, min_height: float = 50) -> None:
    """The SVG is on screen with data marks of non-zero size."""
    chart = page.locator(f"{selector} svg.chart")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] >= min_height
    marks = chart.locator("rect.mark")
    assert marks.count() > 0, f"{selector}: no data mark"
    sizes = [marks.nth(i).bounding_box() for i in range(min(marks.count(), 20))]
    assert all(b is not None and b["width"] > 0 and b["height"] > 0 for b in sizes)
    assert colored_pixels(page, chart.screenshot()) > 100, f"{selector}: nothing drawn"


def test_overview_shows_the_store_s_numbers(watched: Watched, tmp_path: Path) -> None:
    page = watched.open("/")
    expected = store_status(watched.server.state)
    for key in ("migrations_completed", "migrations", "hosts_upgraded", "hosts_total",
                "migrations_failed", "hosts_failed", "vms_migrated"):
        assert stat(page, key) == f"{expected[key]:,}", key
    assert page.locator("#campaign-state [data-stat=state]").inner_text() == expected["state"]
    assert page.locator("table.progress tbody tr").count() == len(
        sql(watched.server.state, "SELECT DISTINCT region FROM host_step"))
    assert page.locator("table.failures tbody tr").count() >= int(str(
        expected["migrations_failed"])) + int(str(expected["hosts_failed"]))
    assert_chart_drawn(page, "#overall-progress", min_height=10)
    assert_chart_drawn(page, "#chart-overview-per-hour")
    page.screenshot(path=tmp_path / "overview.png", full_page=True)


def test_hosts_grid_has_every_host_in_its_state(watched: Watched, tmp_path: Path) -> None:
    page = watched.open("/hosts")
    store = Store(watched.server.state)
    hosts = len(store.fleet().hosts)
    by_state = status(store)["hosts_by_state"]
    store.close()
    assert page.locator("[data-host]").count() == hosts
    for state, n in by_state.items():
        assert page.locator(f'[data-host][data-state="{state}"]').count() == n, state
        assert page.locator(f'[data-state-count="{state}"]').inner_text() == f"{n:,}"
    done = page.locator('[data-host][data-state="done"]').first
    color = done.evaluate("e => getComputedStyle(e).backgroundColor")
    pending_like = page.locator('[data-host][data-state="not_in_plan"]').first
    assert color != pending_like.evaluate("e => getComputedStyle(e).backgroundColor")
    page.screenshot(path=tmp_path / "hosts.png", full_page=True)


def test_matrix_shows_each_generation_and_the_canary_s_observations(
        watched: Watched, tmp_path: Path) -> None:
    page = watched.open("/matrix")
    rows = page.locator("table.matrix tbody tr")
    assert {rows.nth(i).get_attribute("data-generation") for i in range(rows.count())} == {
        "Haswell", "Broadwell", "Skylake"}
    observed = page.locator("td.src-observed")
    assert observed.count() >= 1
    assert "[observed]" in observed.first.inner_text()
    page.screenshot(path=tmp_path / "matrix.png", full_page=True)


def test_migrations_charts_render_and_filters_work(watched: Watched, tmp_path: Path) -> None:
    page = watched.open("/migrations")
    state = watched.server.state
    (total,) = sql(state, "SELECT count(*) FROM migration")[0]
    assert stat(page, "matching") == f"{total:,}"
    for figure in ("#chart-per-hour", "#chart-duration", "#chart-downtime"):
        assert_chart_drawn(page, figure)
    page.screenshot(path=tmp_path / "migrations.png", full_page=True)
    page.select_option("select[name=state]", "failed")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/migrations?*state=failed*")
    failed = sorted(str(row[0]) for row in sql(state, "SELECT id FROM migration "
                                                      "WHERE state = 'failed'"))
    rows = page.locator("table.migrations tbody tr")
    assert sorted(rows.nth(i).get_attribute("data-migration") or ""
                  for i in range(rows.count())) == failed
    page.screenshot(path=tmp_path / "migrations-failed.png", full_page=True)


def test_click_through_to_a_vm_and_its_attempts(watched: Watched, tmp_path: Path) -> None:
    page = watched.open("/migrations?state=failed")
    link = page.locator("table.migrations tbody tr a").first
    vm = link.inner_text()
    link.click()
    page.wait_for_url(f"**/vms/{vm}")
    expect(page.locator("h1 [data-vm]")).to_have_text(vm)
    moves = sql(watched.server.state, f"SELECT id, attempts FROM migration WHERE vm = '{vm}'")
    for migration, attempts in moves:
        section = page.locator(f'section.move[data-migration="{migration}"]')
        assert section.locator("tr[data-attempt]").count() == attempts
    assert page.locator("table.verdicts tbody tr").count() == len(moves)
    assert_chart_drawn(page, ".chart-wide")
    page.screenshot(path=tmp_path / "vm.png", full_page=True)


def test_an_empty_chart_draws_no_colored_pixel(watched: Watched) -> None:
    """The pixel check itself can fail: a chart without data draws nothing coloured."""
    page = watched.open("/migrations?state=skipped")
    chart = page.locator("#chart-duration svg.chart")
    expect(chart).to_have_class("chart empty")
    assert colored_pixels(page, chart.screenshot()) == 0


def test_controls_need_the_token(watched: Watched) -> None:
    page = watched.open("/")
    state = watched.server.state
    before = sql(state, "SELECT count(*) FROM control")[0][0]
    with page.expect_response("**/api/control/pause") as refused:
        page.click("button[data-action=pause]")
    assert refused.value.status == 403
    expect(page.locator("#control-result")).to_contain_text("refused")
    assert sql(state, "SELECT count(*) FROM control")[0][0] == before
    page.fill("#token", TOKEN)
    with page.expect_response("**/api/control/pause") as accepted:
        page.click("button[data-action=pause]")
    assert accepted.value.status == 202
    expect(page.locator("#control-result")).to_have_text("pause requested")
    assert sql(state, "SELECT action FROM control ORDER BY id DESC LIMIT 1") == [("pause",)]
    watched.errors = [e for e in watched.errors if "403" not in e]  # the refusal, expected


def test_pages_update_live_while_the_campaign_runs(chromium: Browser, holding: Campaign,
                                                   token_file: Path, tmp_path: Path) -> None:
    """The campaign holds after its canary wave; an operator resumes it and 'hvroll run'
    finishes it while the overview is open: the page follows without being reloaded."""
    made = copy(holding, tmp_path / "live")
    server = start_server(made.state, "--token-file", str(token_file), "--refresh", "0.5")
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        watched = Watched(page, server)
        watched.open("/")
        expect(page.locator("#campaign-state [data-stat=state]")).to_have_text("holding")
        expect(page.locator("#waiting")).to_contain_text("go after the canary wave")
        page.evaluate("window.notReloaded = true")
        page.fill("#token", TOKEN)
        with page.expect_response("**/api/control/resume") as resumed:
            page.click("button[data-action=resume]")
        assert resumed.value.status == 202
        run = subprocess.run([sys.executable, "-m", "hvroll", "run", str(made.plan),
                              "--state", str(made.state), "--quiet",
                              "--no-known-issues"],
                             capture_output=True, text=True, timeout=300, check=False)
        assert run.returncode == 0, run.stderr
        expect(page.locator("#campaign-state [data-stat=state]")).to_have_text(
            "completed", timeout=30_000)
        expected = store_status(made.state)
        expect(page.locator('main [data-stat="migrations_completed"]')).to_have_text(
            f"{expected['migrations_completed']:,}")
        assert page.evaluate("window.notReloaded") is True
        page.screenshot(path=tmp_path / "live-completed.png", full_page=True)
        watched.check_clean()
    finally:
        context.close()
        server.stop()
