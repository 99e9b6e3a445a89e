"""Read and write inventory documents, remembering where each record stands.

hvroll writes a *canonical* layout, in YAML and JSON alike: the top-level keys in a fixed order,
one record per line, each record a JSON object. It is valid YAML (a flow mapping is a superset of
a JSON object), readable by any YAML tool, and fast: a 250,000-VM fleet loads in about a second,
against minutes for a general YAML parser. A document in any other layout, e.g. hand-written
block YAML, is read by PyYAML through :mod:`hvroll.inventory.reading` (duplicate keys, non-finite
numbers, deep nesting and alias bombs refused), and its lines are found from PyYAML's node
marks, only when an error has to be reported. The canonical reader refuses the same things by
handing any doubtful document to the general one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, Protocol

from hvroll.errors import InventoryError, Problem
from hvroll.inventory.locate import LineIndex
from hvroll.inventory.reading import json_hooks, load_json, load_yaml

Data = dict[str, Any]


class Format(StrEnum):
    YAML = "yaml"
    JSON = "json"

    @classmethod
    def of(cls, path: str) -> Format:
        """The format named by a file's extension; YAML unless it ends in ``.json``."""
        return cls.JSON if path.lower().endswith(".json") else cls.YAML


class Lines(Protocol):
    def line_of(self, path: Sequence[str | int], *, key: bool = False) -> int: ...


HEADER = "# hvroll inventory; format: docs/inventory.md\n"

_SECTION = re.compile(r'^(?:"(?P<jkey>[a-z_]+)": \[|(?P<ykey>[a-z_]+):)(?P<rest>.*)$')
_YAML_ITEM = "- "


class RecordLines:
    """Line numbers of a canonical document: one per record, one per top-level key."""

    def __init__(self, key_lines: dict[str, int], record_lines: dict[str, list[int]]) -> None:
        self._keys = key_lines
        self._records = record_lines

    def line_of(self, path: Sequence[str | int], *, key: bool = False) -> int:
        if not path:
            return 1
        section = str(path[0])
        if len(path) >= 2 and isinstance(path[1], int):
            lines = self._records.get(section, [])
            if 0 <= path[1] < len(lines):
                return lines[path[1]]
        return self._keys.get(section, 1)


def parse(text: str, fmt: Format, file: str) -> tuple[Data, Lines]:
    """Parse a document into plain data and a way to find lines; syntax errors raise
    :class:`InventoryError` with the line of the fault."""
    canonical = _parse_canonical(text, fmt)
    if canonical is not None:
        return canonical
    data = load_json(text, file) if fmt is Format.JSON else load_yaml(text, file)
    if not isinstance(data, dict):
        got = "an empty document" if data is None else type(data).__name__
        raise InventoryError(
            [Problem(file, 1, f"an inventory must be a mapping of sections (expected "
                              f"keys such as version, hosts, vms, got {got})")]
        )
    return data, _LazyLines(text)


def render(data: Mapping[str, Any], fmt: Format) -> str:
    """The canonical text of ``data``: scalars first, then each list with one record a line."""
    out: list[str] = []
    items = list(data.items())
    if fmt is Format.YAML:
        out.append(HEADER)
        for key, value in items:
            if isinstance(value, list):
                if not value:
                    out.append(f"{key}: []\n")
                    continue
                out.append(f"{key}:\n")
                out.extend(f"- {_dumps(v)}\n" for v in value)
            else:
                out.append(f"{key}: {_dumps(value)}\n")
        return "".join(out)
    out.append("{\n")
    for n, (key, value) in enumerate(items):
        comma = "," if n < len(items) - 1 else ""
        if isinstance(value, list) and value:
            out.append(f'"{key}": [\n')
            out.extend(f"{_dumps(v)}{',' if i < len(value) - 1 else ''}\n"
                       for i, v in enumerate(value))
            out.append(f"]{comma}\n")
        else:
            out.append(f'"{key}": {_dumps(value)}{comma}\n')
    out.append("}\n")
    return "".join(out)


_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(", ", ": ")).encode


def _parse_canonical(text: str, fmt: Format) -> tuple[Data, RecordLines] | None:
    """Parse the canonical layout, or return None so the general parser takes over."""
    if fmt is Format.JSON:
        try:
            data = json.loads(text, **json_hooks())
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict):
            return None
        lines = _json_record_lines(text, data)
        return None if lines is None else (data, lines)
    result: Data = {}
    key_lines: dict[str, int] = {}
    record_lines: dict[str, list[int]] = {}
    records: dict[str, list[str]] = {}
    section: list[str] | None = None
    section_lines: list[int] = []
    decode = json.JSONDecoder(**json_hooks()).decode
    try:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line or line.startswith("#"):
                continue
            if line.startswith(_YAML_ITEM):
                if section is None or not line.endswith("}"):
                    return None
                section.append(line[2:])
                section_lines.append(number)
                continue
            match = _SECTION.match(line)
            if match is None or match["ykey"] is None or match["ykey"] in key_lines:
                return None
            key, rest = match["ykey"], match["rest"].strip()
            key_lines[key] = number
            if rest:
                result[key] = decode(rest)
                section = None
                if isinstance(result[key], (list, dict)) and result[key]:
                    return None
            else:
                section, section_lines = [], []
                records[key] = section
                record_lines[key] = section_lines
        for key, texts in records.items():
            # One decode of the whole section: many times faster than one per line.
            result[key] = decode(f"[{','.join(texts)}]")
            if len(result[key]) != len(texts):
                return None
    except (ValueError, RecursionError):
        return None
    if not result:
        return None
    return {k: result[k] for k in key_lines}, RecordLines(key_lines, record_lines)


def _json_record_lines(text: str, data: Data) -> RecordLines | None:
    key_lines: dict[str, int] = {}
    record_lines: dict[str, list[int]] = {}
    current: list[int] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = _SECTION.match(line)
        if match is not None and match["jkey"] is not None:
            key_lines[match["jkey"]] = number
            current = record_lines.setdefault(match["jkey"], [])
        elif line.startswith('"'):
            key_lines[line[1:line.find('"', 1)]] = number
            current = None
        elif current is not None and line.startswith("{"):
            current.append(number)
        elif line.startswith("]"):
            current = None
    for key, value in data.items():
        if isinstance(value, list) and len(value) != len(record_lines.get(key, [])):
            return None
    return RecordLines(key_lines, record_lines)


class _LazyLines:
    """Lines from PyYAML's node marks, computed on the first look-up only."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._index: LineIndex | None = None

    def line_of(self, path: Sequence[str | int], *, key: bool = False) -> int:
        if self._index is None:
            self._index = LineIndex(self._text)
        return self._index.line_of(path, key=key)


