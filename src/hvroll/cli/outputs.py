"""Where commands write: never over an operator's file by surprise.

``-o PATH`` is refused, before anything is computed or written, when PATH

- is a directory;
- is one of the command's own inputs (``hvroll plan f.yaml -o f.yaml``);
- holds a file of another kind: a state file (never replaced by any command), an inventory, a
  plan or a report where another kind is written;
- holds a file of the same kind (or one hvroll does not recognise), unless ``--force`` is given.

An empty file is replaced without asking. The kind of a file is told from its first bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

from hvroll.errors import InputError

FORCE_HELP = ("Replace PATH if it already holds a file of the same kind (never a state file, an "
              "input of this command or a file of another kind).")

_HEAD_BYTES = 65536


class Kind(StrEnum):
    INVENTORY = "inventory"
    PLAN = "plan"
    CONTROLPLANE_PLAN = "control-plane plan"
    REPORT = "report"
    STATE = "state file"
    OTHER = "file hvroll did not write"


_INVENTORY = re.compile(rb'^(?:# hvroll inventory|"?(?:hosts|vms|regions|clusters)"?\s*:)',
                        re.MULTILINE)
_PLAN = re.compile(rb'^\s*\{\s*"version"\s*:\s*\d+\s*,\s*"strategy"\s*:')
_CONTROLPLANE_PLAN = re.compile(rb'^\s*\{\s*"kind"\s*:\s*"hvroll-controlplane-plan"')


def kind_of(path: Path) -> Kind | None:
    """What an existing file is; None for an empty one."""
    with path.open("rb") as stream:
        head = stream.read(_HEAD_BYTES)
    if not head.strip():
        return None
    if head.startswith(b"SQLite format 3\x00"):
        return Kind.STATE
    if _PLAN.match(head):
        return Kind.PLAN
    if _CONTROLPLANE_PLAN.match(head):
        return Kind.CONTROLPLANE_PLAN
    if head.lstrip()[:15].lower() == b"<!doctype html>" and b"hvroll" in head:
        return Kind.REPORT
    if _INVENTORY.search(head):
        return Kind.INVENTORY
    return Kind.OTHER


def check_output(path: Path, kind: Kind, *, inputs: Iterable[Path | str | None] = (),
                 force: bool = False, option: str = "--output") -> None:
    """Raise :class:`InputError` unless ``path`` may receive a new ``kind`` (see the module)."""
    if path.is_dir():
        raise InputError(f"{path}: is a directory (expected a file path for {option}, e.g. "
                         f"{path / _example(kind)})")
    for source in inputs:
        if source is not None and _same(path, Path(source)):
            raise InputError(f"{path}: is an input of this command (expected another path for "
                             f"{option}; the {kind.value} would replace it)")
    if not path.exists():
        return
    try:
        found = kind_of(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror}; expected a new path for "
                         f"{option})") from None
    if found is None:
        return
    if found is Kind.STATE:
        raise InputError(f"{path}: is a state file (expected a new path for {option}; a "
                         f"campaign's state is never replaced)")
    if found is not kind and found is not Kind.OTHER:
        raise InputError(f"{path}: is {_article(found)} (expected a new path for {option}, "
                         f"which writes {_article(kind)})")
    if not force:
        raise InputError(f"{path}: exists and holds {_article(found)} (expected a new path, or "
                         f"--force to replace it)")


def _same(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return a.resolve() == b.resolve()


def _article(kind: Kind) -> str:
    return f"an {kind.value}" if kind.value[0] in "aeiou" else f"a {kind.value}"


def _example(kind: Kind) -> str:
    return {Kind.INVENTORY: "fleet.yaml", Kind.PLAN: "plan.json",
            Kind.CONTROLPLANE_PLAN: "cp-plan.json", Kind.REPORT: "report.html"}.get(kind, "out")
