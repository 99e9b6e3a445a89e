"""One copy of each domain: the running one, in first-seen order; two running copies refused."""

from __future__ import annotations

import pytest

from hvroll.domain import PowerState
from hvroll.errors import DriverError
from hvroll.virt.discovery import one_per_name
from hvroll.virt.domxml import DomainFacts

RUNNING, SHUTOFF, PAUSED = PowerState.RUNNING, PowerState.SHUTOFF, PowerState.PAUSED


def _dom(host: str, name: str, power: PowerState) -> DomainFacts:
    return DomainFacts(host=host, name=name, uuid="u", vcpus=1, ram_mib=256, power=power,
                       cpu_model=None, balloon=False, cmdline="")


@pytest.mark.parametrize(("copies", "kept"), [
    ([("h1", "a", RUNNING)], [("h1", "a")]),
    # a migration that kept its source definition: the shut-off copy is left behind
    ([("h1", "a", SHUTOFF), ("h2", "a", RUNNING)], [("h2", "a")]),
    ([("h1", "a", RUNNING), ("h2", "a", SHUTOFF)], [("h1", "a")]),
    # post-copy: the source is paused, the destination runs
    ([("h1", "a", PAUSED), ("h2", "a", RUNNING)], [("h2", "a")]),
    # nothing runs: the first copy seen
    ([("h1", "a", SHUTOFF), ("h2", "a", PAUSED)], [("h1", "a")]),
    # first-seen order of names, whichever copy is kept
    ([("h1", "b", SHUTOFF), ("h1", "a", RUNNING), ("h2", "b", RUNNING)],
     [("h2", "b"), ("h1", "a")]),
])
def test_one_copy_per_name_prefers_the_running_one(copies: list[tuple[str, str, PowerState]],
                                                  kept: list[tuple[str, str]]) -> None:
    chosen = one_per_name(_dom(*c) for c in copies)
    assert [(d.host, d.name) for d in chosen] == kept


def test_a_guest_running_on_two_hosts_is_refused_naming_both() -> None:
    with pytest.raises(DriverError, match="guest a runs on both h1 and h2: destroy one copy"):
        one_per_name([_dom("h1", "a", RUNNING), _dom("h2", "a", RUNNING)])
