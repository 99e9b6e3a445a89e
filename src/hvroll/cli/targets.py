"""``--target`` and ``--target-for``: the profile each host should end on."""

from __future__ import annotations

from collections.abc import Sequence

from hvroll.compat.target import EXAMPLE, parse_target
from hvroll.domain import Fleet, HostProfile
from hvroll.errors import InputError
from hvroll.planner.build import Targets

TARGET_HELP = (f"Profile the hosts are upgraded to: a profile name of the inventory (e.g. CPv2), "
               f"that profile with changes and a new name ('CPv2,flags=nosmap,name=CPv2n'), or "
               f"a new one inline ({EXAMPLE!r}).")
TARGET_FOR_HELP = ("GENERATION=PROFILE or CLUSTER=PROFILE: those hosts get this profile instead "
                   "of --target (same forms; e.g. Broadwell=CPv2n). Repeatable.")


def resolve_targets(fleet: Fleet, target: str | None, target_for: Sequence[str]) -> Targets:
    """The default target and the per-generation or per-cluster ones."""
    default = _profile(fleet, target, "--target") if target else None
    by_name: dict[str, HostProfile] = {}
    for item in target_for:
        key, sep, spec = item.partition("=")
        if not sep or (key not in fleet.generation_by_name and key not in fleet.cluster_by_name):
            raise InputError(f"--target-for {item!r} is not GENERATION=PROFILE or "
                             f"CLUSTER=PROFILE with a generation or cluster of the inventory "
                             f"(expected e.g. Broadwell=CPv2n)")
        by_name[key] = _profile(fleet, spec, "--target-for")
    if default is None and not by_name:
        raise InputError("no target given (expected --target PROFILE, e.g. --target CPv2)")
    return Targets(default=default, by_name=by_name)


def _profile(fleet: Fleet, spec: str, option: str) -> HostProfile:
    profile = parse_target(spec, fleet)
    known = fleet.profile_by_name.get(profile.name)
    if known is not None and known != profile:
        raise InputError(f"{option} {spec!r} changes profile {profile.name!r} of the inventory "
                         f"(expected a new name for it, e.g. '{spec},name={profile.name}n', so "
                         f"that reinstalled hosts can be verified by the profile they report)")
    return profile
