"""The inventory's fingerprint is the SHA-256 of the fleet's JSON, however it is fed; the
JSON serialized once for the fingerprint and the compressed copy a campaign stores."""

from __future__ import annotations

import gc
import hashlib
import zlib

import pytest

from hvroll.domain import Fleet
from hvroll.inventory import files, fingerprint, serialized


@pytest.fixture(autouse=True)
def nothing_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test serializes its fleets itself (a test before it may have kept one)."""
    monkeypatch.setattr(files, "_kept", None)


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


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_serialized_once_it_is_the_fingerprint_and_the_compressed_text(
        small: Fleet, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "FINGERPRINT_CHUNK", chunk)
    made = serialized(small)
    assert made.fingerprint == whole_text_digest(small)
    text = small.model_dump_json().encode()
    assert zlib.decompress(made.compressed) == text
    assert made.compressed == zlib.compress(text, 1)  # the bytes a whole compression gives


def test_the_last_fleet_serialized_is_kept_while_it_lives(
        small: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = small.model_copy()
    made = serialized(fleet)
    assert serialized(fleet) is made
    equal = small.model_copy()  # an equal fleet, another object: serialized anew
    again = serialized(equal)
    assert again is not made and again == made
    monkeypatch.setattr(files, "_json_chunks", None)  # the kept one is not serialized again
    assert fingerprint(equal) == made.fingerprint
    assert serialized(equal) is again
    del equal
    gc.collect()
    assert files._kept is not None and files._kept[0]() is None
    with pytest.raises(TypeError):  # a dead fleet's is not taken for another
        fingerprint(fleet)
