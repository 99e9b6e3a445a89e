"""Structured logs: json or console lines on a stream, filtered by level."""

from __future__ import annotations

import io
import json

import pytest

from hvroll.telemetry.logs import LogFormat, LogLevel, make_logger, resolve


@pytest.mark.parametrize(("fmt", "tty", "expected"), [
    (LogFormat.AUTO, True, LogFormat.CONSOLE),
    (LogFormat.AUTO, False, LogFormat.JSON),
    (LogFormat.JSON, True, LogFormat.JSON),
    (LogFormat.CONSOLE, False, LogFormat.CONSOLE),
])
def test_auto_is_console_on_a_terminal_and_json_otherwise(fmt: LogFormat, tty: bool,
                                                          expected: LogFormat) -> None:
    assert resolve(fmt, tty=tty) is expected


def test_json_lines_carry_the_event_its_level_and_bound_fields() -> None:
    out = io.StringIO()
    log = make_logger(LogFormat.JSON, LogLevel.INFO, out).bind(campaign="c.db")
    log.info("host_draining", host="hv1", wave=2)
    log.debug("migration_progress", vm="vm1")  # below the level: dropped
    [line] = out.getvalue().splitlines()
    record = json.loads(line)
    assert {k: record[k] for k in ("event", "level", "campaign", "host", "wave")} == {
        "event": "host_draining", "level": "info", "campaign": "c.db", "host": "hv1",
        "wave": 2}
    assert record["timestamp"].endswith("Z")


def test_console_lines_are_readable() -> None:
    out = io.StringIO()
    make_logger(LogFormat.CONSOLE, LogLevel.DEBUG, out).warning("migration_failed", vm="vm7")
    line = out.getvalue()
    assert "migration_failed" in line and "vm=vm7" in line and "warning" in line
