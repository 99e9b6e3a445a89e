"""Verification from production data: servers, monitoring patterns, online migrations."""

from __future__ import annotations

import json

import pytest

from hvroll.controlplane.verify import (
    Outcome,
    Server,
    compare_servers,
    parse_patterns,
    parse_servers,
    repeat_outcome,
    unmatched_lines,
)
from hvroll.errors import InventoryError


def test_parse_servers_from_the_client_and_the_api() -> None:
    client = json.dumps([{"ID": "a1", "Name": "web", "Status": "ACTIVE", "Host": "hv1",
                          "Networks": {"private": ["10.0.0.5", "fd00::5"]}}])
    api = json.dumps({"servers": [{"id": "a1", "name": "web", "status": "ACTIVE",
                                   "OS-EXT-SRV-ATTR:host": "hv1",
                                   "addresses": {"private": [{"addr": "10.0.0.5"},
                                                             {"addr": "fd00::5"}]}}]})
    old = json.dumps([{"ID": "a1", "Name": "web", "Status": "ACTIVE", "Host": "hv1",
                       "Networks": "private=10.0.0.5, fd00::5"}])
    expected = [Server("a1", "web", "hv1", "ACTIVE", frozenset({"10.0.0.5", "fd00::5"}))]
    assert parse_servers(client) == parse_servers(api) == parse_servers(old) == expected


def test_compare_servers_reports_each_change() -> None:
    before = [Server("a1", "web", "hv1", "ACTIVE", frozenset({"10.0.0.5"})),
              Server("b2", "db", "hv2", "ACTIVE", frozenset({"10.0.0.6"})),
              Server("c3", "gone", "hv2", "SHUTOFF", frozenset())]
    after = [Server("a1", "web", "hv1", "ACTIVE", frozenset()),
             Server("b2", "db", "hv3", "ERROR", frozenset({"10.0.0.6"})),
             Server("d4", "new", "hv1", "ACTIVE", frozenset())]
    assert compare_servers(before, after) == [
        "server a1 ('web') addresses 10.0.0.5 → none",
        "server b2 ('db') host hv2 → hv3",
        "server b2 ('db') status ACTIVE → ERROR",
        "server c3 ('gone') is no longer listed"]
    assert compare_servers(before[:1], before[:1]) == []


@pytest.mark.parametrize("text", ["not json", "{\"a\": 1}", "[{\"name\": \"x\"}]"])
def test_bad_server_lists_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"^servers: "):
        parse_servers(text)


def test_log_lines_no_pattern_matches() -> None:
    patterns = parse_patterns("# known lines\nINFO nova\\.\\w+ \\[req-\n\nWARNING .*deprecated\n",
                              "patterns.txt")
    lines = ["2016-07-01 INFO nova.compute [req-1 admin] ok",
             "2016-07-01 INFO nova.compute [None req-1 admin] ok",
             "2016-07-01 WARNING option x is deprecated", ""]
    assert unmatched_lines(lines, patterns) == ["2016-07-01 INFO nova.compute [None req-1 "
                                                "admin] ok"]


def test_bad_pattern_is_an_error_at_its_line() -> None:
    with pytest.raises(InventoryError) as info:
        parse_patterns("ok\n(unclosed\n", "patterns.txt")
    assert str(info.value).startswith("patterns.txt:2: invalid regex (missing ), unterminated "
                                      "subpattern")


@pytest.mark.parametrize(("code", "outcome"), [
    (0, Outcome.DONE), (1, Outcome.AGAIN), (2, Outcome.FAILED), (127, Outcome.FAILED)])
def test_online_migration_exit_codes(code: int, outcome: Outcome) -> None:
    assert repeat_outcome(code, 0, 1) is outcome
