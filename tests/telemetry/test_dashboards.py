"""The Grafana dashboards query only metrics hvroll exports, in valid PromQL."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest

from hvroll.telemetry.metrics import exported_names

DASHBOARDS = sorted((Path(__file__).resolve().parents[2] / "dashboards").glob("*.json"))
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1d"}
LABEL_VALUES = re.compile(r"label_values\((.*),\s*\w+\)\s*$")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out += panel.get("panels", [])  # rows
    return out


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """``(where, PromQL)`` of every panel target and every templating query."""
    out = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            out.append((f"panel {panel['title']!r}", target["expr"]))
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            found = LABEL_VALUES.match(query)
            assert found, f"variable {var['name']}: expected label_values(SELECTOR, label)"
            out.append((f"variable {var['name']!r}", found.group(1)))
    return out


def metric_names(expr: str) -> set[str]:
    """Every metric a PromQL expression selects, from its syntax tree."""
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    names: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"a selector without a metric name in {expr!r}"
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def test_there_are_dashboards() -> None:
    assert [p.name for p in DASHBOARDS] == ["hvroll-campaign.json", "hvroll-migrations.json"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_query_selects_only_exported_metrics(path: Path) -> None:
    exported = exported_names()
    for where, expr in queries(load(path)):
        names = metric_names(expr)
        assert names, f"{path.name}: {where} selects no metric: {expr}"
        unknown = names - exported
        assert not unknown, f"{path.name}: {where} queries {sorted(unknown)}, not exported"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_has_a_query_on_the_chosen_datasource(path: Path) -> None:
    for panel in panels(load(path)):
        if panel["type"] == "row":
            continue
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"


def test_dashboards_have_distinct_uids_and_panel_ids() -> None:
    uids = [load(p)["uid"] for p in DASHBOARDS]
    assert len(set(uids)) == len(uids)
    for path in DASHBOARDS:
        ids = [p["id"] for p in panels(load(path))]
        assert len(set(ids)) == len(ids), path.name


def test_the_operators_panels_are_there() -> None:
    """Seed 003's Grafana (total migrations, migrations per day, mean elapsed time per hour
    per region) and the campaign's own (failure rate by reason, downtime percentiles, hosts
    by state per cluster)."""
    titles = {p["title"] for path in DASHBOARDS for p in panels(load(path))}
    assert {"Total migrations", "Migrations per day", "Mean elapsed time per hour per region",
            "Failure rate by reason", "Downtime percentiles", "Hosts by state in $cluster",
            "Campaign progress", "ETA", "VMs remaining"} <= titles


def test_the_parser_finds_the_metrics_of_an_expression() -> None:
    """The extraction itself: binary operators, aggregations, functions, histograms."""
    assert metric_names(
        'sum by (region) (increase(hvroll_a_sum{region=~"$region"}[1h])) / ignoring(reason) '
        'group_left sum(rate(hvroll_b_total[$__rate_interval])) or vector(0)') == {
        "hvroll_a_sum", "hvroll_b_total"}
    assert metric_names("histogram_quantile(0.9, sum by (le) (rate(up_bucket[5m])))") == {
        "up_bucket"}
