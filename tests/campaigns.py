"""Helpers shared by campaign tests: the operator's targets, the campaign factory's type."""

from __future__ import annotations

from collections.abc import Callable

from hvroll.domain import Fleet
from hvroll.drivers.sim import SimCloud
from hvroll.planner.build import Targets
from hvroll.planner.model import Plan
from hvroll.store import Store

Campaign = Callable[..., tuple[Store, SimCloud, Plan]]
"""``campaign(fleet, policy=…, faults=…)`` → a stored plan and a journaled simulated cloud."""


def targets_of(fleet: Fleet) -> Targets:
    """Upgrade to CPv2, Broadwell hosts to CPv2 booted with nosmap (as the operator did)."""
    return Targets(default=fleet.profile_by_name["CPv2"],
                   by_name={"Broadwell": fleet.profile_by_name["CPv2n"]})
