"""The nova driver's journal: what survives a restart, and a damaged file refused by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvroll.drivers.base import JobKind
from hvroll.drivers.nova.journal import Journal, NovaJob
from hvroll.errors import InputError


def job(name: str, **kw: object) -> NovaJob:
    base: dict[str, object] = {"job": name, "kind": JobKind.LIVE_MIGRATION, "vm": "vm-1",
                               "uuid": "u1", "source": "c1", "dest": "c2", "profile": None,
                               "started_at": "2026-11-30T10:00:00"}
    base.update(kw)
    return NovaJob(**base)  # type: ignore[arg-type]


def test_the_last_record_of_a_job_wins_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    first = Journal(path)
    rec = job("j1")
    first.save(rec)
    rec.migration_id = "17"
    first.save(rec)
    first.save(job("j2", kind=JobKind.REINSTALL, vm=None, source="c3", profile="CPv2"))
    first.close()
    again = Journal(path)
    assert again.jobs["j1"].migration_id == "17"
    assert again.jobs["j2"].kind is JobKind.REINSTALL
    assert list(again.jobs) == ["j1", "j2"]
    again.close()


def test_a_damaged_record_is_refused_with_its_number_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"format": "hvroll-nova-journal", "version": 1}\n{"job": "j1"}\n')
    before = path.read_bytes()
    with pytest.raises(InputError, match=r"j.jsonl:2: not a record of the nova driver's journal"):
        Journal(path)
    assert path.read_bytes() == before


def test_another_backends_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"format": "hvroll-sim-journal", "version": 1}\n')
    with pytest.raises(InputError, match=r"j.jsonl:1: not the nova driver's journal"):
        Journal(path)


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    first = Journal(tmp_path / "j.jsonl")
    with pytest.raises(InputError, match="in use by another process"):
        Journal(tmp_path / "j.jsonl")
    first.close()


def test_without_a_path_nothing_is_written(tmp_path: Path) -> None:
    journal = Journal(None)
    journal.save(job("j1"))
    assert journal.jobs["j1"].dest == "c2"
    journal.close()
    assert list(tmp_path.iterdir()) == []
