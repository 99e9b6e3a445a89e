"""The campaign report: one HTML file with everything inline — styles, SVG plots, tables — so
that it can be mailed, archived with the change ticket and read offline years later.

It holds: the summary numbers of ``hvroll status``; a timeline of the hosts per cluster
(Gantt-like: each host step from disable to done, hosts upgraded together stacked); migrations
per hour; elapsed-time and downtime histograms with percentiles per ladder rung; progress per
region; the verification matrix with the canary wave's observed cells; and every failure with
its reason. It never refers to anything outside itself: no script, no link to an asset.
"""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup

from hvroll.compat.matrix import COLUMN_TITLES, Column
from hvroll.domain.states import MigrationState
from hvroll.inventory import write_atomic
from hvroll.telemetry import render, svg
from hvroll.telemetry.metrics import BYTES_BUCKETS, DOWNTIME_BUCKETS_S, DURATION_BUCKETS_S, MIB
from hvroll.telemetry.render import STYLE, environment
from hvroll.telemetry.snapshot import Snapshot, StateSource
from hvroll.telemetry.views import (
    cluster_targets,
    computed_matrix,
    failure_reasons,
    failures,
    histogram,
    observed_matrix,
    per_hour,
    progress,
    quantile,
    row_target,
    timeline,
)

HERE = Path(__file__).resolve().parent
REPORT_STYLE = """
body { max-width: 1200px; margin: 0 auto; }
main { padding: 16px 28px; }
section.part { break-inside: avoid; }
header.report { padding: 16px 28px 0; }
@media print { .charts { grid-template-columns: 1fr; } a { color: inherit; } }
"""


def build_report(source: StateSource, *, now: datetime | None = None) -> tuple[str, int]:
    """The report's HTML and how many charts it draws."""
    snap = source.snapshot(recent_events=0)
    context = report_data(snap)
    plots = _plots(snap, context)
    env = environment(HERE / "templates")
    css = STYLE.read_text(encoding="utf-8") + REPORT_STYLE
    html = env.get_template("report.html").render(
        css=Markup(css), data=context, plots=plots,
        state_file=Path(source.target).name if "://" not in source.target else "",
        generated=(now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"))
    return html, sum(1 for p in plots.values() if "class=\"mark" in p)


def write_report(source: StateSource, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Write the report to ``path`` (atomically); what was written, as plain data."""
    html, drawn = build_report(source)
    write_atomic(os.fspath(path), html)
    state = source.snapshot(recent_events=0).campaign.state
    return {"output": os.fspath(path), "bytes": len(html.encode()), "charts": drawn,
            "state": state}


def report_data(snap: Snapshot) -> dict[str, Any]:
    """Every number the report shows, as plain data."""
    status = snap.status()
    start = snap.campaign.started_s or 0.0
    done = [m for m in snap.migrations if m.state == MigrationState.COMPLETED.value]
    matrix = observed_matrix(computed_matrix(snap.static), snap)
    return {
        "status": status,
        "regions": [r.data() for r in progress(snap)],
        "per_hour": [{"hour": h, "completed": c, "failed": f}
                     for h, c, f in per_hour(snap.migrations, start)],
        "by_rung": _by_rung(done),
        "failures": [f.data() for f in failures(snap, limit=1000)],
        "failure_reasons": [{"reason": r, "count": n, "examples": ex}
                            for r, n, ex in failure_reasons(snap.migrations)],
        "matrix": {
            "target": matrix.target.name,
            "columns": [(c.value, COLUMN_TITLES[c]) for c in Column],
            "clusters": cluster_targets(snap.static),
            "rows": [{"generation": row.generation, "clusters": list(row.clusters),
                      "hosts": row.hosts,
                      "target": row_target(row, matrix.target.name),
                      "cells": {c.value: {"symbol": row.cells[c].symbol(),
                                          "status": row.cells[c].status.value,
                                          "source": row.cells[c].source.value,
                                          "note": row.cells[c].note}
                                for c in Column}}
                     for row in matrix.rows]},
        "campaign": {"started_s": snap.campaign.started_s,
                     "finished_s": snap.campaign.finished_s,
                     "clock_s": snap.campaign.clock_s},
        "plan": {"waves": len(snap.plan.waves), "strategy": snap.plan.strategy.value,
                 "skipped_hosts": [{"host": s.host, "reason": s.reason}
                                   for s in snap.plan.skipped]},
    }


def _by_rung(done: list[Any]) -> list[dict[str, Any]]:
    groups: dict[str, list[Any]] = defaultdict(list)
    for m in done:
        groups[m.rung].append(m)
    out = []
    for rung, ms in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        elapsed = [m.elapsed_s for m in ms if m.elapsed_s is not None]
        down = [m.downtime_ms for m in ms if m.downtime_ms is not None and m.kind != "cold"]
        out.append({"rung": rung, "count": len(ms),
                    "elapsed_p50": quantile(elapsed, 0.5), "elapsed_p90": quantile(elapsed, 0.9),
                    "elapsed_max": max(elapsed, default=None),
                    "downtime_p50_ms": quantile(down, 0.5),
                    "downtime_p99_ms": quantile(down, 0.99),
                    "sent_mib": sum(m.sent_mib or 0.0 for m in ms)})
    return out


def _plots(snap: Snapshot, data: dict[str, Any]) -> dict[str, str]:
    done = [m for m in snap.migrations if m.state == MigrationState.COMPLETED.value]
    elapsed = [m.elapsed_s for m in done if m.elapsed_s is not None]
    downtime = [m.downtime_ms / 1000.0 for m in done
                if m.downtime_ms is not None and m.kind != "cold"]
    sent = [m.sent_mib * MIB for m in done if m.sent_mib is not None]
    camp = snap.campaign
    start = camp.started_s or 0.0
    end = camp.finished_s if camp.finished_s is not None else camp.clock_s
    return {
        "timeline": svg.gantt(timeline(snap), end, start_s=start,
                              title="hosts per cluster over the campaign"),
        "per_hour": render.per_hour(data["per_hour"]),
        "duration": svg.histogram_chart(
            DURATION_BUCKETS_S, histogram(elapsed, DURATION_BUCKETS_S),
            title="elapsed time of completed migrations", fmt=render.seconds,
            x_label="elapsed time (upper bound of the bin)"),
        "downtime": svg.histogram_chart(
            DOWNTIME_BUCKETS_S, histogram(downtime, DOWNTIME_BUCKETS_S),
            title="downtime of completed live migrations", fmt=render.seconds,
            x_label="downtime (upper bound of the bin)", css="s-warn"),
        "sent": svg.histogram_chart(
            BYTES_BUCKETS, histogram(sent, BYTES_BUCKETS), title="data sent per migration",
            fmt=_gib, x_label="data sent (upper bound of the bin)"),
    }


def _gib(value: float) -> str:
    gib = value / 1024**3
    return f"{gib / 1024:g}TiB" if gib >= 1024 else f"{gib:g}GiB"
