"""The one crash journal every backend keeps: header, torn lines, garbage, one writer."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvroll.drivers.journal import Journal
from hvroll.errors import InputError


def open_(path: Path | None, **kwargs: object) -> Journal:
    return Journal(path, format="hvroll-test-journal", identity={"seed": 1},
                   what="a test journal", **kwargs)  # type: ignore[arg-type]


def test_a_new_journal_starts_with_its_header_and_reads_back_its_records(
        tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with_records = open_(path)
    with_records.append({"op": "a"})
    with_records.write_line('{"op":"b"}')
    with_records.close()
    assert path.read_text() == ('{"format":"hvroll-test-journal","version":1,"seed":1}\n'
                                '{"op":"a"}\n{"op":"b"}\n')
    again = open_(path)
    assert again.records == [(2, {"op": "a"}), (3, {"op": "b"})]
    again.close()


def test_a_torn_last_line_is_dropped_and_cut(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    open_(path).close()
    with path.open("a") as out:
        out.write('{"op":"a"}\n{"op":"b')
    journal = open_(path)
    assert journal.records == [(2, {"op": "a"})]
    journal.append({"op": "c"})
    journal.close()
    assert path.read_text().splitlines()[1:] == ['{"op":"a"}', '{"op":"c"}']


@pytest.mark.parametrize(("content", "message"), [
    (b"\x00\xff\xfe garbage\n", r"j\.jsonl:1: not a test journal \(expected a header with "
                                r"format 'hvroll-test-journal'\)"),
    (b'{"format":"hvroll-test-journal","version":1,"seed":1}\n[1, 2]\n{"op":"x',
     r"j\.jsonl:2: not a JSON object line \(expected a test journal"),
    (b'{"format":"hvroll-test-journal","version":1,"seed":1}\n\xff\xfe\n',
     r"j\.jsonl:2: not a JSON object line"),
    (b'{"format":"other","version":1}\n', r"j\.jsonl:1: not a test journal \(expected a "
                                           r"header with format 'hvroll-test-journal', got "
                                           r"'other'\)"),
    (b'{"format":"hvroll-test-journal","version":1,"seed":2}\n',
     r"j\.jsonl:1: journal was written for seed 2, this one is for seed 1"),
    (b'{"format":"hvroll-test-journal","version":1,', r"j\.jsonl:1: not a complete JSON line"),
    (b'{"format":"hvroll-test-journal","version":1,"seed":1}\nhello',
     r"j\.jsonl:2: not a JSON object line"),
    (b'{"format":"hvroll-test-journal","version":1,"seed":1}\n' + b"[" * 100_000 + b"\n",
     r"j\.jsonl:2: not a JSON object line"),
])
def test_garbage_is_a_clear_error_and_the_file_is_left_as_it_was(
        tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        open_(path)
    assert path.read_bytes() == content
    path.write_bytes(b"")
    open_(path).close()  # and the lock was released


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    first = open_(path)
    with pytest.raises(InputError, match="is in use by another process"):
        open_(path)
    first.close()
    first.close()  # idempotent
    open_(path).close()


def test_a_closed_journal_refuses_to_write(tmp_path: Path) -> None:
    journal = open_(tmp_path / "j.jsonl")
    journal.close()
    assert journal.closed
    with pytest.raises(InputError, match="a test journal is closed"):
        journal.append({"op": "a"})


def test_without_a_path_nothing_is_read_or_written() -> None:
    journal = open_(None)
    journal.append({"op": "a"})
    assert journal.records == []
    journal.close()


def test_a_file_written_before_headers_is_read_when_allowed(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"op":"a"}\n')
    journal = open_(path, headerless=True)
    assert journal.records == [(1, {"op": "a"})]
    journal.close()
    with pytest.raises(InputError, match="not a test journal"):
        open_(path)
