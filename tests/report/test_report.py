"""``hvroll report``: one self-contained HTML file whose plots render in headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Route, expect

from hvroll.executor.status import status
from hvroll.planner.model import load_plan
from hvroll.report import build_report
from hvroll.store import Store
from hvroll.telemetry.snapshot import StateSource
from telemetry.statefiles import Campaign
from web.browsers import colored_pixels

PLOTS = ("#plot-timeline", "#plot-per-hour", "#plot-duration", "#plot-downtime", "#plot-sent")


class References(HTMLParser):
    """Every attribute of the document that could load something, and every tag."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.loads: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "action", "poster", "data") and value:
                self.loads.append(f"{tag} {name}={value}")


def report_of(state: Path) -> str:
    source = StateSource(state)
    try:
        return build_report(source)[0]
    finally:
        source.close()


def store_status(state: Path) -> dict[str, object]:
    store = Store(state)
    try:
        return status(store)
    finally:
        store.close()


@pytest.fixture
def report_file(finished: Campaign, tmp_path: Path) -> Path:
    path = tmp_path / "report.html"
    result = subprocess.run([sys.executable, "-m", "hvroll", "report", "--state",
                             str(finished.state), "-o", str(path), "--json"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["output"] == str(path)
    assert summary["bytes"] == len(path.read_bytes())
    assert summary["charts"] == len(PLOTS)
    return path


def test_the_report_refers_to_nothing_outside_itself(finished: Campaign) -> None:
    html = report_of(finished.state)
    parser = References()
    parser.feed(html)
    assert parser.loads == []
    assert not {"script", "link", "img", "iframe", "object", "embed"} & parser.tags
    assert "@import" not in html and not re.search(r"url\(\s*['\"]?(?!data:)", html)
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) <= {"http://www.w3.org/2000/svg"}


@pytest.mark.parametrize("name", ["finished", "holding"])
def test_the_report_shows_the_store_s_numbers(name: str, request: pytest.FixtureRequest
                                              ) -> None:
    made: Campaign = request.getfixturevalue(name)
    html = report_of(made.state)
    expected = store_status(made.state)
    assert f'data-stat="state">{expected["state"]}<' in html
    for key in ("migrations_completed", "hosts_upgraded", "migrations_failed"):
        assert f'data-stat="{key}">{expected[key]:,}<' in html, key


def test_the_report_lists_every_failure(finished: Campaign) -> None:
    html = report_of(finished.state)
    for failure in store_status(finished.state)["failures"]:  # type: ignore[attr-defined]
        assert failure["host"] in html
    assert "Failed migrations by reason" in html


def test_plots_render_in_headless_chromium(chromium: Browser, report_file: Path,
                                           tmp_path: Path) -> None:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    requested: list[str] = []

    def only_the_file(route: Route) -> None:
        requested.append(route.request.url)
        if route.request.url == report_file.as_uri():
            route.continue_()
        else:
            route.abort()

    context.route("**/*", only_the_file)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(report_file.as_uri())
    expect(page.locator("h1")).to_contain_text("Campaign report")
    page.screenshot(path=tmp_path / "report.png", full_page=True)
    for plot in PLOTS:
        chart = page.locator(f"{plot} svg.chart")
        expect(chart).to_be_visible()
        assert chart.locator("rect.mark").count() > 0, plot
        shot = chart.screenshot(path=tmp_path / f"{plot[1:]}.png")
        assert colored_pixels(page, shot) > 200, f"{plot}: nothing drawn"
    assert page.locator("#matrix table.matrix tbody tr").count() == 3
    context.close()
    assert requested == [report_file.as_uri()]
    assert errors == []


def test_a_missing_state_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "hvroll", "report", "--state",
                             str(tmp_path / "nope.db"), "-o", str(tmp_path / "r.html")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists()


def test_the_report_names_the_profile_each_cluster_went_to(finished: Campaign) -> None:
    html = report_of(finished.state)
    plan = load_plan(finished.plan)
    expected = {s.cluster: s.target for s in plan.host_steps()}
    assert "Profile each cluster went to" in html
    assert {"CPv2", "CPv2n"} <= set(expected.values())
    for cluster, target in expected.items():
        assert f"<tr><td>{cluster}</td><td>{target}</td></tr>" in html, cluster


def test_the_report_names_skipped_hosts_and_crashed_vms(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    from telemetry.statefiles import campaign

    html = report_of(campaign(tmp_path_factory, "accounts").state)
    assert '<span class="outcome" data-stat="outcome_more">, 4 hosts skipped, 1 VM crashed' \
        in html
    part = html[html.index('id="skipped-hosts"'):]
    for host in ("bdw-r2", "bdw-u1", "bdw-u2", "hsw-u3"):
        assert f"<td>{host}</td><td>plan</td>" in part
    crashed = html[html.index('id="crashed-vms"'):]
    assert "<td>app-sky</td><td>sky-u4</td>" in crashed
