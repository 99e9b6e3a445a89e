"""How the dashboard and the report render: numbers, times and sizes (Jinja filters), the
Jinja environment, and the charts of each page as inline SVG strings drawn from the page's
JSON data (the same numbers ``/api/…`` returns) with :mod:`hvroll.telemetry.svg`.

Nothing here loads the web framework: the dashboard (:mod:`hvroll.web`) and the report
(:mod:`hvroll.report`) both use it, and neither imports the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from hvroll import __version__
from hvroll.telemetry import svg

STYLE = Path(__file__).resolve().parent / "style.css"
"""The one style sheet: the dashboard serves it as ``/static/style.css``, the report inlines it."""


def duration(seconds: float | None) -> str:
    """``53.5 s``, ``12 min``, ``6 h 37 min``; ``–`` for None."""
    if seconds is None:
        return "–"
    if seconds < 100:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    whole = round(seconds / 60)
    return f"{whole // 60} h {whole % 60:02d} min"


def hours(seconds: float | None) -> str:
    """Campaign time as ``h:mm`` (``–`` for None): 23800 s → ``6:36``."""
    if seconds is None:
        return "–"
    whole = int(seconds // 60)
    return f"{whole // 60}:{whole % 60:02d}"


def mib(value: float | None) -> str:
    """A size in MiB: ``512 MiB``, ``32.0 GiB``; ``–`` for None."""
    if value is None:
        return "–"
    return f"{value / 1024:.1f} GiB" if value >= 1024 else f"{value:.0f} MiB"


def count(value: int | float | None) -> str:
    """A count with thousands separators: 26299 → ``26,299``."""
    return "–" if value is None else f"{value:,}"


def pct(ratio: float | None) -> str:
    return "–" if ratio is None else f"{ratio:.1%}"


def vm_url(name: Any) -> str:
    """The dashboard's page of a VM (names may hold ``/`` or ``:``)."""
    return "/vms/" + quote(str(name), safe="")


def environment(templates: Path) -> Environment:
    """A Jinja environment over ``templates`` with autoescaping and these filters."""
    env = Environment(loader=FileSystemLoader(templates), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(duration=duration, hours=hours, mib=mib, pct=pct, n=count, vmurl=vm_url,
                       svg=Markup)
    env.globals.update(version=__version__)
    return env


# -- charts ----------------------------------------------------------------------------------


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
