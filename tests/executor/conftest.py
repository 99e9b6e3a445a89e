"""Fixtures: campaigns on the simulated cloud."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns import Campaign, campaign_factory


@pytest.fixture
def campaign(tmp_path: Path) -> Campaign:
    """``campaign(fleet, policy=…, faults=…)``: a stored plan and a journaled simulated cloud."""
    return campaign_factory(tmp_path)
