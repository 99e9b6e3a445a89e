"""Judging a canary guest by its console log."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvroll.testbed.health import (
    GuestHealth,
    VcpuLook,
    guest_health,
    hazard_after_live_move,
    parse_console,
    parse_registers,
    tcg_hazard,
    wait_for_heartbeats,
)

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


LONG_MODE = """CPU#0
RAX=0000000000000000 RBX=0000000000000000 RCX=0000000000000001 RDX=0000000000000000
R12=0000000000000000 R13=0000000000000000 R14=0000000000000000 R15=0000000000000000
RIP=ffffffff8100a2b4 RFL=00000046 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=0
ES =0000 0000000000000000 00000000 00000000
"""


@pytest.mark.parametrize(("text", "look"), [
    (LONG_MODE, VcpuLook(rip=0xffffffff8100a2b4, interrupts=False, halted=False)),
    ("RIP=ffffffff81c4e6ae RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1\n",
     VcpuLook(rip=0xffffffff81c4e6ae, interrupts=True, halted=True)),
    ("EIP=0000fff0 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\n",
     VcpuLook(rip=0xfff0, interrupts=False, halted=False)),
    ("error: no such domain\n", None),
])
def test_info_registers_gives_the_vcpus_instruction_interrupt_flag_and_halt(
        text: str, look: VcpuLook | None) -> None:
    assert parse_registers(text) == look


SILENT = parse_console(_dirtier(40) + _dirtier(41))
STOPPED = parse_console("", min_heartbeats=1)
SPIN = VcpuLook(rip=0xffffffff8100a2b4, interrupts=False, halted=False)


@pytest.mark.parametrize(("health", "looks", "verdict"), [
    (STOPPED, [SPIN, SPIN, SPIN],
     "a hang: vCPU at RIP 0xffffffff8100a2b4 in 3 looks, interrupts off"),
    (parse_console(_dirtier(4) + _dirtier(5, "FAIL(14404 bad pages, first 12)")), [],
     "memory corruption on its console (verify_fail)"),
    (parse_console("general protection fault, probably for non-canonical address\n"
                   "Kernel panic - not syncing: Fatal exception in interrupt\n"), [SPIN],
     "memory corruption on its console (general_protection_fault, panic)"),
    (STOPPED, [SPIN], None),  # one look cannot tell a spin
    (STOPPED, [SPIN, VcpuLook(rip=0xffffffff8100a2b8, interrupts=False, halted=False)], None),
    (STOPPED, [VcpuLook(rip=0xffffffff81c4e6ae, interrupts=True, halted=True)] * 2, None),
    (STOPPED, [VcpuLook(rip=0xffffffff8100a2b4, interrupts=True, halted=False)] * 2, None),
    (STOPPED, [VcpuLook(rip=0xffffffff8100a2b4, interrupts=False, halted=True)] * 2, None),
    (parse_console(_dirtier(9) + BOOT + _dirtier(1)), [], None),  # a reboot is not the hazard
    (SILENT, [], None),
])
def test_the_tcg_hazard_is_memory_errors_or_a_spin_with_interrupts_off(
        health: GuestHealth, looks: list[VcpuLook], verdict: str | None) -> None:
    assert tcg_hazard(health, looks) == verdict


PANIC = ("[  156.609622] BUG: unable to handle page fault for address: 0000000083200de8\n"
         "[  156.615085] Oops: 0002 [#1] PREEMPT SMP PTI\n"
         "[  156.647278] Kernel panic - not syncing: Attempted to kill the idle task!\n")


@pytest.mark.parametrize(("text", "looks", "verdict"), [
    (PANIC, [], "memory corruption on its console (bug, oops, panic)"),
    (_dirtier(41) + _dirtier(42, "FAIL(3 bad pages, first 7)"), [],
     "memory corruption on its console (verify_fail)"),
    ("HEARTBEAT hb=41 t=41.0\n", [SPIN, SPIN],
     "a hang: vCPU at RIP 0xffffffff8100a2b4 in 2 looks, interrupts off"),
    (BOOT + PANIC, [], None),  # it booted there: restarted, not moved live
    (BOOT + _dirtier(1), [SPIN, SPIN], None),
    ("HEARTBEAT hb=41 t=41.0\n", [SPIN], None),  # silent, but not the hazard's signature
    ("", [], None),
])
def test_a_guest_broken_after_a_live_move_shows_the_hazard_only_if_it_did_not_boot_there(
        text: str, looks: list[VcpuLook], verdict: str | None) -> None:
    assert hazard_after_live_move(text, looks) == verdict
