"""Fixtures: state files of simulated campaigns (see ``statefiles``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hvroll.telemetry.snapshot import StateSource
from telemetry.statefiles import Campaign, campaign


@pytest.fixture(scope="session")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    """A finished campaign of the small fleet, with a failed migration."""
    return campaign(tmp_path_factory, "finished")


@pytest.fixture(scope="session")
def holding(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    """A campaign of the small fleet holding after its canary wave."""
    return campaign(tmp_path_factory, "holding")


@pytest.fixture
def source(finished: Campaign) -> Iterator[StateSource]:
    src = StateSource(finished.state)
    yield src
    src.close()
