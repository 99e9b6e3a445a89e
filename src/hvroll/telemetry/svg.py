"""Charts as inline SVG, rendered on the server: no script, no external asset, readable offline.

Used by the web dashboard and the campaign report. Every data mark is an element with class
``mark`` and a ``<title>`` (the tooltip: what it counts); colours come from CSS classes
(``s-ok``, ``s-bad``, ``st-<host state>``) so that the page's style sheet decides them. A chart
with no data says so instead of drawing empty axes.

Worked example of the axis: a largest bar of 437 gets ticks every 100 up to 500
(:func:`nice_step` of 437 / 5 = 87.4 is 100).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

from hvroll.telemetry.views import Lane

FONT = 11
"""Label size, pixels."""


def nice_step(raw: float) -> float:
    """The smallest of 1, 2, 5 × 10^k that is ≥ ``raw`` (> 0)."""
    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return float(m * power)
    return float(10 * power)


def _num(value: float) -> str:
    """A tick label: 1200 → 1.2k, 0.5 → 0.5."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _svg(width: int, height: int, label: str, body: list[str], css: str = "") -> str:
    klass = f"chart {css}".strip()
    return (f'<svg class="{klass}" xmlns="http://www.w3.org/2000/svg" role="img" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'aria-label="{escape(label)}"><title>{escape(label)}</title>'
            + "".join(body) + "</svg>")


def empty(title: str, width: int = 640, height: int = 80, note: str = "no data yet") -> str:
    """A chart without data: its title and a note, no marks."""
    return _svg(width, height, title, [
        f'<text class="note" x="{width / 2:.0f}" y="{height / 2:.0f}" '
        f'text-anchor="middle">{escape(note)}</text>'], "empty")


def bar_chart(bars: Sequence[tuple[str, Sequence[float]]], series: Sequence[tuple[str, str]],
              *, title: str, x_label: str, y_label: str, width: int = 640,
              height: int = 240) -> str:
    """Stacked bars: ``bars`` are ``(x label, one value per series)``, ``series`` are
    ``(name, css class)``. X labels are thinned out to about 12."""
    if not bars or not any(sum(v) for _, v in bars):
        return empty(title, width)
    left, right, top, bottom = 48, 12, 24, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(sum(v) for _, v in bars)
    step = nice_step(peak / 5)
    y_max = step * math.ceil(peak / step)
    slot = min(plot_w / len(bars), 64.0)
    gap = min(2.0, slot * 0.15)

    def y(value: float) -> float:
        return top + plot_h - value / y_max * plot_h

    body = [f'<g class="axis"><line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
            f'y2="{top + plot_h}"/><line x1="{left}" y1="{top}" x2="{left}" '
            f'y2="{top + plot_h}"/>']
    tick = 0.0
    while tick <= y_max + 1e-9:
        body.append(f'<line class="grid" x1="{left}" y1="{y(tick):.1f}" x2="{left + plot_w}" '
                    f'y2="{y(tick):.1f}"/><text x="{left - 4}" y="{y(tick) + 4:.1f}" '
                    f'text-anchor="end">{_num(tick)}</text>')
        tick += step
    every = max(1, math.ceil(len(bars) / 12))
    for i, (label, _values) in enumerate(bars):
        if i % every == 0:
            x = left + slot * (i + 0.5)
            body.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" '
                        f'text-anchor="middle">{escape(label)}</text>')
    body.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 6}" text-anchor="middle">'
                f'{escape(x_label)}</text><text x="12" y="{top + plot_h / 2:.0f}" '
                f'text-anchor="middle" transform="rotate(-90 12 {top + plot_h / 2:.0f})">'
                f'{escape(y_label)}</text></g>')
    for i, (label, values) in enumerate(bars):
        base = 0.0
        for (name, css), value in zip(series, values, strict=True):
            if value <= 0:
                continue
            x = left + slot * i + gap / 2
            body.append(f'<rect class="mark {css}" x="{x:.1f}" y="{y(base + value):.1f}" '
                        f'width="{max(slot - gap, 0.5):.1f}" '
                        f'height="{max(y(base) - y(base + value), 0.5):.1f}">'
                        f'<title>{escape(label)}: {value:g} {escape(name)}</title></rect>')
            base += value
    body.append(_legend(series, left, 14))
    return _svg(width, height, title, body)


def _legend(series: Sequence[tuple[str, str]], x: float, y: float) -> str:
    if len(series) < 2:
        return ""
    out = ['<g class="legend">']
    for name, css in series:
        out.append(f'<rect class="{css}" x="{x:.0f}" y="{y - 9:.0f}" width="10" height="10"/>'
                   f'<text x="{x + 14:.0f}" y="{y:.0f}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    out.append("</g>")
    return "".join(out)


def histogram_chart(edges: Sequence[float], counts: Sequence[int], *, title: str,
                    x_label: str, fmt: Callable[[float], str] = _num, css: str = "s-ok",
                    width: int = 640, height: int = 240) -> str:
    """Bins ``≤ edges[0]``, ``≤ edges[1]`` …, ``> edges[-1]`` (see
    :func:`hvroll.telemetry.views.histogram`); empty bins at both ends are left out."""
    labels = [f"≤{fmt(e)}" for e in edges] + [f">{fmt(edges[-1])}"]
    nonzero = [i for i, n in enumerate(counts) if n]
    if not nonzero:
        return empty(title, width)
    lo, hi = nonzero[0], nonzero[-1]
    bars = [(labels[i], [float(counts[i])]) for i in range(lo, hi + 1)]
    return bar_chart(bars, [("migrations", css)], title=title, x_label=x_label,
                     y_label="migrations", width=width, height=height)


def gantt(lanes: Sequence[Lane], end_s: float, *, title: str, start_s: float = 0.0,
          width: int = 960, row_h: int = 14, max_rows: int = 400) -> str:
    """One band per cluster, its host steps as bars over campaign hours; hosts upgraded at
    the same time are stacked in rows of the band."""
    rows = sum(len(lane.lanes) for lane in lanes)
    if not rows or end_s <= start_s:
        return empty(title, width)
    left, right, top, bottom = 150, 12, 10, 34
    shown = lanes
    if rows > max_rows:
        shown, count = [], 0
        for lane in lanes:
            if count + len(lane.lanes) > max_rows:
                break
            shown.append(lane)
            count += len(lane.lanes)
        rows = count
    plot_w = width - left - right
    height = top + rows * row_h + len(shown) * 4 + bottom
    span = end_s - start_s
    hours = span / 3600
    step_h = nice_step(hours / 10) if hours > 1 else 0.25

    def x(t: float) -> float:
        return left + (t - start_s) / span * plot_w

    body = ['<g class="axis">']
    plot_bottom = height - bottom
    tick = 0.0
    while tick * 3600 <= span + 1e-6:
        tx = x(start_s + tick * 3600)
        body.append(f'<line class="grid" x1="{tx:.1f}" y1="{top}" x2="{tx:.1f}" '
                    f'y2="{plot_bottom}"/><text x="{tx:.1f}" y="{plot_bottom + 13}" '
                    f'text-anchor="middle">{tick:g}</text>')
        tick += step_h
    body.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 4}" text-anchor="middle">'
                f'campaign time, hours</text></g>')
    y = float(top)
    for lane in shown:
        band_h = len(lane.lanes) * row_h
        body.append(f'<text class="label" x="{left - 6}" y="{y + min(band_h, row_h) - 3:.1f}" '
                    f'text-anchor="end">{escape(lane.cluster)}</text>')
        for row in lane.lanes:
            for bar in row:
                bx = x(bar.start_s)
                bw = max(x(bar.end_s) - bx, 1.0)
                body.append(
                    f'<rect class="mark st-{escape(bar.state)}" x="{bx:.1f}" y="{y + 1:.1f}" '
                    f'width="{bw:.1f}" height="{row_h - 2}"><title>{escape(bar.host)} '
                    f'(wave {bar.wave}, {escape(bar.state)}): {bar.start_s / 3600:.2f} h → '
                    f'{bar.end_s / 3600:.2f} h</title></rect>')
            y += row_h
        y += 4
    if len(shown) < len(lanes):
        body.append(f'<text class="note" x="{left}" y="{plot_bottom + 26}">first '
                    f'{len(shown)} of {len(lanes)} clusters</text>')
    return _svg(width, int(height), title, body)


def progress_bar(ratio: float, *, width: int = 240, height: int = 12, css: str = "s-ok",
                 label: str = "") -> str:
    """A horizontal bar filled to ``ratio`` (0–1)."""
    ratio = min(max(ratio, 0.0), 1.0)
    text = label or f"{ratio:.0%}"
    return _svg(width, height, text, [
        f'<rect class="track" x="0" y="0" width="{width}" height="{height}" rx="2"/>',
        f'<rect class="mark {css}" x="0" y="0" width="{ratio * width:.1f}" height="{height}" '
        f'rx="2"><title>{escape(text)}</title></rect>'], "progress")
