"""How the dashboard and the report write times, sizes and ratios (Jinja filters)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from hvroll import __version__

STYLE = Path(__file__).resolve().parent / "static" / "style.css"
"""The one style sheet of the dashboard, inlined in the report."""


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
