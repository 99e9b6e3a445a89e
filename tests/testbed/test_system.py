"""Small facts about the machine the testbed relies on."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

from hvroll.testbed import system
from hvroll.testbed.system import is_static_elf


def _elf(program_types: list[int]) -> bytes:
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", header, 32, 64)            # e_phoff
    struct.pack_into("<HH", header, 54, 56, len(program_types))  # e_phentsize, e_phnum
    table = b"".join(struct.pack("<I", t) + bytes(52) for t in program_types)
    return bytes(header) + table


def test_an_elf_without_interpreter_is_static() -> None:
    assert is_static_elf(_elf([1, 1, 4]))


def test_an_elf_with_an_interpreter_is_dynamic() -> None:
    assert not is_static_elf(_elf([6, 3, 1]))


def test_non_elf_data_is_not_static() -> None:
    assert not is_static_elf(b"#!/bin/sh\n" + bytes(100))


def test_a_process_read_from_proc_names_its_start_time() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        proc = system.read_proc(child.pid)
        me = system.read_proc(os.getpid())
        assert proc is not None and me is not None
        # (not its command line: for an instant after its exec a process shows none)
        assert not proc.gone and proc.started >= me.started > 0  # ticks since boot: later
        again = system.read_proc(child.pid)
        assert again is not None and again.started == proc.started  # read again: the same
    finally:
        child.kill()
        child.wait()
    assert system.read_proc(child.pid) is None


def test_terminate_sends_the_first_signal_asked_for(tmp_path: Path) -> None:
    # a process that ignores SIGTERM and notes a SIGINT before it exits: only SIGINT ends it
    # so (Python's handler runs as its sleep is interrupted: no window where the signal waits)
    noted = tmp_path / "signal"
    code = ("import signal, sys, time\n"
            "def noted(*_):\n"
            f"    open({str(noted)!r}, 'w').write('INT')\n"
            "    sys.exit(3)\n"
            "signal.signal(signal.SIGINT, noted)\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('ready', flush=True)\n"
            "while True:\n"
            "    time.sleep(1)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"  # handlers set
        assert system.terminate([child.pid], grace_s=30, first=signal.SIGINT) == []
        assert noted.read_text() == "INT"
    finally:
        child.kill()
        child.communicate()
