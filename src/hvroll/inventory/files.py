"""Load, validate and save fleets (``hvroll fleet validate``, every command that takes FILE)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
import tempfile
import weakref
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from pydantic import TypeAdapter, ValidationError

from hvroll.bulk import long_lived, paused_gc
from hvroll.domain import INVENTORY_VERSION, Fleet
from hvroll.errors import InputError, InventoryError, Problem
from hvroll.inventory import references
from hvroll.inventory.document import Format, Lines, parse, render
from hvroll.inventory.messages import describe
from hvroll.inventory.reading import read_text

MAX_PROBLEMS = 200
"""At most this many problems are listed; a last line says how many more there were."""


def load_fleet(path: str | os.PathLike[str]) -> Fleet:
    """Read and fully validate an inventory file; raise :class:`InventoryError` listing every
    problem with its line, or :class:`InputError` when the file cannot be read."""
    name = os.fspath(path)
    text = read_text(name, "an inventory in YAML or JSON; make one with 'hvroll fleet "
                           "generate'")
    return parse_fleet(text, name, Format.of(name))


VALIDATE_CHUNK = 4096
"""Records of a section validated at once by :func:`parse_fleet`."""


def parse_fleet(text: str, file: str, fmt: Format = Format.YAML) -> Fleet:
    """Validate the text of an inventory; ``file`` is only used in messages.

    The fleet is built with the cyclic collector paused and frozen once built
    (:func:`hvroll.bulk.long_lived`): the collections that followed a load walked every one of
    its objects (the public preset's load: 15.4 s CPU, of which about 9 s collections)."""
    with long_lived():
        data, lines = parse(text, fmt, file)
        fleet = _validated(data)
        if fleet is None:
            del data
            data, lines = parse(text, fmt, file)
            _raise_problems(data, lines, file)
        findings = references.check(fleet)
    if findings:
        raise InventoryError(_cap([_problem(f, file, lines) for f in findings], file))
    return fleet


def _validated(data: dict[str, Any]) -> Fleet | None:
    """The fleet of a parsed document, or None when anything in it is wrong.

    Each list of records is validated :data:`VALIDATE_CHUNK` records at a time, and each
    chunk's parsed data is dropped from ``data`` as soon as its models exist, so the parsed
    document and the models never both live whole (the public preset: about 900 MiB each).
    ``data`` is consumed: after None, parse the text again for the messages."""
    try:
        for name, adapter in _field_adapters().items():
            raw = data.get(name)
            if not isinstance(raw, list):
                continue
            models: list[Any] = []
            for start in range(0, len(raw), VALIDATE_CHUNK):
                end = min(start + VALIDATE_CHUNK, len(raw))
                models.extend(adapter.validate_python(raw[start:end]))
                raw[start:end] = [None] * (end - start)
            data[name] = tuple(models)
        return Fleet.model_validate(data)
    except ValidationError:
        return None


def _raise_problems(data: dict[str, Any], lines: Lines, file: str) -> NoReturn:
    """Raise every problem pydantic finds in the whole document, each with its line."""
    try:
        Fleet.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(file, lines.line_of(tuple(err["loc"]), key=err["type"] == "extra_forbidden"),
                    describe(err, data, Fleet))
            for err in exc.errors(include_url=False)
        ]
        raise InventoryError(_cap(sorted(problems, key=lambda p: p.line), file)) from None
    raise AssertionError("a document refused in parts was accepted whole")


def dump_fleet(fleet: Fleet, fmt: Format = Format.YAML) -> str:
    """The canonical text of a fleet; ``parse_fleet(dump_fleet(f))`` gives ``f`` back and
    dumping that again gives the same bytes."""
    return render(fleet_data(fleet), fmt)


def fleet_data(fleet: Fleet) -> dict[str, Any]:
    """Plain JSON-able data of a fleet, defaults left out, ``version`` always first."""
    with paused_gc():
        data = fleet.model_dump(mode="json", exclude_defaults=True)
    data.pop("version", None)
    return {"version": INVENTORY_VERSION, **data}


def save_fleet(fleet: Fleet, path: str | os.PathLike[str]) -> None:
    """Write atomically: a crash leaves the old file or the new one, never half of one."""
    name = os.fspath(path)
    write_atomic(name, dump_fleet(fleet, Format.of(name)))


def write_atomic(path: str, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed into place, so a crash or a
    full disk leaves the old file whole.

    ``mode``: the file's permission bits; else those of the file it replaces, or for a new file
    what ``open()`` would give (0666 less the umask), as an editor or ``cp`` would leave them."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path()
    if mode is None:
        try:
            replaced: int | None = target.stat().st_mode
        except OSError:
            replaced = None
        mode = file_mode(replaced, _umask())
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(fd, mode)
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_mode(replaced: int | None, umask: int) -> int:
    """The permission bits :func:`write_atomic` gives a file: those of the file it replaces
    (``replaced``, an ``st_mode``), else ``open()``'s for a new file."""
    if replaced is not None:
        return stat.S_IMODE(replaced)
    return 0o666 & ~umask


def _umask() -> int:
    """This process's umask, read without changing it (``/proc/self/status``, Linux 4.7 and
    later), else by setting it and back."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


FINGERPRINT_CHUNK = 4096
"""Records of a section serialized at once by :func:`fingerprint` and :func:`serialized`."""


def fingerprint(fleet: Fleet) -> str:
    """A digest of everything in ``fleet``: a plan records the one of its inventory, and a
    campaign refuses a plan made for another.

    It is the SHA-256 of the fleet's JSON (``fleet.model_dump_json()``), fed to the hash a
    section at a time and :data:`FINGERPRINT_CHUNK` records at a time, so the whole text is
    never held: for the public preset's 250,819 VMs that text and its bytes were about 300
    MiB on top of the fleet, the peak of ``hvroll plan``. The one :func:`serialized` kept
    for this fleet, if any."""
    kept = _kept_for(fleet)
    if kept is not None:
        return kept.fingerprint
    digest = hashlib.sha256()
    for chunk in _json_chunks(fleet):
        digest.update(chunk)
    return digest.hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Serialized:
    """A fleet's JSON as a campaign keeps it (:func:`serialized`)."""

    fingerprint: str
    """:func:`fingerprint` of the fleet."""
    compressed: bytes
    """Its JSON (``fleet.model_dump_json()``), zlib-compressed at level 1: what a
    campaign's store keeps as its inventory."""


_kept: tuple[weakref.ref[Fleet], Serialized] | None = None
"""The last fleet :func:`serialized` made, and what it made."""


def serialized(fleet: Fleet) -> Serialized:
    """The fleet's fingerprint and compressed JSON, from one pass over its JSON (made a
    section and :data:`FINGERPRINT_CHUNK` records at a time, as :func:`fingerprint` makes
    it, never held whole). Kept for the last fleet it was asked for, as long as that fleet
    lives: planning a fleet (its fingerprint) and storing it as a campaign's inventory (its
    compressed JSON) in one process serialize it once, not twice (public preset: about 1 s
    each on a quiet machine). The compression costs a fifth of a serialization (public
    preset: 18.7 MB kept out of 169 MB of JSON)."""
    global _kept
    kept = _kept_for(fleet)
    if kept is not None:
        return kept
    digest = hashlib.sha256()
    compressor = zlib.compressobj(1)
    parts: list[bytes] = []
    for chunk in _json_chunks(fleet):
        digest.update(chunk)
        parts.append(compressor.compress(chunk))
    parts.append(compressor.flush())
    made = Serialized(digest.hexdigest()[:32], b"".join(parts))
    _kept = (weakref.ref(fleet), made)
    return made


def _kept_for(fleet: Fleet) -> Serialized | None:
    kept = _kept
    return kept[1] if kept is not None and kept[0]() is fleet else None


def _json_chunks(fleet: Fleet) -> Iterator[bytes]:
    """The fleet's JSON (``fleet.model_dump_json()``), a section at a time and
    :data:`FINGERPRINT_CHUNK` records at a time."""
    yield b"{"
    for n, (name, adapter) in enumerate(_field_adapters().items()):
        yield b'%s"%s":' % (b"," if n else b"", name.encode())
        value = getattr(fleet, name)
        if not isinstance(value, tuple) or len(value) <= FINGERPRINT_CHUNK:
            yield adapter.dump_json(value)
            continue
        yield b"["
        for start in range(0, len(value), FINGERPRINT_CHUNK):
            if start:
                yield b","
            yield adapter.dump_json(value[start:start + FINGERPRINT_CHUNK])[1:-1]
        yield b"]"
    yield b"}"


@functools.cache
def _field_adapters() -> dict[str, TypeAdapter[Any]]:
    """A validator and serializer per field of :class:`Fleet`, in the order its JSON lists
    them."""
    return {name: TypeAdapter(field.rebuild_annotation())
            for name, field in Fleet.model_fields.items()}


def fleet_schema() -> dict[str, Any]:
    """The JSON Schema of the inventory format."""
    schema = Fleet.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "hvroll inventory"
    return schema


def schema_text() -> str:
    return json.dumps(fleet_schema(), indent=2, sort_keys=True) + "\n"


def _problem(finding: references.Finding, file: str, lines: Lines) -> Problem:
    message = finding.message
    if finding.first is not None:
        message = f"{message[:-1]}; the first is on line {lines.line_of(finding.first)})"
    return Problem(file, lines.line_of(finding.path), message)


def _cap(problems: list[Problem], file: str) -> list[Problem]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    rest = len(problems) - MAX_PROBLEMS
    return [*problems[:MAX_PROBLEMS], Problem(file, 0, f"… and {rest} more problems")]
