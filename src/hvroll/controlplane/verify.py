"""Verification from production data (pure): the servers the snapshot held, the monitoring
patterns the new logs must still match, and what an online-migration exit code means.

Seed 002 found, only with production data, that ``nova list`` stopped showing IP addresses
after the upgrade, and that the log-based monitoring raised alerts because log formats had
changed and the regexes that filtered known lines no longer matched. Both are gates here::

    >>> before = [Server("a1", "web", "hv1", "ACTIVE", frozenset({"10.0.0.5"}))]
    >>> after = [Server("a1", "web", "hv1", "ACTIVE", frozenset())]
    >>> compare_servers(before, after)
    ["server a1 ('web') addresses 10.0.0.5 → none"]
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hvroll.errors import InventoryError, Problem

_IP = re.compile(r"(?:\d{1,3}\.){3}\d{1,3}|[0-9a-fA-F]*:[0-9a-fA-F:]+")


@dataclass(frozen=True)
class Server:
    id: str
    name: str
    host: str
    status: str
    addresses: frozenset[str]

    def data(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "host": self.host, "status": self.status,
                "addresses": sorted(self.addresses)}


def _first(item: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in item and item[key] is not None:
            return item[key]
    return ""


def _addresses(value: Any) -> frozenset[str]:
    """IPs from Nova's ``addresses`` dict, the client's ``Networks`` dict or its older
    ``net=10.0.0.5, 10.0.0.6`` string."""
    found: set[str] = set()
    if isinstance(value, dict):
        for entries in value.values():
            for entry in entries if isinstance(entries, list) else [entries]:
                found |= _addresses(entry.get("addr") if isinstance(entry, dict) else entry)
    elif isinstance(value, list):
        for entry in value:
            found |= _addresses(entry)
    elif isinstance(value, str):
        found |= {m for m in _IP.findall(value) if m.count(":") != 1}
    return frozenset(found)


def parse_servers(text: str, what: str = "servers") -> list[Server]:
    """A JSON list of servers, as ``openstack server list --long -f json`` or the Nova API's
    ``servers`` list print them; ValueError with a one-line reason otherwise."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(data, dict) and isinstance(data.get("servers"), list):
        data = data["servers"]
    if not isinstance(data, list) or not all(isinstance(i, dict) for i in data):
        raise ValueError(f"{what}: expected a JSON list of servers, got "
                         f"{type(data).__name__}")
    out = []
    for item in data:
        sid = str(_first(item, "id", "ID"))
        if not sid:
            raise ValueError(f"{what}: a server has no id (expected 'id' or 'ID')")
        out.append(Server(sid, str(_first(item, "name", "Name")),
                          str(_first(item, "host", "Host", "OS-EXT-SRV-ATTR:host")),
                          str(_first(item, "status", "Status")),
                          _addresses(_first(item, "addresses", "Networks"))))
    return out


def compare_servers(before: Sequence[Server], after: Sequence[Server]) -> list[str]:
    """What changed for the servers of ``before``: missing, or another host, status or
    addresses. Servers only in ``after`` (created during the hop) are fine."""
    now = {s.id: s for s in after}
    problems: list[str] = []
    for old in sorted(before, key=lambda s: s.id):
        new = now.get(old.id)
        who = f"server {old.id} ({old.name!r})"
        if new is None:
            problems.append(f"{who} is no longer listed")
            continue
        for field, a, b in (("host", old.host, new.host), ("status", old.status, new.status),
                            ("addresses", _ips(old.addresses), _ips(new.addresses))):
            if a != b:
                problems.append(f"{who} {field} {a or 'none'} → {b or 'none'}")
    return problems


def _ips(values: frozenset[str]) -> str:
    return ", ".join(sorted(values))


def parse_patterns(text: str, file: str) -> list[re.Pattern[str]]:
    """The operator's monitoring patterns: one regex a line; blank lines and ``#`` comments
    are skipped. A bad regex is an InventoryError at its line."""
    patterns: list[re.Pattern[str]] = []
    problems: list[Problem] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            patterns.append(re.compile(line))
        except re.error as exc:
            problems.append(Problem(file, n, f"invalid regex ({exc.msg}, expected a Python "
                                             f"regular expression, got {line!r})"))
    if problems:
        raise InventoryError(problems)
    return patterns


def unmatched_lines(lines: Iterable[str], patterns: Sequence[re.Pattern[str]]) -> list[str]:
    """Lines no pattern matches (``re.search``): what the monitoring would now alert on."""
    return [line for line in lines if line.strip()
            and not any(p.search(line) for p in patterns)]


class Outcome(StrEnum):
    DONE = "done"
    AGAIN = "again"
    FAILED = "failed"


def repeat_outcome(exit_code: int, done_exit: int, again_exit: int | None) -> Outcome:
    """For a repeated step (online data migrations): nova-manage exits 1 while rows remain
    to migrate and 0 when none do; anything else is a failure."""
    if exit_code == done_exit:
        return Outcome.DONE
    if again_exit is not None and exit_code == again_exit:
        return Outcome.AGAIN
    return Outcome.FAILED
