"""Microversion negotiation: what hvroll needs of Nova's API, and what it declares from it
(pure, exact values)."""

from __future__ import annotations

import pytest

from hvroll.drivers.base import Capability
from hvroll.drivers.nova.cloud import capabilities_for
from hvroll.drivers.nova.connect import (
    COLD_MIGRATION_MICROVERSION,
    DISCOVERY_MICROVERSION,
    DRIVER_MICROVERSION,
    negotiate,
)
from hvroll.errors import DriverError

LIVE = {Capability.LIVE_MIGRATION, Capability.BLOCK_MIGRATION, Capability.POST_COPY,
        Capability.POST_COPY_BLOCK, Capability.COPY_CONFIG_DRIVE}


def test_what_hvroll_needs_of_novas_api() -> None:
    assert (DRIVER_MICROVERSION, COLD_MIGRATION_MICROVERSION, DISCOVERY_MICROVERSION) == (
        (2, 24), (2, 56), (2, 53))


@pytest.mark.parametrize(("offered", "needed", "used"), [
    (((2, 1), (2, 104)), (2, 24), (2, 104)),
    (((2, 1), (2, 24)), (2, 24), (2, 24)),
    (((2, 1), (2, 53)), (2, 53), (2, 53)),
    (((2, 1), (3, 0)), (2, 53), (3, 0)),
])
def test_the_newest_microversion_is_used_when_it_is_new_enough(
        offered: tuple[tuple[int, int], tuple[int, int]], needed: tuple[int, int],
        used: tuple[int, int]) -> None:
    assert negotiate("east", offered, needed, "discovery") == used


@pytest.mark.parametrize(("offered", "needed", "message"), [
    (((2, 1), (2, 23)), (2, 24),
     "cloud east: Nova's API offers microversions 2.1 to 2.23, hvroll's nova driver needs "
     "2.24 or later: upgrade Nova's API services (nova-api) first, or check that the compute "
     "endpoint in clouds.yaml is the cloud's current one"),
    (((2, 0), (2, 0)), (2, 53),
     "cloud east: Nova's API offers microversions 2.0 to 2.0, hvroll's nova driver needs "
     "2.53 or later: upgrade Nova's API services (nova-api) first, or check that the compute "
     "endpoint in clouds.yaml is the cloud's current one"),
    (((2, 1), (2, 9)), (2, 24),  # 2.9 < 2.24: compared as numbers, not as text
     "cloud east: Nova's API offers microversions 2.1 to 2.9, hvroll's nova driver needs "
     "2.24 or later: upgrade Nova's API services (nova-api) first, or check that the compute "
     "endpoint in clouds.yaml is the cloud's current one"),
])
def test_a_nova_too_old_is_one_line_saying_which_and_what_to_do(
        offered: tuple[tuple[int, int], tuple[int, int]], needed: tuple[int, int],
        message: str) -> None:
    with pytest.raises(DriverError) as caught:
        negotiate("east", offered, needed, "hvroll's nova driver")
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("microversion", "reinstall", "expected"), [
    ((2, 24), False, LIVE),
    ((2, 55), False, LIVE),
    ((2, 56), False, LIVE | {Capability.COLD_MIGRATION}),
    ((2, 104), True, LIVE | {Capability.COLD_MIGRATION, Capability.REINSTALL}),
    ((2, 30), True, LIVE | {Capability.REINSTALL}),
])
def test_capabilities_follow_the_microversion_and_the_hook(
        microversion: tuple[int, int], reinstall: bool, expected: set[Capability]) -> None:
    caps = capabilities_for(microversion, reinstall=reinstall)
    assert caps == frozenset(expected)
    assert not caps & {Capability.BANDWIDTH_LIMIT, Capability.MEASURED_DOWNTIME,
                       Capability.AUTO_CONVERGE, Capability.MAX_DOWNTIME,
                       Capability.REMOVE_BALLOON}
