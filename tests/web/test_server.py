"""``hvroll serve`` as operators start it: a loopback port, the token, /metrics over HTTP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hvroll.telemetry.metrics import render
from hvroll.telemetry.snapshot import StateSource
from telemetry.statefiles import Campaign, copy
from web.conftest import TOKEN, Server, start_server


def values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples
            if s.name != "hvroll_store_read_seconds"}


def test_it_listens_on_loopback_only(served: Server) -> None:
    assert served.url.startswith("http://127.0.0.1:")


def test_metrics_over_http_match_the_store(served: Server) -> None:
    response = httpx.get(f"{served.url}/metrics", timeout=30)
    assert response.status_code == 200
    source = StateSource(served.state)
    expected = render(source).decode()
    source.close()
    assert values(response.text) == values(expected)
    for name in ("hvroll_migrations_total", "hvroll_migration_duration_seconds_bucket",
                 "hvroll_migration_downtime_seconds_bucket", "hvroll_hosts",
                 "hvroll_vms_remaining", "hvroll_campaign_progress_ratio",
                 "hvroll_migration_transferred_bytes_bucket"):
        assert f"\n{name}" in response.text, name


def test_a_token_from_a_file_is_never_printed(served: Server) -> None:
    httpx.post(f"{served.url}/api/control/pause", timeout=30,
               headers={"Authorization": f"Bearer {TOKEN}"})
    assert served.output, "the server printed its URL at least"
    assert not any(TOKEN in line for line in served.output)


def test_a_generated_token_is_printed_once_at_start_and_works(finished: Campaign,
                                                              tmp_path: Path) -> None:
    made = copy(finished, tmp_path)
    server = start_server(made.state, "--access-log")
    try:
        lines = [line for line in server.output if "control token" in line]
        assert len(lines) == 1
        token = lines[0].rsplit(" ", 1)[-1]
        assert len(token) >= 24
        refused = httpx.post(f"{server.url}/api/control/pause", timeout=30)
        accepted = httpx.post(f"{server.url}/api/control/pause", timeout=30,
                              headers={"Authorization": f"Bearer {token}"})
        assert (refused.status_code, accepted.status_code) == (403, 202)
        httpx.get(f"{server.url}/", timeout=30)
    finally:
        server.stop()
    assert sum(token in line for line in server.output) == 1, "only the start line"
    assert any("POST /api/control/pause" in line for line in server.output), "access log"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hvroll", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_a_missing_state_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run("serve", "--state", str(tmp_path / "nope.db"), "--port", "0")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'nope.db'}: no such state file (expected one written by "
        f"'hvroll run PLAN --state {tmp_path / 'nope.db'}')"]


def test_a_short_token_file_is_refused(finished: Campaign, tmp_path: Path) -> None:
    short = tmp_path / "token"
    short.write_text("abc\n")
    result = run("serve", "--state", str(finished.state), "--token-file", str(short))
    assert result.returncode == 2
    assert "at least 16 characters" in result.stderr


def test_a_port_in_use_is_an_input_error(served: Server) -> None:
    port = served.url.rsplit(":", 1)[-1]
    result = run("serve", "--state", str(served.state), "--port", port)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


@pytest.mark.parametrize(("command", "words"), [
    ("serve", ["--host", "127.0.0.1", "--port", "8080", "--token-file", "--refresh",
               "Seconds", "--access-log"]),
    ("report", ["--output", "report.html", "--json", "--state"]),
])
def test_help_states_defaults_and_units(command: str, words: list[str]) -> None:
    result = run(command, "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for word in words:
        assert word in text, word
