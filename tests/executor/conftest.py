"""Fixtures: campaigns on the simulated cloud."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import hvroll.executor.engine
from campaigns import Campaign, campaign_factory


@pytest.fixture
def campaign(tmp_path: Path) -> Campaign:
    """``campaign(fleet, policy=…, faults=…)``: a stored plan and a journaled simulated cloud."""
    return campaign_factory(tmp_path)


@pytest.fixture(scope="module")
def runs_without_freezing() -> Iterator[None]:
    """``Executor.run`` without :func:`hvroll.bulk.frozen` around its loop, for the property
    tests' hundreds of small campaigns in one process (the collector as CPython sets it).

    The freeze is made for one large run per process: as a run starts, and, since ``plan()``
    froze what was alive, as it ends, it walks every frozen object twice
    (``gc.get_freeze_count``). In a test process that heap is
    pytest's, hypothesis's and every imported module's (about 330,000 objects) while a
    campaign of a few dozen VMs runs in tens of milliseconds: the walks were more than half
    of each property test's CPU time (the campaign invariants' 106 s of 200 examples, 46 s
    without). What the freeze does is tested in tests/test_bulk.py, and the other executor
    tests run with it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hvroll.executor.engine, "frozen", contextlib.nullcontext)
        yield
