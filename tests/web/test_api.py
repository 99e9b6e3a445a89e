"""The dashboard's pages and JSON, in process: numbers equal the store's, controls need the
token, nothing external, no secret in a page."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hvroll.executor.status import status
from hvroll.planner.model import load_plan
from hvroll.store import Store
from hvroll.telemetry.metrics import render
from hvroll.telemetry.render import STYLE
from hvroll.telemetry.snapshot import StateSource
from hvroll.web import create_app
from hvroll.web.app import allowed_hosts
from telemetry.statefiles import Campaign, copy

TOKEN = "in-process-token-0123456789"
PAGES = ("/", "/hosts", "/matrix", "/migrations", "/migrations?state=failed")
APIS = ("/api/status", "/api/overview", "/api/hosts", "/api/matrix", "/api/migrations",
        "/api/events", "/api/marker")
EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


@pytest.fixture
def made(finished: Campaign, tmp_path: Path) -> Campaign:
    return copy(finished, tmp_path)


@pytest.fixture
def client(made: Campaign) -> Iterator[TestClient]:
    source = StateSource(made.state)
    with TestClient(create_app(source, TOKEN), base_url="http://127.0.0.1") as c:
        yield c
    source.close()


def sql(made: Campaign, query: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{made.state}?mode=ro", uri=True)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def store_status(made: Campaign) -> dict[str, object]:
    store = Store(made.state)
    try:
        return status(store)
    finally:
        store.close()


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_with_a_strict_content_policy(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert not EXTERNAL.search(response.text), "a page refers to another origin"


@pytest.mark.parametrize("path", APIS)
def test_every_page_has_its_json(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"


def test_status_json_is_hvroll_status(client: TestClient, made: Campaign) -> None:
    assert client.get("/api/status").json() == store_status(made)


def test_overview_shows_the_store_s_numbers(client: TestClient, made: Campaign) -> None:
    expected = store_status(made)
    html = client.get("/").text
    for key in ("migrations_completed", "migrations", "hosts_upgraded", "hosts_total",
                "migrations_failed", "vms_migrated"):
        assert f'data-stat="{key}">{expected[key]:,}<' in html, key


def test_overview_lists_what_needs_an_operator(client: TestClient, made: Campaign) -> None:
    failures = client.get("/api/overview").json()["failures"]
    failed_vms = {row[0] for row in sql(made, "SELECT vm FROM migration WHERE state='failed'")}
    failed_hosts = {row[0] for row in sql(made, "SELECT host FROM host_step "
                                                "WHERE state='failed'")}
    assert {f["vm"] for f in failures if f["kind"] == "migration_failed"} == failed_vms
    assert {f["subject"] for f in failures if f["kind"] == "host_failed"} == failed_hosts


@pytest.mark.parametrize(("query", "where"), [
    ("state=failed", "state = 'failed'"),
    ("rung=cold", "rung = 'cold'"),
    ("region=lab02&state=completed", "region = 'lab02' AND state = 'completed'"),
    ("vm=0001", "vm LIKE '%0001%'"),
])
def test_migration_filters_match_sql(client: TestClient, made: Campaign, query: str,
                                     where: str) -> None:
    data = client.get(f"/api/migrations?{query}&limit=5000").json()
    expected = sorted(row[0] for row in sql(made, f"SELECT id FROM migration WHERE {where}"))
    assert data["matching"] == len(expected)
    assert sorted(m["id"] for m in data["rows"]) == expected


def test_migrations_page_through_with_offset(client: TestClient) -> None:
    first = client.get("/api/migrations?limit=10").json()
    second = client.get("/api/migrations?limit=10&offset=10").json()
    assert len(first["rows"]) == len(second["rows"]) == 10
    assert not {m["id"] for m in first["rows"]} & {m["id"] for m in second["rows"]}


def test_vm_json_has_every_migration_and_attempt(client: TestClient, made: Campaign) -> None:
    ((vm,),) = sql(made, "SELECT vm FROM migration WHERE state = 'failed' LIMIT 1")
    data = client.get(f"/api/vms/{vm}").json()
    assert data["vm"]["name"] == vm
    migrations = sql(made, f"SELECT id, attempts FROM migration WHERE vm = '{vm}' ORDER BY id")
    assert [(m["id"], len(m["attempts"])) for m in data["migrations"]] == migrations
    assert data["verdicts"], "a moved VM has the verdicts of its moves"


def test_an_unknown_vm_is_404(client: TestClient) -> None:
    assert client.get("/vms/no-such-vm").status_code == 404
    assert client.get("/api/vms/no-such-vm").status_code == 404


def test_metrics_endpoint_is_the_collector_s_exposition(client: TestClient,
                                                        made: Campaign) -> None:
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")

    def stable(text: str) -> list[str]:
        return [line for line in text.splitlines() if "store_read_seconds" not in line]

    source = StateSource(made.state)
    expected = render(source).decode()
    source.close()
    assert stable(response.text) == stable(expected)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-0000000000"},
                                     {"Authorization": f"Basic {TOKEN}"},
                                     {"X-Hvroll-Token": "nope"}])
def test_controls_without_the_token_are_refused(client: TestClient, made: Campaign,
                                                headers: dict[str, str]) -> None:
    for action in ("pause", "resume", "abort"):
        assert client.post(f"/api/control/{action}", headers=headers).status_code == 403
    assert sql(made, "SELECT count(*) FROM control") == [(0,)]


@pytest.mark.parametrize("headers", [{"Authorization": f"Bearer {TOKEN}"},
                                     {"X-Hvroll-Token": TOKEN}])
def test_controls_with_the_token_write_a_control_row(client: TestClient, made: Campaign,
                                                     headers: dict[str, str]) -> None:
    response = client.post("/api/control/pause", headers=headers)
    assert response.status_code == 202
    assert sql(made, "SELECT action, handled FROM control") == [("pause", 0)]
    assert client.get("/api/overview").json()["pending_controls"] == ["pause"]


def test_an_unknown_control_is_404_and_writes_nothing(client: TestClient,
                                                      made: Campaign) -> None:
    response = client.post("/api/control/reboot", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404
    assert sql(made, "SELECT count(*) FROM control") == [(0,)]


def test_controls_are_post_only(client: TestClient) -> None:
    assert client.get("/api/control/pause").status_code == 405


def test_the_token_appears_in_no_page(client: TestClient) -> None:
    vm = client.get("/api/migrations?limit=1").json()["rows"][0]["vm"]
    for path in (*PAGES, *APIS, f"/vms/{vm}", f"/api/vms/{vm}", "/metrics"):
        assert TOKEN not in client.get(path).text, path


def test_a_foreign_host_header_is_refused(made: Campaign) -> None:
    """A page of another site that resolves its own name to 127.0.0.1 cannot read it."""
    source = StateSource(made.state)
    with TestClient(create_app(source, TOKEN), base_url="http://evil.example") as c:
        assert c.get("/api/status").status_code == 400
    source.close()


@pytest.mark.parametrize(("bound", "names", "host", "status"), [
    ("127.0.0.2", (), "127.0.0.2", 200),
    ("127.0.0.2", (), "127.0.0.1", 200),          # a loopback address: loopback names too
    ("127.0.0.2", (), "evil.example", 400),
    ("10.1.2.3", (), "10.1.2.3", 200),
    ("10.1.2.3", (), "127.0.0.1", 400),           # not a loopback bind: only its address
    ("10.1.2.3", (), "evil.example", 400),
    ("10.1.2.3", ("hvroll.example.org",), "hvroll.example.org", 200),
    ("0.0.0.0", (), "evil.example", 400),
    ("0.0.0.0", ("hvroll.example.org",), "hvroll.example.org", 200),
    ("::1", (), "[::1]", 200),
    ("fd00::7", (), "[fd00::7]", 200),
    ("fd00::7", (), "evil.example", 400),
])
def test_the_host_header_is_checked_whatever_the_bound_address(
        made: Campaign, bound: str, names: tuple[str, ...], host: str, status: int) -> None:
    """DNS rebinding: the dashboard answers only the names it is reached by."""
    source = StateSource(made.state)
    app = create_app(source, TOKEN, hosts=allowed_hosts(bound, names))
    with TestClient(app, base_url=f"http://{host}") as c:
        assert c.get("/api/status").status_code == status
    source.close()


def test_a_state_file_without_campaign_is_a_503_page(tmp_path: Path) -> None:
    Store(tmp_path / "empty.db", create=True).close()
    source = StateSource(tmp_path / "empty.db")
    with TestClient(create_app(source, TOKEN), base_url="http://127.0.0.1") as c:
        page = c.get("/")
        assert page.status_code == 503 and "holds no campaign" in page.text
        assert c.get("/api/status").status_code == 503
    source.close()


def test_an_empty_token_is_refused_at_start(made: Campaign) -> None:
    source = StateSource(made.state)
    with pytest.raises(Exception, match="token is empty"):
        create_app(source, "")
    source.close()


def test_the_style_sheet_is_the_one_the_report_inlines(client: TestClient) -> None:
    reply = client.get("/static/style.css")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/css")
    assert reply.text == STYLE.read_text(encoding="utf-8")


def test_the_matrix_names_the_profile_each_cluster_goes_to(client: TestClient,
                                                          made: Campaign) -> None:
    data = client.get("/api/matrix").json()
    plan = load_plan(made.plan)
    assert data["clusters"] == {s.cluster: s.target for s in plan.host_steps()}
    page = client.get("/matrix").text
    assert 'id="cluster-targets"' in page


def test_the_dashboard_names_skipped_hosts_and_crashed_vms(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    from telemetry.statefiles import campaign

    made = campaign(tmp_path_factory, "accounts")
    source = StateSource(made.state)
    try:
        with TestClient(create_app(source, TOKEN), base_url="http://127.0.0.1") as c:
            html = c.get("/").text
            data = c.get("/api/overview").json()
    finally:
        source.close()
    assert ", 4 hosts skipped, 1 VM crashed</span></h1>" in html
    assert 'data-stat="vms_crashed">1<' in html
    skipped = html[html.index('id="skipped-hosts"'):]
    assert "bdw-u2 (by the plan): VM &#39;gpu-1&#39; cannot move" in skipped
    assert "sky-u4" in html[html.index('id="crashed-vms"'):]
    assert data["status"]["crashed_vms"][0]["vm"] == "app-sky"
    kinds = [f["kind"] for f in data["failures"]]
    assert kinds.count("host_skipped") == 4 and kinds.count("vm_crashed") == 1
