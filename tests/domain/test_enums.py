"""The vocabulary's enumerations: written to JSON as their values, read back as members."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from hvroll.domain import enums
from hvroll.domain.enums import DiskKind, Vocabulary
from hvroll.planner import model as planner_model

WORDS = sorted((cls for module in (enums, planner_model) for cls in vars(module).values()
                if isinstance(cls, type) and issubclass(cls, Vocabulary) and cls is not Vocabulary),
               key=lambda cls: cls.__name__)


class Holder(BaseModel):
    one: DiskKind
    some: tuple[DiskKind, ...] = ()
    maybe: DiskKind | None = None
    by: dict[DiskKind, int] = {}


def test_the_fleet_and_plan_enumerations_are_words() -> None:
    assert [cls.__name__ for cls in WORDS] == [
        "ConfigDrive", "CpuMode", "DiskKind", "GroupPolicy", "GuestOsFamily", "HostRole",
        "MoveKind", "Passthrough", "PowerState", "SchedulingState", "SkipCause", "Strategy",
        "UnmovableAction"]


@pytest.mark.parametrize("cls", WORDS, ids=lambda cls: cls.__name__)
def test_each_member_is_written_as_its_value_and_read_back(cls: type[Vocabulary]) -> None:
    adapter = TypeAdapter(cls)
    for member in cls:
        assert adapter.dump_json(member) == json.dumps(member.value).encode()
        assert adapter.dump_python(member, mode="json") == member.value
        assert adapter.dump_python(member) is member
        assert adapter.validate_json(json.dumps(member.value)) is member


def test_a_model_writes_values_in_fields_tuples_options_and_keys() -> None:
    held = Holder(one=DiskKind.LOCAL, some=(DiskKind.SHARED, DiskKind.VOLUME), maybe=None,
                  by={DiskKind.VOLUME: 2})
    text = held.model_dump_json()
    assert text == ('{"one":"local","some":["shared","volume"],"maybe":null,'
                    '"by":{"volume":2}}')
    assert Holder.model_validate_json(text) == held
    assert held.model_dump()["some"] == (DiskKind.SHARED, DiskKind.VOLUME)


def test_a_word_outside_the_vocabulary_is_refused() -> None:
    with pytest.raises(ValidationError, match="Input should be 'local', 'shared' or 'volume'"):
        Holder.model_validate_json('{"one": "nfs"}')
