"""The release catalogue: OpenStack releases, upgrade edges and host OS support as data.

The shipped catalogue is ``hvroll/controlplane/data/catalogue.yaml``; every fact in it names
its sources, and a fact no source states directly says ``verified: false`` with a note.
:func:`load_catalogue` validates a file with line-numbered errors, like the compat rules.

What the catalogue answers (all pure, all read from the data):

* :meth:`Catalogue.release` — a release by lower-case name or series (``kilo``, ``2025.1``);
* :meth:`Catalogue.edge` — whether ``a → b`` is a supported upgrade, how (adjacent or
  skip-level, rolling or cold) and why, or why not;
* :meth:`Catalogue.supports` — whether a release runs on a host OS, and on what basis.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, cached_property
from importlib import resources
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hvroll.errors import InputError, InventoryError, Problem
from hvroll.inventory.locate import LineIndex
from hvroll.inventory.messages import describe
from hvroll.inventory.reading import load_yaml, read_text

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=40)]
OsId = Annotated[str, Field(pattern=r"^[a-z]+-[0-9]+(\.[0-9]+)*$", max_length=40)]
Text = Annotated[str, Field(min_length=1)]


class Basis(StrEnum):
    PACKAGED = "packaged"
    """The distribution ships or backports the release."""
    TESTED = "tested"
    """Upstream CI tests the release on it."""
    INFERRED = "inferred"
    """No source states it; assumed from the releases around it (``verified: false``)."""


class EdgeKind(StrEnum):
    ROLLING = "rolling"
    COLD = "cold"
    SKIP_LEVEL = "skip-level"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Model):
    id: Name
    name: Text
    url: str | None = None
    note: str = ""


class Release(_Model):
    name: Name
    series: Annotated[str, Field(pattern=r"^20[0-9]{2}\.[12]$")] | None = None
    slurp: bool = False
    released: dt.date
    status: str = "end of life"
    eol: dt.date | None = None
    maintained_until: dt.date | None = None
    sources: Annotated[tuple[Name, ...], Field(min_length=1)]
    note: str = ""

    @property
    def key(self) -> str:
        """How plans name it: the series when it has one (``2025.1``), else the name."""
        return self.series or self.name

    @property
    def label(self) -> str:
        return f"{self.series} ({self.name})" if self.series else self.name


class SkipLevel(_Model):
    since: Name
    sources: Annotated[tuple[Name, ...], Field(min_length=1)]
    note: str = ""


class Stop(_Model):
    """A release no upgrade may jump over."""

    release: Name
    project: Name
    why: Text
    sources: Annotated[tuple[Name, ...], Field(min_length=1)]


class Rolling(_Model):
    """From which target release a project upgrades rolling (mixed versions, RPC pinning)."""

    project: Name
    since: Name
    skip_level: bool = False
    why: Text
    sources: Annotated[tuple[Name, ...], Field(min_length=1)]
    note: str = ""


class OsRelease(_Model):
    id: OsId
    family: Name
    version: Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)*$")]
    codename: str = ""
    lts: bool
    note: str = ""


class Support(_Model):
    os: OsId
    releases: Annotated[tuple[Name, ...], Field(min_length=1)]
    basis: Basis
    verified: bool = True
    sources: Annotated[tuple[Name, ...], Field(min_length=1)]
    note: str = ""


class CatalogueFile(_Model):
    schema_: Annotated[int, Field(alias="schema", ge=1, le=1)]
    sources: Annotated[tuple[Source, ...], Field(min_length=1)]
    releases: Annotated[tuple[Release, ...], Field(min_length=1)]
    skip_level: SkipLevel
    stops: tuple[Stop, ...] = ()
    rolling: tuple[Rolling, ...] = ()
    os: tuple[OsRelease, ...] = ()
    support: tuple[Support, ...] = ()


@dataclass(frozen=True)
class Edge:
    """A supported upgrade ``source → target`` and why."""

    source: Release
    target: Release
    kind: EdgeKind
    rolling: bool
    reason: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class NoEdge:
    """Why ``source → target`` is not a supported upgrade."""

    source: Release
    target: Release
    reason: str


@dataclass(frozen=True)
class OsName:
    """A host OS as the operator writes it: ``ubuntu-14.04``, ``rhel-7.1``."""

    family: str
    version: str

    def __str__(self) -> str:
        return f"{self.family}-{self.version}"


@dataclass(frozen=True, eq=False)
class Catalogue:
    """The validated catalogue, with lookups. Compared by identity (caches key on it)."""

    data: CatalogueFile
    file: str = "<catalogue>"

    @cached_property
    def releases(self) -> tuple[Release, ...]:
        """Oldest first."""
        return tuple(sorted(self.data.releases, key=lambda r: r.released))

    @cached_property
    def _index(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for i, r in enumerate(self.releases):
            found[r.name] = i
            if r.series:
                found[r.series] = i
        return found

    @cached_property
    def sources(self) -> dict[str, Source]:
        return {s.id: s for s in self.data.sources}

    @cached_property
    def os_releases(self) -> tuple[OsRelease, ...]:
        return self.data.os

    @cached_property
    def families(self) -> tuple[str, ...]:
        return tuple(sorted({o.family for o in self.data.os}))

    def index(self, release: Release) -> int:
        return self._index[release.name]

    def find(self, text: str) -> Release | None:
        i = self._index.get(text.strip().lower())
        return None if i is None else self.releases[i]

    def release(self, text: str, what: str = "release") -> Release:
        """A release by name or series; InputError naming the known ones otherwise."""
        found = self.find(text)
        if found is None:
            known = ", ".join(r.key for r in self.releases)
            raise InputError(f"{what}: unknown OpenStack release {text!r} (expected a name "
                             f"such as kilo or a series such as 2025.1; known: {known})")
        return found

    # -- upgrade edges ----------------------------------------------------------------------

    def edge(self, source: Release, target: Release,
             projects: Sequence[str] | None = None) -> Edge | NoEdge:
        """Whether ``source → target`` is supported, for ``projects`` (all the catalogue
        knows when None): adjacent releases always; consecutive SLURP releases from
        ``skip_level.since`` on; never over a stop release; rolling when every project rolls
        to ``target``."""
        i, j = self.index(source), self.index(target)
        if j <= i:
            return NoEdge(source, target, f"{target.label} is not newer than {source.label}: "
                                          f"database migrations only go forward")
        sources: tuple[str, ...]
        if j == i + 1:
            kind_skip = False
            why = "adjacent releases"
            sources = ()
        else:
            for stop in self.data.stops:
                k = self._index[stop.release]
                if i < k < j:
                    return NoEdge(source, target, f"it would skip {stop.release}, where "
                                                  f"{stop.project} must stop: {stop.why}")
            skip = self._skip_level_problem(source, target)
            if skip:
                return NoEdge(source, target, skip)
            kind_skip = True
            why = "consecutive SLURP releases: skip-level upgrade"
            sources = self.data.skip_level.sources
        for stop in self.data.stops:
            if stop.release == target.name:
                why += f"; {target.name} is a required stop for {stop.project}: {stop.why}"
                sources += tuple(stop.sources)
        rolling, roll_why, roll_sources = self._rolling(target, projects, kind_skip)
        kind = EdgeKind.SKIP_LEVEL if kind_skip else EdgeKind.ROLLING if rolling else EdgeKind.COLD
        return Edge(source, target, kind, rolling, f"{why}; {roll_why}",
                    tuple(dict.fromkeys(sources + roll_sources)))

    def _skip_level_problem(self, source: Release, target: Release) -> str:
        since = self.releases[self._index[self.data.skip_level.since]]
        if self.index(source) < self.index(since):
            return (f"only adjacent releases upgrade directly before {since.label} "
                    f"(skip-level upgrades start with the SLURP release {since.label})")
        if not source.slurp:
            return f"{source.label} is not a SLURP release: only adjacent upgrades start there"
        if not target.slurp:
            return f"{target.label} is not a SLURP release: skip-level upgrades end on one"
        between = self.releases[self.index(source) + 1:self.index(target)]
        slurps = [r.label for r in between if r.slurp]
        if slurps:
            return (f"the SLURP release {slurps[0]} lies between: skip-level upgrades go to "
                    f"the next SLURP release only")
        return ""

    def _rolling(self, target: Release, projects: Sequence[str] | None,
                 skip: bool) -> tuple[bool, str, tuple[str, ...]]:
        facts = {r.project: r for r in self.data.rolling}
        names = list(projects) if projects is not None else sorted(facts)
        if not names:
            return False, "no project is known to upgrade rolling: cold", ()
        cold: list[str] = []
        sources: list[str] = []
        for name in names:
            fact = facts.get(name)
            if fact is None:
                cold.append(f"{name} (no rolling-upgrade fact in the catalogue)")
                continue
            sources += fact.sources
            if self._index[fact.since] > self.index(target):
                cold.append(f"{name} (rolling only to {self._label(fact.since)} and later)")
            elif skip and not fact.skip_level:
                cold.append(f"{name} (no rolling skip-level upgrade)")
        if cold:
            return False, "cold: " + ", ".join(cold), tuple(dict.fromkeys(sources))
        return True, "rolling: " + "; ".join(f"{n}: {facts[n].why}" for n in names), \
            tuple(dict.fromkeys(sources))

    def _label(self, name: str) -> str:
        return self.releases[self._index[name]].label

    # -- host OS ----------------------------------------------------------------------------

    def parse_os(self, text: str, what: str = "OS") -> OsName:
        """``ubuntu-14.04`` → OsName; InputError for an unknown family or a malformed name."""
        raw = text.strip().lower()
        family, _, version = raw.partition("-")
        if not version or not all(p.isdigit() for p in version.split(".")):
            raise InputError(f"{what}: {text!r} is not a host OS (expected FAMILY-VERSION such "
                             f"as ubuntu-14.04 or rhel-7.1)")
        if family not in self.families:
            raise InputError(f"{what}: unknown OS family {family!r} in {text!r} (expected one "
                             f"of: {', '.join(self.families)})")
        return OsName(family, version)

    def os_entry(self, name: OsName) -> OsRelease | None:
        """The catalogue entry ``name`` belongs to: same family and version, or a minor
        release of it (``rhel-7.1`` belongs to ``rhel-7``)."""
        best: OsRelease | None = None
        for entry in self.data.os:
            matches = entry.family == name.family and (
                name.version == entry.version or name.version.startswith(entry.version + "."))
            if matches and (best is None or len(entry.version) > len(best.version)):
                best = entry
        return best

    def supports(self, release: Release, name: OsName) -> Support | None:
        """The strongest support fact for ``release`` on ``name`` (packaged before tested
        before inferred), or None."""
        entry = self.os_entry(name)
        if entry is None:
            return None
        found = [s for s in self.data.support if s.os == entry.id and release.name in s.releases]
        order = list(Basis)
        return min(found, key=lambda s: order.index(s.basis)) if found else None

    def supported_os(self, release: Release, family: str | None = None) -> list[str]:
        """Ids of the OS releases ``release`` runs on (of ``family`` when given)."""
        ids = {s.os for s in self.data.support if release.name in s.releases}
        return [o.id for o in self.data.os if o.id in ids and (family is None
                                                               or o.family == family)]

    def lts(self, name: OsName) -> bool:
        entry = self.os_entry(name)
        return entry.lts if entry is not None else True


def parse_catalogue(text: str, file: str) -> Catalogue:
    """Validate the text of a catalogue file; problems raise InventoryError with lines."""
    data = load_yaml(text, file)
    if not isinstance(data, dict):
        raise InventoryError([Problem(file, 1, "a catalogue must be a mapping (expected keys "
                                               "schema, sources, releases, …)")])
    lines = LineIndex(text)
    try:
        model = CatalogueFile.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(file, lines.line_of(tuple(e["loc"]),
                                                key=e["type"] == "extra_forbidden"),
                            describe(e, data, CatalogueFile).replace("inventory ", "catalogue ",
                                                                     1))
                    for e in exc.errors(include_url=False)]
        raise InventoryError(sorted(problems, key=lambda p: p.line)) from None
    problems = [Problem(file, lines.line_of(path), what) for path, what in _semantics(model)]
    if problems:
        raise InventoryError(problems)
    return Catalogue(model, file)


def _semantics(model: CatalogueFile) -> list[tuple[tuple[str | int, ...], str]]:
    found: list[tuple[tuple[str | int, ...], str]] = []
    source_ids = {s.id for s in model.sources}
    names: set[str] = set()
    for i, r in enumerate(model.releases):
        for key in (r.name, r.series):
            if key is not None and key in names:
                found.append((("releases", i), f"release {key!r} is listed twice (expected "
                                               f"unique names and series)"))
            if key is not None:
                names.add(key)
    os_ids = {o.id for o in model.os}

    def cite(path: tuple[str | int, ...], ids: Sequence[str]) -> None:
        for sid in ids:
            if sid not in source_ids:
                found.append((path, f"cites unknown source {sid!r} (expected one of the "
                                    f"sources list)"))

    def named(path: tuple[str | int, ...], name: str) -> None:
        if name not in names:
            found.append((path, f"names unknown release {name!r} (expected one of the "
                                f"releases list)"))

    for i, r in enumerate(model.releases):
        cite(("releases", i, "sources"), r.sources)
    cite(("skip_level", "sources"), model.skip_level.sources)
    named(("skip_level", "since"), model.skip_level.since)
    for i, s in enumerate(model.stops):
        cite(("stops", i, "sources"), s.sources)
        named(("stops", i, "release"), s.release)
    for i, ro in enumerate(model.rolling):
        cite(("rolling", i, "sources"), ro.sources)
        named(("rolling", i, "since"), ro.since)
    for i, su in enumerate(model.support):
        cite(("support", i, "sources"), su.sources)
        if su.os not in os_ids:
            found.append((("support", i, "os"), f"names unknown OS {su.os!r} (expected one of "
                                                f"the os list)"))
        for rel in su.releases:
            named(("support", i, "releases"), rel)
        if su.basis is Basis.INFERRED and su.verified:
            found.append((("support", i, "basis"), "an inferred fact must say verified: false "
                                                   "(expected verified: false, got true)"))
    for i, o in enumerate(model.os):
        if o.id != f"{o.family}-{o.version}":
            found.append((("os", i, "id"), f"id does not match family and version (expected "
                                           f"{o.family}-{o.version!s}, got {o.id!r})"))
    return found


def load_catalogue(path: str | os.PathLike[str]) -> Catalogue:
    name = os.fspath(path)
    return parse_catalogue(read_text(name, "a release catalogue (YAML)"), name)


@cache
def shipped_catalogue() -> Catalogue:
    """The catalogue that comes with hvroll."""
    text = resources.files("hvroll.controlplane").joinpath("data", "catalogue.yaml") \
        .read_text("utf-8")
    return parse_catalogue(text, "hvroll/controlplane/data/catalogue.yaml")
