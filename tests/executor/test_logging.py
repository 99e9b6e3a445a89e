"""The executor logs every event it records, through the same call (one path), bound with the
campaign, and with the wave of each VM; a migration's progress is throttled."""

from __future__ import annotations

import io
import itertools
import json

import pytest

from campaigns import Campaign
from hvroll.domain import Fleet
from hvroll.executor.context import Throttle
from hvroll.executor.engine import Executor
from hvroll.planner.build import Targets
from hvroll.telemetry.logs import LogFormat, LogLevel, make_logger


def test_throttle_lets_one_through_per_key_every_period() -> None:
    t = Throttle(30.0)
    assert [t.due("a", s) for s in (0.0, 10.0, 30.0, 59.9, 60.0)] == [
        True, False, True, False, True]
    assert t.due("b", 10.0)  # per key


def test_every_recorded_event_is_logged_in_order_with_its_wave(tiny: Fleet,
                                                               campaign: Campaign) -> None:
    store, cloud, _ = campaign(tiny, targets=Targets(default=tiny.profile_by_name["CPv2"]))
    out = io.StringIO()
    Executor(store, cloud, log=make_logger(LogFormat.JSON, LogLevel.INFO, out)).run()
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    events = [r for r in records if r["event"] != "migration_progress"]
    assert [r["event"] for r in events] == [e.kind for e in reversed(store.events())]
    assert {r["campaign"] for r in records} == {"c.db"}
    waves = {m.vm: m.wave for m in store.migrations()}
    assert all(r["wave"] == waves[r["vm"]] for r in records if r.get("vm"))
    progress = [r for r in records if r["event"] == "migration_progress"]
    assert progress and any(r.get("vm") for r in events)
    assert all(r["level"] == "info" for r in progress)
    for job in {r["job"] for r in progress}:  # at most one info line per 30 s of each job
        times = [r["t_s"] for r in progress if r["job"] == job]
        assert all(b - a >= 30.0 for a, b in itertools.pairwise(times))


@pytest.mark.parametrize(("level", "logs"), [
    (None, set()),
    (LogLevel.ERROR, {"error"}),
    (LogLevel.INFO, {"info", "warning", "error"}),
    (LogLevel.DEBUG, {"debug", "info", "warning", "error"}),
])
def test_the_levels_a_logger_writes_are_known_before_any_line_is_built(
        tiny: Fleet, campaign: Campaign, level: LogLevel | None, logs: set[str]) -> None:
    store, cloud, _ = campaign(tiny, targets=Targets(default=tiny.profile_by_name["CPv2"]))
    log = None if level is None else make_logger(LogFormat.JSON, level, io.StringIO())
    ctx = Executor(store, cloud, log=log).ctx
    assert (ctx.logs, ctx.logs_progress) == (logs, bool(logs & {"debug", "info"}))


def test_without_a_logger_nothing_is_written(tiny: Fleet, campaign: Campaign,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    store, cloud, _ = campaign(tiny, targets=Targets(default=tiny.profile_by_name["CPv2"]))
    Executor(store, cloud).run()
    assert capsys.readouterr() == ("", "")
