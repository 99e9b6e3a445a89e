"""Turn pydantic validation errors into one readable line each: what, expected, got."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

KIND = {
    "regions": "region",
    "clusters": "cluster",
    "generations": "generation",
    "profiles": "profile",
    "server_groups": "server group",
    "hosts": "host",
    "vms": "vm",
}
"""Singular names of the inventory's sections, for messages."""

_TYPE_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "tuple_type": "a list",
    "list_type": "a list",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
    "datetime_type": "an ISO 8601 time such as 2026-01-31T12:00:00Z",
    "datetime_parsing": "an ISO 8601 time such as 2026-01-31T12:00:00Z",
    "datetime_from_date_parsing": "an ISO 8601 time such as 2026-01-31T12:00:00Z",
}


def subject(data: Mapping[str, Any], loc: Sequence[str | int]) -> tuple[str, str]:
    """The object a location belongs to and the field inside it:
    ``("vm 'web-1'", "guest.family")``."""
    if len(loc) >= 2 and isinstance(loc[1], int) and str(loc[0]) in KIND:
        kind = KIND[str(loc[0])]
        records = data.get(str(loc[0]))
        name = None
        if isinstance(records, list) and 0 <= loc[1] < len(records):
            record = records[loc[1]]
            if isinstance(record, Mapping) and isinstance(record.get("name"), str):
                name = record["name"]
        who = f"{kind} {name!r}" if name else f"{kind} #{loc[1] + 1}"
        return who, _dotted(loc[2:])
    return "inventory", _dotted(loc)


def describe(error: ErrorDetails, data: Mapping[str, Any], root: type[BaseModel]) -> str:
    """One line for one pydantic error, in the form ``what (expected …, got …)``."""
    loc = tuple(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx", {})
    got = _got(error.get("input"))
    if kind == "extra_forbidden":
        who, _ = subject(data, loc[:-1])
        allowed = ", ".join(_fields_at(root, loc[:-1]))
        return f"{who} has unknown key {loc[-1]!r} (expected one of: {allowed})"
    who, field = subject(data, loc)
    if kind == "missing":
        return f"{who} is missing required key {field!r}"
    if kind in _TYPE_WORDS:
        return f"{who} {field} has the wrong type (expected {_TYPE_WORDS[kind]}, got {got})"
    if kind == "enum":
        options = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"{who} {field} is not a known value (expected one of: {options}, got {got})"
    if kind == "literal_error":
        return f"{who} {field} is not supported (expected {ctx.get('expected')}, got {got})"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
              "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values()), "?")
        return f"{who} {field} is out of range (expected {op} {bound}, got {got})"
    if kind == "string_pattern_mismatch":
        return (f"{who} {field} is not a valid name (expected letters, digits and ._:@/- "
                f"starting with a letter or digit, got {got})")
    if kind in ("string_too_short", "string_too_long"):
        return f"{who} {field} has the wrong length (expected 1 to 255 characters, got {got})"
    if kind == "value_error":
        reason = str(ctx.get("error", error["msg"]))
        return f"{who} {field} is invalid ({reason})"
    return f"{who} {field}: {error['msg']} (got {got})"


def _dotted(parts: Sequence[str | int]) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in parts).replace(".[", "[")


def _got(value: object) -> str:
    text = repr(value)
    if isinstance(value, (dict, list)):
        text = f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


def _fields_at(root: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """Field names of the model found at ``loc`` below ``root``."""
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field is not None else None
    return list(model.model_fields) if model is not None else []


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (tuple, list, typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
