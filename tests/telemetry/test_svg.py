"""Inline SVG charts: axes, marks, empty charts."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from hvroll.telemetry import svg
from hvroll.telemetry.views import Bar, Lane

NS = "{http://www.w3.org/2000/svg}"


def marks(text: str) -> list[ET.Element]:
    root = ET.fromstring(text)
    return [e for e in root.iter(f"{NS}rect") if "mark" in (e.get("class") or "").split()]


@pytest.mark.parametrize(("raw", "step"), [(87.4, 100.0), (0.3, 0.5), (20.0, 20.0),
                                           (21.0, 50.0), (1.0, 1.0), (0.0, 1.0)])
def test_nice_step(raw: float, step: float) -> None:
    assert svg.nice_step(raw) == pytest.approx(step)


def test_stacked_bars_draw_one_mark_per_nonzero_value() -> None:
    text = svg.bar_chart([("0", [3.0, 1.0]), ("1", [2.0, 0.0]), ("2", [0.0, 0.0])],
                         [("completed", "s-ok"), ("failed", "s-bad")], title="t",
                         x_label="hour", y_label="n")
    found = marks(text)
    assert len(found) == 3
    assert [e.find(f"{NS}title").text for e in found] == [  # type: ignore[union-attr]
        "0: 3 completed", "0: 1 failed", "1: 2 completed"]
    assert all(float(e.get("height", "0")) > 0 for e in found)


def test_bar_heights_are_proportional() -> None:
    text = svg.bar_chart([("a", [4.0]), ("b", [2.0])], [("n", "s-ok")], title="t",
                         x_label="x", y_label="y")
    a, b = (float(e.get("height", "0")) for e in marks(text))
    assert a == pytest.approx(2 * b, rel=0.01)


def test_a_chart_without_data_says_so_and_has_no_mark() -> None:
    text = svg.bar_chart([("0", [0.0])], [("n", "s-ok")], title="t", x_label="x",
                         y_label="y")
    assert marks(text) == []
    assert "no data yet" in text


def test_histogram_leaves_out_empty_bins_at_both_ends() -> None:
    text = svg.histogram_chart([1.0, 2.0, 5.0], [0, 3, 0, 1], title="t", x_label="s")
    labels = re.findall(r">(≤[^<]+|&gt;[^<]+)</text>", text)
    assert labels == ["≤2", "≤5", "&gt;5"]
    assert len(marks(text)) == 2


def test_gantt_draws_every_bar_and_escapes_names() -> None:
    lanes = [Lane("c<1>", "r", ((Bar("hv&1", 0.0, 3600.0, "done", 0),),
                                (Bar("hv2", 1800.0, 7200.0, "failed", 1),)))]
    text = svg.gantt(lanes, 7200.0, title="timeline")
    found = marks(text)
    assert [e.get("class") for e in found] == ["mark st-done", "mark st-failed"]
    assert "c&lt;1&gt;" in text and "hv&amp;1" in text


def test_progress_bar_is_filled_to_the_ratio() -> None:
    (fill,) = marks(svg.progress_bar(0.25, width=200))
    assert float(fill.get("width", "0")) == pytest.approx(50.0)
