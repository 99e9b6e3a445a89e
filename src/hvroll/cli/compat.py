"""``hvroll check``, ``hvroll matrix``, ``hvroll explain``: compatibility before any VM moves."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from hvroll.cli.common import JSON_HELP, console, print_json
from hvroll.cli.targets import (
    TARGET_FOR_OPTION,
    TARGET_OPTION,
    TARGETS_FILE_OPTION,
    targets_of,
)
from hvroll.compat.kinds import VerdictKind
from hvroll.inventory import load_fleet

if TYPE_CHECKING:  # the compatibility engine is imported by the commands that use it
    from hvroll.compat.ruleset import RuleSet
    from hvroll.compat.target import Targets
    from hvroll.domain import HostProfile

FILE_ARG = typer.Argument(..., help="Inventory file, YAML or JSON (by extension).",
                          show_default=False)
RULES_HELP = ("Extra rule files or directories of *.yaml rules, added to the shipped ones (a rule "
              "with a shipped rule's id replaces it). Repeatable. Format: docs/compat.md.")


def _rules(extra: list[Path] | None) -> RuleSet:
    from hvroll.compat.ruleset import load_rules, shipped_rules

    rules = shipped_rules()
    return rules.merged(load_rules(extra)) if extra else rules


def _targets_words(targets: Targets) -> str:
    if targets.default is not None:
        return _profile_words(targets.default)
    return "per-generation/cluster targets"


def _profile_words(p: HostProfile) -> str:
    flags = f", kernel flags {'+'.join(p.kernel_flags)}" if p.kernel_flags else ""
    return (f"{p.name} ({p.os_name} {p.os_version}, QEMU {p.qemu_version}, libvirt "
            f"{p.libvirt_version}{flags}, rank {p.rank})")


def check(
    file: Path = FILE_ARG,
    target: str | None = TARGET_OPTION,
    target_for: list[str] = TARGET_FOR_OPTION,
    targets_file: Path | None = TARGETS_FILE_OPTION,
    rules: list[Path] = typer.Option(None, "--rules", help=RULES_HELP, show_default=False),
    limit: int = typer.Option(20, "--limit", min=0, help="Blocked VMs listed in the text "
                              "output (default 20; --json lists all)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Judge every VM for an upgrade of the fleet to a profile: ok / workaround / blocked.

    A VM on a host that is reinstalled must live-migrate (cold-migrate if shut off) to a host
    of its CPU generation running the target and boot there later; a VM on a host already
    running the target only needs the boot check. Prints counts by reason, the blocked VMs,
    the workarounds and host-level recommendations. Capacity is the planner's business.
    """
    from hvroll.compat.report import check_upgrade
    from hvroll.compat.verdict import Checker

    started = time.perf_counter()
    fleet = load_fleet(file)
    targets = targets_of(fleet, target, target_for, targets_file)
    checker = Checker(fleet, _rules(rules))
    report = check_upgrade(fleet, targets, checker)
    elapsed_s = round(time.perf_counter() - started, 3)
    if as_json:
        print_json({"file": str(file), **report.data(), "elapsed_s": elapsed_s})
        return
    moving = sum(1 for r in report.results if r.moves)
    console.print(f"[bold]{file}[/] → {_targets_words(targets)}: {len(report.results):,} VMs, "
                  f"{moving:,} on hosts to reinstall (the VMs 'hvroll plan' moves)",
                  soft_wrap=True)
    for name, p in targets.by_name.items():
        console.print(f"  {name} hosts → {_profile_words(p)}")
    warn = report.count(VerdictKind.WARN)
    console.print(f"  ok          {report.ok:>8,}  ({warn:,} of them with warnings)")
    console.print(f"  workaround  {report.count(VerdictKind.WORKAROUND):>8,}")
    console.print(f"  blocked     {len(report.blocked):>8,}")
    kinds = report.reason_kinds()
    table = Table("reason", "kind", "VMs", "title", title="by reason")
    for code, n in report.by_reason().items():
        rule = checker.rules.by_id.get(code)
        table.add_row(code, kinds.get(code, ""), f"{n:,}", rule.title if rule else "")
    console.print(table)
    if report.workarounds():
        console.print("workarounds: " + ", ".join(f"{a} ×{n:,}"
                                                  for a, n in report.workarounds().items()))
    blocked = report.blocked
    if blocked and limit:
        console.print(f"[bold]blocked VMs[/] ({min(limit, len(blocked))} of {len(blocked):,}; "
                      f"--json lists all with messages)")
        for r in blocked[:limit]:
            why = "; ".join(f"{x.code}" + (f" (fix: {x.action})" if x.action else "")
                            for x in r.verdict.blocking)
            console.print(f"  {r.vm.name} on {r.host.name} ({r.host.generation}, "
                          f"{r.vm.guest.label}): {why}", markup=False, highlight=False,
                          soft_wrap=True)
    if report.unverified:
        shown = report.unverified[:limit]
        console.print(f"[bold]unverified[/]: {len(report.unverified):,} VMs boot on a CPU "
                      f"exposing SMAP and no source says whether their guest supports it "
                      f"(assumed it does; the canary tries them first; set smap_support or "
                      f"the guest kernel in the inventory to decide)")
        for u in shown:
            console.print(f"  {u.vm.name} on {u.host.name} ({u.host.generation}): "
                          f"smap_support assumed {str(u.fact.value).lower()} ({u.fact.basis})",
                          markup=False, highlight=False, soft_wrap=True)
    if report.recommendations:
        console.print("[bold]recommendations[/]")
        for rec in report.recommendations:
            console.print(f"  - {rec.text}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"checked in {elapsed_s:.2f} s ({report.cache_verdicts:,} distinct verdicts "
                  f"for {report.cache_vm_facts:,} distinct VM facts)", style="dim")


def matrix(
    file: Path = FILE_ARG,
    target: str | None = TARGET_OPTION,
    target_for: list[str] = TARGET_FOR_OPTION,
    targets_file: Path | None = TARGETS_FILE_OPTION,
    rules: list[Path] = typer.Option(None, "--rules", help=RULES_HELP, show_default=False),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The verification matrix: CPU generation × (spawn on old profile, spawn on new, LM
    old→new, LM new→new).

    Cells are computed from the fleet's own VMs: ✓, ✗ with the blocking rules and VM counts
    (and the cell after the offered fixes), N/A when no host of that generation runs an older
    profile, untested when there is no VM to judge. JSON cells have source: computed.
    """
    from hvroll.compat.matrix import COLUMN_TITLES, Column, build_matrix
    from hvroll.compat.verdict import Checker

    fleet = load_fleet(file)
    targets = targets_of(fleet, target, target_for, targets_file)
    checker = Checker(fleet, _rules(rules))
    result = build_matrix(fleet, targets, checker)
    if as_json:
        print_json({"file": str(file), **result.data()})
        return
    table = Table("generation", "hosts",
                  title=f"verification matrix for {_targets_words(targets)}"
                        + "".join(f"; {g}: {p.name}" for g, p in targets.by_name.items()),
                  show_lines=True)
    for c in Column:
        table.add_column(COLUMN_TITLES[c], overflow="fold")
    for row in result.rows:
        label = row.generation + (f" ({', '.join(row.clusters)})" if row.clusters else "")
        table.add_row(label, f"{row.hosts:,}", *(row.cells[c].symbol() for c in Column))
    console.print(table)


def explain(
    file: Path = FILE_ARG,
    vm: str = typer.Argument(..., help="Name of the VM to diagnose.", show_default=False),
    target: str | None = TARGET_OPTION,
    target_for: list[str] = TARGET_FOR_OPTION,
    targets_file: Path | None = TARGETS_FILE_OPTION,
    rules: list[Path] = typer.Option(None, "--rules", help=RULES_HELP, show_default=False),
    limit: int = typer.Option(3, "--limit", min=0, help="Example hosts shown per reason "
                              "(default 3)."),
    hosts: bool = typer.Option(False, "--hosts", help="List every candidate host with its "
                               "first failing check."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Why can't this VM move? For each other host of its region, the first failing check.

    Checks run in the scheduler's order: scheduling disabled, profile downgrade, capacity
    under allocation ratios, server-group policy, CPU (missing features), known-issue rules.
    Prints the hosts per reason with examples, and the hosts that would accept the VM.
    With target options, every candidate is judged as reinstalled with its own target
    (default: as it is now).
    """
    from hvroll.compat.explain import explain as explain_vm
    from hvroll.compat.verdict import Checker

    fleet = load_fleet(file)
    targets = (targets_of(fleet, target, target_for, targets_file)
               if target or target_for or targets_file else None)
    result = explain_vm(fleet, vm, targets, Checker(fleet, _rules(rules)))
    profile = result.target
    if as_json:
        print_json({"file": str(file), **result.data(limit)})
        return
    src = result.source
    v = result.vm
    group = f", server group {v.server_group}" if v.server_group else ""
    console.print(f"[bold]{v.name}[/] ({v.guest.label}, {v.vcpus} vCPU, {v.ram_mib:,} MiB, "
                  f"CPU {v.cpu.mode.value}{group}) on {src.name} ({src.generation}, "
                  f"{src.profile})", highlight=False)
    where = (f"each judged as reinstalled with its target ({_targets_words(targets)})"
             if targets is not None else "as they are now")
    del profile
    console.print(f"{len(result.candidates):,} candidate hosts in region "
                  f"{fleet.region_of(src)}, {where}")
    accepted = result.accepted
    if accepted:
        names = ", ".join(c.host.name for c in accepted[:10])
        more = f", … ({len(accepted):,} in all)" if len(accepted) > 10 else ""
        console.print(f"[green]accepted by {len(accepted):,}[/]: {names}{more}")
        work = sorted({w for c in accepted for w in c.verdict.workarounds})
        if work:
            console.print(f"  with workarounds: {', '.join(work)}")
        for code, cs in result.carried().items():
            r = next(x for x in cs[0].verdict.carried if x.code == code)
            fix = f" (fix: {r.action})" if r.action else ""
            console.print(f"  {len(cs):,} of them with a risk it already carries, {code}: "
                          f"{r.message}{fix}", markup=False, highlight=False, soft_wrap=True)
    else:
        console.print("[red]no valid host[/]")
    table = Table("first failing check", "hosts", "examples")
    for code, n in result.by_reason().items():
        examples = "\n".join(
            f"{c.host.name}: {c.first.message}"
            + (f" (fix: {c.first.action})" if c.first.action else "")
            for c in result.examples[code][:limit] if c.first)
        table.add_row(code, f"{n:,}", examples)
    if result.by_reason():
        console.print(table)
    if hosts:
        for c in result.candidates:
            why = c.first.message if c.first else "accepts" + (
                f" (workarounds: {', '.join(c.verdict.workarounds)})"
                if c.verdict.workarounds else "")
            console.print(f"  {c.host.name}: {why}", highlight=False, soft_wrap=True)
