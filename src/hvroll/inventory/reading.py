"""Read operator files (inventories, plans, rules, journals) without trusting them.

Every file an operator hands hvroll goes through here first, so that whatever it holds, the
answer is one line per problem, ``FILE:LINE: what (expected …, got …)``, never a traceback,
a hang or a silently dropped record:

- bytes that are not UTF-8 text: the offset of the first bad byte;
- a key given twice in one mapping (a second ``vms:`` section, a repeated ``ram_mib``): both
  lines, since YAML and JSON parsers would otherwise keep the last one silently;
- ``.inf``, ``.nan``, ``Infinity``, ``NaN``: refused where they are written (no quantity of a
  fleet is infinite);
- nesting deeper than :data:`MAX_DEPTH` levels (the inventory needs 4);
- YAML aliases: at most :data:`MAX_ALIASES`, and the document they expand to at most
  :data:`MAX_EXPANDED_NODES` nodes, so an alias bomb of a few hundred bytes is refused in
  milliseconds instead of expanding to billions of nodes.

The checks walk the parser's events and nodes without recursion. JSON is parsed by the
standard library with hooks; its positions are only looked for when something is wrong.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from hvroll.errors import InputError, InventoryError, Problem

MAX_DEPTH = 32
"""Deepest nesting of mappings and lists accepted in any file (an inventory needs 4)."""
MAX_ALIASES = 10_000
"""Most YAML alias references (``*name``) accepted in one document."""
MAX_EXPANDED_NODES = 5_000_000
"""Most nodes a YAML document may have once its aliases are expanded."""

_NON_FINITE = frozenset({".inf", "-.inf", "+.inf", ".nan"})
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FLOAT_TAG = "tag:yaml.org,2002:float"


def read_text(path: str | os.PathLike[str], expected: str) -> str:
    """The text of an operator's file, or one-line :class:`InputError` (missing, unreadable,
    a directory, not UTF-8). ``expected`` names what the file should be, for messages."""
    name = os.fspath(path)
    try:
        data = Path(name).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{name}: no such file (expected {expected})") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory (expected {expected})") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror}; expected {expected})") from None
    return decode(data, name, expected)


def decode(data: bytes, file: str, expected: str) -> str:
    """``data`` as UTF-8 text (a leading BOM is dropped), or a one-line :class:`InputError`
    naming the line of the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InventoryError([Problem(file, line, f"not UTF-8 text (byte 0x{data[exc.start]:02x} "
                                                  f"at offset {exc.start}; expected "
                                                  f"{expected})")]) from None


def load_yaml(text: str, file: str) -> Any:
    """Parse one YAML document (JSON included) with the checks of this module; problems raise
    :class:`InventoryError` with lines."""
    _check_events(text, file)
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise _yaml_error(exc, file) from None
        if node is None:
            return None
        _check_nodes(node, file)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, file) from None
    except yaml.YAMLError as exc:
        raise InventoryError([Problem(file, 0, f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()


class _RefusedError(ValueError):
    """A JSON hook found a duplicate key or a non-finite number; located afterwards."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _RefusedError
    return out


def _constant(name: str) -> float:
    raise _RefusedError(name)


def json_hooks() -> dict[str, Any]:
    """Keyword arguments for :func:`json.loads` that raise on a duplicate key or a non-finite
    number (then call :func:`load_json` to have them located)."""
    return {"object_pairs_hook": _unique, "parse_constant": _constant}


def load_json(text: str, file: str) -> Any:
    """Parse a JSON document with the checks of this module; problems raise
    :class:`InventoryError` with lines."""
    try:
        return json.loads(text, **json_hooks())
    except json.JSONDecodeError as exc:
        raise InventoryError([Problem(file, exc.lineno, f"invalid JSON: {exc.msg} (at column "
                                                        f"{exc.colno})")]) from None
    except (_RefusedError, RecursionError):
        raise InventoryError([locate_json_problem(text, file)]) from None


_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"(\s*:)?|[{}\[\]]|-?Infinity|NaN|\n')


def locate_json_problem(text: str, file: str) -> Problem:
    """The first duplicate key, non-finite number or too deep nesting of a JSON text, with its
    line (a scan of the tokens; only run when the parser refused the text)."""
    line = 1
    keys: list[dict[str, int] | None] = []
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token == "\n":
            line += 1
        elif token in ("{", "["):
            keys.append({} if token == "{" else None)
            if len(keys) > MAX_DEPTH:
                return _too_deep(file, line)
        elif token in ("}", "]"):
            if keys:
                keys.pop()
        elif token in ("Infinity", "-Infinity", "NaN"):
            return _non_finite(file, line, token)
        elif match.group(1) is not None and keys and keys[-1] is not None:
            key = json.loads(token[:token.rindex('"') + 1])
            first = keys[-1].get(key)
            if first is not None:
                return _duplicate(file, line, key, first)
            keys[-1][key] = line
    return Problem(file, 0, f"nested more than {MAX_DEPTH} levels or otherwise unreadable JSON "
                            f"(expected at most {MAX_DEPTH} levels)")


def _check_events(text: str, file: str) -> None:
    depth = aliases = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise InventoryError([_too_deep(file, _line(event.start_mark))])
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise InventoryError([Problem(
                        file, _line(event.start_mark),
                        f"too many YAML aliases (expected at most {MAX_ALIASES})")])
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, file) from None
    except yaml.YAMLError as exc:
        raise InventoryError([Problem(file, 0, f"invalid YAML: {exc}")]) from None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_nodes(root: yaml.Node, file: str) -> None:
    """Duplicate keys, non-finite numbers, recursive aliases and the expanded size, in one
    post-order walk of the node graph (each node once: an alias is the same node object)."""
    size: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            active.discard(key)
            total = 1 + sum(size[id(c)] for c in children)
            if total > MAX_EXPANDED_NODES:
                raise InventoryError([Problem(
                    file, node.start_mark.line + 1,
                    f"YAML aliases expand this document beyond {MAX_EXPANDED_NODES:,} nodes "
                    f"(expected at most that; write the values out or use fewer aliases)")])
            size[key] = total
            continue
        if key in size:
            continue
        if key in active:
            raise InventoryError([Problem(file, node.start_mark.line + 1,
                                          "a YAML alias refers to a node that contains it "
                                          "(expected no recursive aliases)")])
        _check_node(node, file)
        active.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


def _check_node(node: yaml.Node, file: str) -> None:
    if isinstance(node, yaml.MappingNode):
        first: dict[object, int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                line = key_node.start_mark.line + 1
                if key_node.value in first:
                    raise InventoryError([_duplicate(file, line, key_node.value,
                                                     first[key_node.value])])
                first[key_node.value] = line
    elif isinstance(node, yaml.ScalarNode) and node.tag == _FLOAT_TAG \
            and str(node.value).lower() in _NON_FINITE:
        raise InventoryError([_non_finite(file, node.start_mark.line + 1, node.value)])


def _line(mark: Any) -> int:
    return int(mark.line) + 1 if mark is not None else 0


def _yaml_error(exc: yaml.MarkedYAMLError, file: str) -> InventoryError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 0
    return InventoryError([Problem(file, line, f"invalid YAML: {exc.problem or 'unparsable'}")])


def _duplicate(file: str, line: int, key: object, first: int) -> Problem:
    where = f"on line {line}" if first == line else f"on lines {first} and {line}"
    return Problem(file, line, f"key {key!r} is given twice in one mapping, {where} (expected "
                               f"each key once; merge the two)")


def _non_finite(file: str, line: int, value: object) -> Problem:
    return Problem(file, line, f"numbers must be finite (expected a number, got {value})")


def _too_deep(file: str, line: int) -> Problem:
    return Problem(file, line, f"nested too deeply (expected at most {MAX_DEPTH} levels of "
                               f"mappings and lists)")
