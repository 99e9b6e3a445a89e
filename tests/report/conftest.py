"""Fixtures: campaign state files and a module's headless Chromium (``web.browsers``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from telemetry.statefiles import Campaign, campaign
from web import browsers


@pytest.fixture(scope="session")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    """A finished campaign of the small fleet, with a failed migration."""
    return campaign(tmp_path_factory, "finished")


@pytest.fixture(scope="session")
def holding(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    """A campaign of the small fleet holding after its canary wave."""
    return campaign(tmp_path_factory, "holding")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """The module's headless Chromium (Playwright ``Browser``, :mod:`web.browsers`)."""
    yield browsers.acquire()
    browsers.release()
