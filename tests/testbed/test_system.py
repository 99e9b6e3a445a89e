"""Small facts about the machine the testbed relies on."""

from __future__ import annotations

import struct

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
