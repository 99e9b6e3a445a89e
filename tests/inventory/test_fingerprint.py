"""The inventory's fingerprint is the SHA-256 of the fleet's JSON, however it is fed."""

from __future__ import annotations

import hashlib

import pytest

from hvroll.domain import Fleet
from hvroll.inventory import files, fingerprint


def whole_text_digest(fleet: Fleet) -> str:
    return hashlib.sha256(fleet.model_dump_json().encode()).hexdigest()[:32]


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_fed_in_chunks_it_is_the_digest_of_the_whole_text(small: Fleet, chunk: int,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "FINGERPRINT_CHUNK", chunk)
    assert fingerprint(small) == whole_text_digest(small)


def test_an_empty_fleet_has_the_digest_of_its_text() -> None:
    assert fingerprint(Fleet()) == whole_text_digest(Fleet())


def test_one_vm_changed_changes_it(small: Fleet) -> None:
    vms = (small.vms[0].model_copy(update={"ram_mib": small.vms[0].ram_mib + 1}),
           *small.vms[1:])
    assert fingerprint(small.model_copy(update={"vms": vms})) != fingerprint(small)
