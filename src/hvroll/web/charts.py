"""The charts of each page, as inline SVG strings, drawn from the page's JSON data (the same
numbers ``/api/…`` returns) with :mod:`hvroll.telemetry.svg`."""

from __future__ import annotations

from typing import Any

from hvroll.telemetry import svg


def seconds(value: float) -> str:
    """Axis label for seconds: 0.005 → 5ms, 2.5 → 2.5s, 250 → 250s, 2500 → 42m."""
    if value < 1:
        return f"{value * 1000:g}ms"
    if value < 1000:
        return f"{value:g}s"
    if value < 3600 * 3:
        return f"{value / 60:.0f}m"
    return f"{value / 3600:.0f}h"


def per_hour(rows: list[dict[str, Any]], title: str = "migrations per hour") -> str:
    bars = [(str(r["hour"]), [float(r["completed"]), float(r["failed"])]) for r in rows]
    return svg.bar_chart(bars, [("completed", "s-ok"), ("failed", "s-bad")], title=title,
                         x_label="campaign hour", y_label="migrations")


def distribution(data: dict[str, Any], title: str, x_label: str, css: str) -> str:
    return svg.histogram_chart(data["edges"], data["counts"], title=title, x_label=x_label,
                               fmt=seconds, css=css)


def overview(data: dict[str, Any]) -> dict[str, str]:
    """The overall progress bar and one per region."""
    status = data["status"]
    out = {"progress": svg.progress_bar(status["progress"], width=480, height=16,
                                        label=f"{status['progress']:.1%} of migrations "
                                              f"finished")}
    out["per_hour"] = per_hour(data["per_hour"])
    for region in data["regions"]:
        css = "s-bad" if region["state"] == "failed" else "s-ok"
        out[f"region:{region['region']}"] = svg.progress_bar(region["ratio"], css=css)
    return out


def migrations(data: dict[str, Any]) -> dict[str, str]:
    return {
        "per_hour": per_hour(data["per_hour"]),
        "duration": distribution(data["duration"], "elapsed time of completed migrations",
                                 "elapsed time (upper bound of the bin)", "s-ok"),
        "downtime": distribution(data["downtime"], "downtime of completed live migrations",
                                 "downtime (upper bound of the bin)", "s-warn"),
    }


def vm(data: dict[str, Any]) -> dict[str, str]:
    """One bar per attempt of the VM's migrations: its elapsed time, coloured by outcome."""
    bars, series = [], [("completed", "s-ok"), ("failed or cancelled", "s-bad")]
    for m in data["migrations"]:
        for a in m["attempts"]:
            elapsed = float(a["elapsed_s"] or 0.0)
            ok = a["phase"] == "completed"
            bars.append((f"{m['id']}.{a['number']}",
                         [elapsed if ok else 0.0, 0.0 if ok else elapsed]))
    return {"attempts": svg.bar_chart(bars, series, title="elapsed time of each attempt",
                                      x_label="migration #.try (rungs in the tables below)",
                                      y_label="seconds",
                                      height=200)}
