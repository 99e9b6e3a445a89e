"""Valid inventories and plans, mutated at random (types, duplicates, magnitudes, truncation,
encodings): reading them — and planning a fleet that still reads — either works or raises
hvroll's own input error. Never another exception, never a hang (each example is bounded by
the limits of the reader; the test's own run is the evidence)."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hvroll.domain import Fleet
from hvroll.errors import HvrollError
from hvroll.inventory import Format, dump_fleet, load_fleet, parse_fleet
from hvroll.inventory.reading import decode
from hvroll.planner.build import Targets, plan
from hvroll.planner.model import Policy, parse_plan
from hvroll.planner.validate import plan_problems

ROOT = Path(__file__).resolve().parents[2]
TINY_FILE = ROOT / "docs" / "examples" / "tiny.yaml"
TINY = TINY_FILE.read_text()
TINY_FLEET = load_fleet(TINY_FILE)
CANONICAL = dump_fleet(TINY_FLEET)
CANONICAL_JSON = dump_fleet(TINY_FLEET, Format.JSON)
PLAN = plan(TINY_FLEET, Targets(default=TINY_FLEET.profile_by_name["CPv2"]),
            Policy()).model_dump_json(indent=1)
SOURCES = {"hand.yaml": TINY, "canon.yaml": CANONICAL, "canon.json": CANONICAL_JSON}

ODD_VALUES = st.one_of(
    st.booleans(), st.none(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([".inf", "-.inf", ".nan", "NaN", "Infinity", "1e309", "0x10", "0o7",
                     "~", "null", "yes", "no", "on", "", "*x", "&x 1", "!!binary AAAA",
                     "!!python/object:os.system", "{", "[", "'", '"', "- -", "1:2:3"]),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _leaves(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(data, dict):
        for key, value in data.items():
            out += _leaves(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += _leaves(value, (*path, i))
    return out


def _replace(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(data, dict):
        return {**data, head: _replace(data[head], rest, value)}
    copy = list(data)
    copy[head] = _replace(copy[head], rest, value)
    return copy


@st.composite
def mutated(draw: st.DrawFn, sources: dict[str, str]) -> tuple[str, bytes]:
    """A file name and its bytes: a valid document changed in one of several ways."""
    name = draw(st.sampled_from(sorted(sources)))
    text = sources[name]
    how = draw(st.sampled_from(["value", "line-twice", "number", "truncate", "encoding",
                                "bytes", "line-swap"]))
    lines = text.splitlines(keepends=True)
    if how == "value":
        data = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
        path = draw(st.sampled_from(_leaves(data)))
        data = _replace(data, path, draw(ODD_VALUES))
        text = (json.dumps(data, indent=1, default=str) if name.endswith(".json")
                else yaml.safe_dump(data, default_flow_style=False, allow_unicode=True))
    elif how == "line-twice":
        i = draw(st.integers(0, len(lines) - 1))
        lines.insert(draw(st.integers(0, len(lines))), lines[i])
        text = "".join(lines)
    elif how == "line-swap":
        i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
        text = "".join(lines)
    elif how == "number":
        numbers = list(re.finditer(r"\d+(\.\d+)?", text))
        match = draw(st.sampled_from(numbers))
        new = draw(st.sampled_from(["0", "-1", "1e308", "1.0e+308", "1e-300", "1.0e-300",
                                    "99999999999999999999999", "0.0", "-0", "NaN", ".nan",
                                    "Infinity", ".inf", "true"]))
        text = text[:match.start()] + new + text[match.end():]
    elif how == "truncate":
        text = text[:draw(st.integers(0, len(text)))]
    if how == "encoding":
        codec = draw(st.sampled_from(["utf-16", "utf-32", "latin-1", "cp1252", "utf-8-sig"]))
        return name, text.replace("acme", "acm\u00e9").encode(codec, errors="replace")
    data_bytes = text.encode()
    if how == "bytes":
        at = draw(st.integers(0, len(data_bytes)))
        junk = draw(st.binary(min_size=1, max_size=8))
        data_bytes = data_bytes[:at] + junk + data_bytes[at:]
    return name, data_bytes


def _fleet_of(name: str, data: bytes) -> Fleet:
    text = decode(data, name, "an inventory")
    return parse_fleet(text, name, Format.of(name))


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated(SOURCES))
def test_a_mutated_inventory_is_read_or_refused_by_hvroll(case: tuple[str, bytes]) -> None:
    name, data = case
    try:
        fleet = _fleet_of(name, data)
    except HvrollError:
        return
    target = fleet.profile_by_name.get("CPv2")
    if target is not None:
        with contextlib.suppress(HvrollError):
            plan(fleet, Targets(default=target), Policy())


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated({"plan.json": PLAN}))
def test_a_mutated_plan_is_read_or_refused_by_hvroll(case: tuple[str, bytes]) -> None:
    name, data = case
    try:
        loaded = parse_plan(decode(data, name, "a plan"), name)
    except HvrollError:
        return
    assert isinstance(plan_problems(loaded, TINY_FLEET), list)
