"""Is a canary guest healthy? Read from its console log, which continues across migrations.

A guest is healthy over a stretch of its console when it printed new heartbeats (``HEARTBEAT`` or
``DIRTIER`` lines, whose ``hb=`` only ever grows), no ``verify=FAIL`` (the dirtier found pages
holding stale or misplaced data) and no kernel oops, BUG or panic.

A guest that came out of a migration unhealthy may show the known hazard of QEMU 7.2's TCG
(TESTBED.md section 10, docs/testbed.md "Guest memory corruption under TCG"): memory errors on
its console, or a hang with its vCPU spinning at one instruction with interrupts off
(:func:`tcg_hazard`, over looks at the vCPU that :func:`parse_registers` reads).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

_BEAT = re.compile(r"(?:HEARTBEAT|DIRTIER) (?:\S+ )*?hb=(\d+)")
_VERIFY_FAIL = re.compile(r"verify=FAIL\((\d+) bad pages")
_BOOT = re.compile(r"^GUEST-INIT ", re.MULTILINE)
"""The line the guest's init prints at every boot (:mod:`hvroll.testbed.image`)."""
PROBLEMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("oops", re.compile(r"\bOops\b")),
    ("bug", re.compile(r"\bBUG:")),
    ("panic", re.compile(r"Kernel panic")),
    ("general_protection_fault", re.compile(r"general protection fault")),
    ("virtio_corruption", re.compile(r"is not a head!")),
    ("guest_error", re.compile(r"(?:GUEST|DIRTIER)-ERROR")),
)
"""(flag, pattern) for console lines that make a guest unhealthy."""


@dataclass(frozen=True, slots=True)
class GuestHealth:
    """Health of a guest over a stretch of its console log."""

    ok: bool
    flags: tuple[str, ...]
    """Why not ok: ``no_new_heartbeat``, ``heartbeat_regressed``, ``verify_fail`` or a
    :data:`PROBLEMS` flag."""
    last_heartbeat: int | None
    new_heartbeats: int
    bad_pages: int
    """Most bad pages any ``verify=FAIL`` line reported."""
    end_offset: int
    """Offset just past the last complete line read: pass it as ``since_offset`` next time."""
    problem_lines: tuple[str, ...] = ()


def parse_console(text: str, start_offset: int = 0, *, min_heartbeats: int = 1,
                  previous_heartbeat: int | None = None) -> GuestHealth:
    """Judge the console text that starts at byte ``start_offset`` of the log.

    Only complete lines count; ``previous_heartbeat`` (the last one seen before this stretch)
    lets a restart of the counter be noticed at the stretch's first line.
    """
    complete, sep, _partial = text.rpartition("\n")
    consumed = len((complete + sep).encode())
    flags: list[str] = []
    problem_lines: list[str] = []
    last, count, bad_pages = previous_heartbeat, 0, 0
    for line in complete.splitlines():
        beat = _BEAT.search(line)
        if beat:
            hb = int(beat.group(1))
            if last is not None and hb <= last and "heartbeat_regressed" not in flags:
                flags.append("heartbeat_regressed")
                problem_lines.append(line.strip())
            last = hb
            count += 1
        fail = _VERIFY_FAIL.search(line)
        if fail:
            bad_pages = max(bad_pages, int(fail.group(1)))
            if "verify_fail" not in flags:
                flags.append("verify_fail")
                problem_lines.append(line.strip())
        for flag, pattern in PROBLEMS:
            if pattern.search(line):
                if flag not in flags:
                    flags.append(flag)
                if len(problem_lines) < 10:
                    problem_lines.append(line.strip())
    if count < min_heartbeats:
        flags.insert(0, "no_new_heartbeat")
    return GuestHealth(ok=not flags, flags=tuple(flags),
                       last_heartbeat=last if count else previous_heartbeat,
                       new_heartbeats=count, bad_pages=bad_pages,
                       end_offset=start_offset + consumed, problem_lines=tuple(problem_lines))


def _last_heartbeat_before(data: bytes) -> int | None:
    for line in reversed(data.decode(errors="replace").splitlines()):
        beat = _BEAT.search(line)
        if beat:
            return int(beat.group(1))
    return None


def guest_health(console_log: Path, since_offset: int = 0, *,
                 min_heartbeats: int = 1) -> GuestHealth:
    """Judge a guest by the console lines written after byte ``since_offset``."""
    data = console_log.read_bytes()
    before = data[max(0, since_offset - 4096):since_offset]
    return parse_console(data[since_offset:].decode(errors="replace"), since_offset,
                         min_heartbeats=min_heartbeats,
                         previous_heartbeat=_last_heartbeat_before(before))


def wait_for_heartbeats(console_log: Path, since_offset: int, count: int, *,
                        timeout_s: float = 30.0, poll_s: float = 0.25,
                        now: Callable[[], float] = time.monotonic,
                        sleep: Callable[[float], None] = time.sleep) -> GuestHealth:
    """Wait until ``count`` new heartbeats arrived after ``since_offset``, a problem shows, or
    ``timeout_s`` passed; return the health at that point (``ok`` is False on a timeout)."""
    deadline = now() + timeout_s
    while True:
        health = guest_health(console_log, since_offset, min_heartbeats=count)
        problems = [f for f in health.flags if f != "no_new_heartbeat"]
        if health.ok or problems or now() >= deadline:
            return health
        sleep(poll_s)


CORRUPTION_FLAGS = ("verify_fail", "oops", "bug", "panic", "general_protection_fault",
                    "virtio_corruption")
"""The health flags that are memory corruption as TESTBED.md section 10 saw it."""
RFLAGS_IF = 0x200
"""RFLAGS' interrupt-enable bit."""
_REGISTERS = re.compile(r"\b[RE]IP=([0-9a-fA-F]+)\s+[RE]FL=([0-9a-fA-F]+).*?\bHLT=([01])",
                        re.DOTALL)


@dataclass(frozen=True, slots=True)
class VcpuLook:
    """One look at a guest's (first) vCPU, from QEMU's ``info registers``."""

    rip: int
    interrupts: bool
    """RFLAGS.IF: the vCPU takes interrupts."""
    halted: bool
    """HLT: the vCPU waits for an interrupt (an idle guest's vCPU)."""


def parse_registers(text: str) -> VcpuLook | None:
    """The first vCPU of QEMU's human-monitor ``info registers`` output (``RIP``/``RFL`` in
    long mode, ``EIP``/``EFL`` otherwise); None without one.

    >>> look = parse_registers("RIP=ffffffff81c2b0a4 RFL=00000246 [---Z-P-] CPL=0 HLT=1")
    >>> hex(look.rip), look.interrupts, look.halted
    ('0xffffffff81c2b0a4', True, True)
    """
    found = _REGISTERS.search(text)
    if found is None:
        return None
    return VcpuLook(rip=int(found.group(1), 16),
                    interrupts=bool(int(found.group(2), 16) & RFLAGS_IF),
                    halted=found.group(3) == "1")


def tcg_hazard(health: GuestHealth, looks: Sequence[VcpuLook]) -> str | None:
    """What shows the known TCG hazard (TESTBED.md section 10) in a guest that stopped being
    healthy after a migration, or None when it does not look like it: memory errors on its
    console (:data:`CORRUPTION_FLAGS`), or a hang: every look (at least two) at the same
    instruction, with interrupts off and not halted.

    >>> spin = VcpuLook(rip=0xffffffff8100a2b4, interrupts=False, halted=False)
    >>> quiet = GuestHealth(ok=False, flags=("no_new_heartbeat",), last_heartbeat=41,
    ...                     new_heartbeats=0, bad_pages=0, end_offset=0)
    >>> tcg_hazard(quiet, [spin, spin])
    'a hang: vCPU at RIP 0xffffffff8100a2b4 in 2 looks, interrupts off'
    >>> tcg_hazard(quiet, [spin]) is None
    True
    """
    corrupt = [f for f in health.flags if f in CORRUPTION_FLAGS]
    if corrupt:
        return f"memory corruption on its console ({', '.join(corrupt)})"
    if len(looks) >= 2 and len({look.rip for look in looks}) == 1 \
            and not any(look.interrupts or look.halted for look in looks):
        return f"a hang: vCPU at RIP {looks[0].rip:#x} in {len(looks)} looks, interrupts off"
    return None


def booted(text: str) -> bool:
    """Whether a console shows the guest booting: its init's ``GUEST-INIT`` line. QEMU starts
    a console file afresh on each host, and a guest that came by live migration carries on
    from its memory, so its new host's console never shows that line.

    >>> booted("GUEST-INIT 6.1.0-56-amd64 ready\\nHEARTBEAT hb=1 t=1.0\\n")
    True
    >>> booted("HEARTBEAT hb=41 t=41.0\\n[  156.6] Kernel panic - not syncing: x\\n")
    False
    """
    return _BOOT.search(text) is not None


def hazard_after_live_move(text: str, looks: Sequence[VcpuLook]) -> str | None:
    """The TCG hazard (:func:`tcg_hazard`) of a guest that failed its check on its new host's
    console ``text`` after a live migration and did not boot there (:func:`booted`): QEMU's
    emulation broke it after the move, with no fault of whoever asked for the move. None when
    the console shows a boot (the guest was restarted, not moved live) or not the hazard."""
    if booted(text):
        return None
    return tcg_hazard(parse_console(text), looks)

