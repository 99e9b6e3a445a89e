"""Known-issue rules as data: one YAML file per rule, validated with line-numbered errors.

Two kinds of rule file:

* an **issue** rule (``when`` + ``verdict``) says which VMs and hosts a known problem hits,
  what it affects (spawn, live or cold migration, telemetry), how bad it is and what to do;
* a **capability** rule (``capability``) says from which QEMU and libvirt versions a migration
  feature works, one bound per source; the strictest bound of all sources is applied.

Every rule cites where it is documented (``sources``). The format is described with examples
in ``docs/compat.md``; the shipped rules are in ``hvroll/compat/rules/``.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from hvroll.compat.kinds import ACTION_PATTERN, ACTIONS, Affects, Capability, VerdictKind
from hvroll.domain import (
    ConfigDrive,
    CpuMode,
    DiskKind,
    GuestOsFamily,
    HostProfile,
    Passthrough,
    PowerState,
)
from hvroll.domain.models import VersionStr
from hvroll.domain.versions import upstream_version
from hvroll.errors import InputError, InventoryError, Problem
from hvroll.inventory.locate import LineIndex
from hvroll.inventory.messages import describe
from hvroll.inventory.reading import load_yaml, read_text


def _check_spec(value: str) -> str:
    try:
        SpecifierSet(value)
    except InvalidSpecifier:
        raise ValueError(f"expected a version range such as '>=2.5,<2.12', got {value!r}") \
            from None
    return value


def _check_action(value: str) -> str:
    if not ACTION_PATTERN.match(value):
        raise ValueError(f"expected one of: {', '.join(sorted(ACTIONS))} "
                         f"(host_kernel_flag as host_kernel_flag:FLAG), got {value!r}")
    return value


Spec = Annotated[str, AfterValidator(_check_spec)]
"""A version range in ``packaging`` specifier syntax, e.g. ``>=2.5,<2.12``."""
Action = Annotated[str, AfterValidator(_check_action)]
RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=80)]
Text = Annotated[str, Field(min_length=1)]

PLACEHOLDERS = {
    "guest": "the guest OS, e.g. 'centos 5.11'",
    "cpu": "the CPU check's words, e.g. 'missing features: vmx,fma'",
    "source": "the source host's generation and profile, e.g. 'Broadwell/CPv1'",
    "destination": "the destination's generation and profile",
    "source_qemu": "the source profile's QEMU version",
    "source_libvirt": "the source profile's libvirt version",
    "destination_qemu": "the destination profile's QEMU version",
    "destination_libvirt": "the destination profile's libvirt version",
    "migrations": "live migrations since the VM's last power cycle",
}
"""Names a rule ``message`` may use in ``{braces}``."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HostCondition(_Model):
    """Conditions on one host and the profile it runs; every given field must hold."""

    qemu: Spec | None = None
    libvirt: Spec | None = None
    kernel_flags: tuple[str, ...] = ()
    """All of these kernel flags are set."""
    without_kernel_flags: tuple[str, ...] = ()
    """None of these kernel flags is set."""
    generations: tuple[str, ...] = ()
    """The host's CPU generation is one of these."""
    profiles: tuple[str, ...] = ()
    """The host's profile is one of these (by name)."""


class GuestCondition(_Model):
    family: tuple[GuestOsFamily, ...] = ()
    distro: tuple[str, ...] = ()
    version: tuple[str, ...] = ()
    smap_support: bool | None = None


class CpuCondition(_Model):
    mode: tuple[CpuMode, ...] = ()
    boot_exposes: tuple[str, ...] = ()
    """The CPU the guest gets at its next boot on the destination has all these features.
    For a move that does not start the VM (live, or cold while it is shut off) this names a
    risk of its next boot: when the rule holds for a boot on the source as well (the VM already
    carries the risk where it is), the move adds nothing and the rule's verdict is lowered to
    ``warn`` (``Reason.carried``); a spawn, a cold migration of a running VM and a move to a
    host that newly exposes the features keep the rule's verdict."""
    compatible: bool | None = None
    """The outcome of the CPU check: can the destination provide the guest's CPU (its current
    one for a live migration, the one it boots with otherwise)."""


class DevicesCondition(_Model):
    balloon: bool | None = None
    config_drive: tuple[ConfigDrive, ...] = ()
    passthrough: tuple[Passthrough, ...] = ()
    """The VM has at least one of these passed-through devices."""


class Count(_Model):
    min: Annotated[int, Field(ge=0)] | None = None
    max: Annotated[int, Field(ge=0)] | None = None


class HistoryCondition(_Model):
    live_migrations_since_power_cycle: Count | None = None


class DisksCondition(_Model):
    all_of: tuple[DiskKind, ...] = ()
    any_of: tuple[DiskKind, ...] = ()
    none_of: tuple[DiskKind, ...] = ()


class When(_Model):
    """When an issue rule applies: every given section must hold."""

    source: HostCondition | None = None
    """The host the VM leaves (migrations only; a spawn has no source and never matches)."""
    destination: HostCondition | None = None
    """The host the VM goes to or starts on, with the profile it will run."""
    either: HostCondition | None = None
    """The source or the destination (only the destination for a spawn)."""
    guest: GuestCondition | None = None
    cpu: CpuCondition | None = None
    devices: DevicesCondition | None = None
    history: HistoryCondition | None = None
    disks: DisksCondition | None = None
    power: tuple[PowerState, ...] = ()


class Source(_Model):
    """Where a rule is documented; ``qemu``/``libvirt`` are the minimum versions this source
    states (capability rules)."""

    name: Text
    url: str | None = None
    note: str = ""
    qemu: VersionStr | None = None
    libvirt: VersionStr | None = None


class IssueRule(_Model):
    """A known issue: which situations it hits, how bad it is, what to do."""

    id: RuleId
    title: Text
    sources: Annotated[tuple[Source, ...], Field(min_length=1)]
    affects: Annotated[tuple[Affects, ...], Field(min_length=1)]
    when: When
    verdict: VerdictKind
    message: Text
    """One line shown in the verdict; may use the ``PLACEHOLDERS`` in braces."""
    actions: tuple[Action, ...] = ()
    """The workaround (``workaround``/``warn``), or the fixes of a ``block`` in order of
    preference: the first one that applies is offered."""
    requires: tuple[Capability, ...] = ()
    """Migration capabilities the workaround needs on both hosts; without them the verdict is
    ``block`` and ``fallback`` is offered."""
    fallback: Action | None = None


class CapabilityRule(_Model):
    """A migration feature and the versions it needs, one bound per source."""

    id: RuleId
    title: Text
    capability: Capability
    sources: Annotated[tuple[Source, ...], Field(min_length=1)]

    @cached_property
    def min_qemu(self) -> Version | None:
        """The strictest QEMU bound of all sources."""
        found = [Version(s.qemu) for s in self.sources if s.qemu]
        return max(found) if found else None

    @cached_property
    def min_libvirt(self) -> Version | None:
        found = [Version(s.libvirt) for s in self.sources if s.libvirt]
        return max(found) if found else None

    def supported(self, profile: HostProfile) -> bool:
        """Whether a host running ``profile`` supports the feature (strictest bounds)."""
        return ((self.min_qemu is None or profile.qemu_upstream >= self.min_qemu)
                and (self.min_libvirt is None or profile.libvirt_upstream >= self.min_libvirt))

    def needs(self) -> str:
        """``QEMU >= 2.6 and libvirt >= 1.3.3``."""
        parts = [f"{what} >= {v}" for what, v in (("QEMU", self.min_qemu),
                                                  ("libvirt", self.min_libvirt)) if v]
        return " and ".join(parts)


Rule = IssueRule | CapabilityRule


@dataclass(frozen=True, eq=False)
class RuleSet:
    """Issue rules (the CPU rule first, then by id) and capability rules; compared and hashed
    by identity (caches key on it)."""

    issues: tuple[IssueRule, ...] = ()
    capability_rules: tuple[CapabilityRule, ...] = ()
    files: dict[str, str] = field(default_factory=dict, compare=False)
    """Rule id → the file it came from."""

    @property
    def all(self) -> tuple[Rule, ...]:
        return (*self.issues, *self.capability_rules)

    @cached_property
    def by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.all}

    @cached_property
    def by_capability(self) -> dict[Capability, CapabilityRule]:
        return {r.capability: r for r in self.capability_rules}

    def capabilities(self, source: HostProfile, destination: HostProfile) -> frozenset[str]:
        """Migration features both profiles support (``auto_converge``, ``post_copy``, …)."""
        return _capabilities(self, source, destination)

    def merged(self, other: RuleSet) -> RuleSet:
        """This set with ``other``'s rules added; a rule of ``other`` replaces one with its id."""
        ids = set(other.by_id)
        return _ordered([r for r in self.all if r.id not in ids] + list(other.all),
                        {**self.files, **other.files})


@cache
def _capabilities(rules: RuleSet, source: HostProfile,
                  destination: HostProfile) -> frozenset[str]:
    return frozenset(r.capability for r in rules.capability_rules
                     if r.supported(source) and r.supported(destination))


def _ordered(rules: Iterable[Rule], files: dict[str, str]) -> RuleSet:
    issues = sorted((r for r in rules if isinstance(r, IssueRule)),
                    key=lambda r: (r.id != "cpu", r.id))
    caps = sorted((r for r in rules if isinstance(r, CapabilityRule)), key=lambda r: r.id)
    return RuleSet(tuple(issues), tuple(caps), files)


def parse_rule(text: str, file: str) -> Rule:
    """Validate the text of one rule file; problems raise :class:`InventoryError` with lines."""
    data = load_yaml(text, file)
    if not isinstance(data, dict):
        got = "an empty document" if data is None else type(data).__name__
        raise InventoryError([Problem(file, 1, f"a rule must be a mapping (expected keys such "
                                               f"as id, title, sources, when, got {got})")])
    model: type[IssueRule] | type[CapabilityRule] = \
        CapabilityRule if "capability" in data else IssueRule
    lines = LineIndex(text)
    raw_id = data.get("id")
    rid = raw_id if isinstance(raw_id, str) else Path(file).stem
    try:
        rule = model.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(file, lines.line_of(tuple(e["loc"]), key=e["type"] ==
                                                "extra_forbidden"),
                            _rule_words(describe(e, data, model), rid))
                    for e in exc.errors(include_url=False)]
        raise InventoryError(sorted(problems, key=lambda p: p.line)) from None
    problems = [Problem(file, lines.line_of(path), f"rule {rid!r} {what}")
                for path, what in _semantic_problems(rule, file)]
    if problems:
        raise InventoryError(problems)
    return rule


def _rule_words(message: str, rid: str) -> str:
    """``describe`` speaks of an inventory; a rule file is a rule."""
    prefix = "inventory "
    return f"rule {rid!r} {message[len(prefix):]}" if message.startswith(prefix) else message


def _semantic_problems(rule: Rule, file: str) -> list[tuple[tuple[str | int, ...], str]]:
    found: list[tuple[tuple[str | int, ...], str]] = []
    stem = Path(file).stem
    if stem != rule.id and not file.startswith("<"):
        found.append((("id",), f"id does not match its file name (expected {stem!r}, "
                               f"got {rule.id!r})"))
    if isinstance(rule, CapabilityRule):
        for i, src in enumerate(rule.sources):
            if not (src.qemu or src.libvirt):
                found.append((("sources", i), f"source {src.name!r} states no version "
                                              f"(expected qemu or libvirt, got neither)"))
        return found
    for _text, name, _spec, _conv in string.Formatter().parse(rule.message):
        if name is not None and name not in PLACEHOLDERS:
            found.append((("message",), f"message uses unknown placeholder {{{name}}} "
                                        f"(expected one of: {', '.join(PLACEHOLDERS)})"))
    if rule.verdict in (VerdictKind.WORKAROUND, VerdictKind.WARN) and not rule.actions:
        found.append((("verdict",), f"verdict {rule.verdict.value} names no action "
                                    f"(expected actions: [ACTION], got none)"))
    if rule.requires and rule.verdict is not VerdictKind.WORKAROUND:
        found.append((("requires",), f"requires only applies to a workaround (expected verdict "
                                     f"workaround, got {rule.verdict.value})"))
    return found


def load_rule_file(path: str | os.PathLike[str]) -> Rule:
    name = os.fspath(path)
    return parse_rule(read_text(name, RULE_FILE), name)


RULE_FILE = "a YAML rule (docs/compat.md)"


def load_rules(paths: Sequence[str | os.PathLike[str]]) -> RuleSet:
    """Rules from files and directories (every ``*.yaml`` in them); all problems of all files
    are reported together."""
    files: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            files += sorted(path.glob("*.yaml"))
        elif path.exists():
            files.append(path)
        else:
            raise InputError(f"{path}: no such rule file or directory (expected a YAML rule "
                             f"or a directory of them)")
    return _collect((str(f), read_text(f, RULE_FILE)) for f in files)


def _collect(texts: Iterable[tuple[str, str]]) -> RuleSet:
    rules: list[Rule] = []
    origin: dict[str, str] = {}
    problems: list[Problem] = []
    for file, text in texts:
        try:
            rule = parse_rule(text, file)
        except InventoryError as exc:
            problems += exc.problems
            continue
        if rule.id in origin:
            problems.append(Problem(file, 1, f"duplicate rule id {rule.id!r} (expected unique, "
                                             f"got a second one; the first is {origin[rule.id]})"))
            continue
        origin[rule.id] = file
        rules.append(rule)
    if problems:
        raise InventoryError(problems)
    return _ordered(rules, origin)


@cache
def shipped_rules() -> RuleSet:
    """The rules that come with hvroll (``hvroll/compat/rules/*.yaml``)."""
    folder = resources.files("hvroll.compat").joinpath("rules")
    entries = sorted((e for e in folder.iterdir() if e.name.endswith(".yaml")),
                     key=lambda e: e.name)
    return _collect((f"hvroll/compat/rules/{e.name}", e.read_text("utf-8")) for e in entries)


def capabilities(src_profile: HostProfile, dst_profile: HostProfile) -> frozenset[str]:
    """Migration features (``auto_converge``, ``post_copy``, ``migrate_uri3``) that both
    profiles support according to the shipped capability rules (strictest source bound)."""
    return shipped_rules().capabilities(src_profile, dst_profile)


@cache
def specifier(spec: str) -> SpecifierSet:
    return SpecifierSet(spec)


def in_range(version: str, spec: str) -> bool:
    """Whether ``version`` (its upstream version, as a distribution may write it) is in the
    range ``spec`` (pre-releases included): ``in_range("3.2.0-14.el7_4.9", "<3.9.0")``."""
    return specifier(spec).contains(upstream_version(version), prereleases=True)


def rule_data(rule: Rule) -> dict[str, Any]:
    """A rule as plain JSON-able data."""
    return rule.model_dump(mode="json", exclude_defaults=True)
