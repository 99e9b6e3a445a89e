"""The target options every command that takes a target shares (check, matrix, explain,
plan): ``--target``, ``--target-for GENERATION=…|CLUSTER=…`` and ``--targets FILE``."""

from __future__ import annotations

from pathlib import Path

import typer

from hvroll.compat.target import EXAMPLE, Targets, resolve_targets
from hvroll.domain import Fleet

TARGET_HELP = (f"Profile the hosts are upgraded to: a profile name of the inventory (e.g. CPv2), "
               f"that profile with changes and a new name ('CPv2,flags=nosmap,name=CPv2n'), or "
               f"a new one inline ({EXAMPLE!r}); keys name, os, qemu, libvirt, flags (joined "
               f"by +), nova, rank.")
TARGET_FOR_HELP = ("GENERATION=PROFILE or CLUSTER=PROFILE: those hosts get this profile instead "
                   "of --target (same forms; e.g. Broadwell=CPv2n or c-bdw-rhel=CPv2-rhel; a "
                   "cluster's wins over its generation's). Repeatable.")
TARGETS_FILE_HELP = ("YAML or JSON file with the same: 'target: PROFILE' and 'for: {GENERATION "
                     "or CLUSTER: PROFILE}'; --target and --target-for given too win over it.")

TARGET_OPTION = typer.Option(None, "--target", "-t", help=TARGET_HELP, show_default=False)
TARGET_FOR_OPTION = typer.Option([], "--target-for", help=TARGET_FOR_HELP, show_default=False)
TARGETS_FILE_OPTION = typer.Option(None, "--targets", help=TARGETS_FILE_HELP,
                                   show_default=False, dir_okay=False)


def targets_of(fleet: Fleet, target: str | None, target_for: list[str] | None,
               targets_file: Path | None) -> Targets:
    """The targets the shared options give (one line and exit 2 when they are wrong)."""
    return resolve_targets(fleet, target, target_for or (), targets_file)


__all__ = ["TARGETS_FILE_OPTION", "TARGET_FOR_OPTION", "TARGET_OPTION", "Targets",
           "resolve_targets", "targets_of"]
