"""Judging a canary guest by its console log."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvroll.testbed.health import guest_health, parse_console, wait_for_heartbeats

BOOT = "GUEST-INIT 6.1.0-56-amd64 ready\nDIRTIER-START dirty_mb=16 dirty_rate=16 pages=4096\n"


def _dirtier(hb: int, verify: str = "OK") -> str:
    return f"DIRTIER t={hb}.0 hb={hb} dirtied_mib={16 * hb} rate_mib_s=16.0 pass={hb} " \
           f"verify={verify}\n"


@pytest.mark.parametrize(("text", "flags", "last"), [
    (BOOT + _dirtier(1) + _dirtier(2), (), 2),
    ("HEARTBEAT hb=7 t=7.0\nHEARTBEAT hb=8 t=8.0\n", (), 8),
    (BOOT, ("no_new_heartbeat",), None),
    (_dirtier(4) + _dirtier(5, "FAIL(14404 bad pages, first 12)"), ("verify_fail",), 5),
    (_dirtier(4) + "[   12.1] BUG: kernel NULL pointer dereference, address: 08\n"
     "[   12.1] Oops: 0000 [#1] PREEMPT SMP PTI\n" + _dirtier(5), ("bug", "oops"), 5),
    ("Kernel panic - not syncing: Fatal exception in interrupt\n",
     ("no_new_heartbeat", "panic"), None),
    ("virtio_net virtio0: output.0:id 0 is not a head!\n" + _dirtier(3),
     ("virtio_corruption",), 3),
    (_dirtier(9) + BOOT + _dirtier(1), ("heartbeat_regressed",), 1),
])
def test_console_verdicts(text: str, flags: tuple[str, ...], last: int | None) -> None:
    health = parse_console(text)
    assert (health.ok, health.flags, health.last_heartbeat) == (not flags, flags, last)


def test_a_partial_last_line_is_left_for_the_next_read() -> None:
    text = _dirtier(1) + "DIRTIER t=2.0 hb=2 dirt"
    health = parse_console(text, 100)
    assert (health.new_heartbeats, health.end_offset) == (1, 100 + len(_dirtier(1)))


def test_verify_failure_reports_its_page_count() -> None:
    assert parse_console(_dirtier(1, "FAIL(3 bad pages, first 0)")).bad_pages == 3


def test_health_counts_only_lines_after_the_offset(tmp_path: Path) -> None:
    log = tmp_path / "g.console.log"
    log.write_text(_dirtier(1) + _dirtier(2))
    offset = log.stat().st_size
    assert guest_health(log, offset).flags == ("no_new_heartbeat",)
    with log.open("a") as out:
        out.write(_dirtier(3))
    assert guest_health(log, offset).ok


def test_a_counter_that_restarts_right_after_the_offset_is_noticed(tmp_path: Path) -> None:
    log = tmp_path / "g.console.log"
    log.write_text(_dirtier(5))
    offset = log.stat().st_size
    with log.open("a") as out:
        out.write(_dirtier(1))
    assert guest_health(log, offset).flags == ("heartbeat_regressed",)


def test_waiting_ends_with_a_timeout_verdict(tmp_path: Path) -> None:
    log = tmp_path / "g.console.log"
    log.write_text(BOOT)
    clock = iter([0.0, 1.0, 2.0, 3.0])
    health = wait_for_heartbeats(log, 0, 1, timeout_s=2.0, now=lambda: next(clock),
                                 sleep=lambda _s: None)
    assert health.flags == ("no_new_heartbeat",)


def test_waiting_stops_at_the_first_problem(tmp_path: Path) -> None:
    log = tmp_path / "g.console.log"
    log.write_text(_dirtier(1, "FAIL(1 bad pages, first 9)"))
    health = wait_for_heartbeats(log, 0, 5, timeout_s=60.0, sleep=lambda _s: None)
    assert "verify_fail" in health.flags
