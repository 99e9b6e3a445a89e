"""Canary guests as a set: names, placement over hosts, their CPU model, and how one is judged."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvroll.compat.cpu import model_features
from hvroll.testbed.canaries import (
    SILENT_LIMIT_S,
    GuestState,
    missing_canaries,
    next_canary,
    placements,
)
from hvroll.testbed.guests import DEFAULT_GUEST_CPU, GuestSpec
from hvroll.testbed.health import parse_console

pytest.importorskip("libvirt")


def test_missing_canaries_are_the_absent_of_canary_1_to_m_in_order() -> None:
    assert missing_canaries(["canary-2", "web", "canary-9"], 4) == \
        ["canary-1", "canary-3", "canary-4"]
    assert missing_canaries([], 0) == []


def test_the_next_canary_fills_the_first_gap() -> None:
    assert next_canary([]) == "canary-1"
    assert next_canary(["canary-1", "canary-2"]) == "canary-3"
    assert next_canary(["canary-2", "canary-x", "canary-1", "canary-4"]) == "canary-3"


def test_four_guests_on_three_empty_hosts_go_round_robin() -> None:
    assert placements({}, ["h1", "h2", "h3"], ["c1", "c2", "c3", "c4"]) == \
        [("c1", "h1"), ("c2", "h2"), ("c3", "h3"), ("c4", "h1")]


def test_new_guests_go_to_the_least_loaded_host_first() -> None:
    assert placements({"h1": 3, "h2": 1, "h3": 1}, ["h1", "h2", "h3"], ["a", "b", "c"]) == \
        [("a", "h2"), ("b", "h3"), ("c", "h2")]


def test_canaries_get_kvm64_by_default() -> None:
    spec = GuestSpec(name="c", kernel=Path("k"), initrd=Path("i"), console_log=Path("l"))
    assert spec.cpu_model == DEFAULT_GUEST_CPU == "kvm64"


@pytest.mark.parametrize(("model", "vendor"), [
    ("EPYC", "AMD"), ("Opteron_G2", "AMD"), ("Nehalem", "Intel"), ("Skylake-Client", "Intel"),
])
def test_the_canary_cpu_is_provided_by_intel_and_amd_hosts_alike(model: str, vendor: str) -> None:
    """kvm64's features are in the x86-64 models of both vendors; QEMU's default qemu64 is
    not (it carries AMD's svm, which no Intel CPU has)."""
    assert model_features(DEFAULT_GUEST_CPU, vendor) <= model_features(model, vendor)
    assert "svm" in model_features("qemu64", "Intel")
    assert "svm" not in model_features(DEFAULT_GUEST_CPU, "Intel")


BEATING = "HEARTBEAT hb=1 t=1\nHEARTBEAT hb=2 t=2\n"


@pytest.mark.parametrize(("running", "console", "silent_s", "judged", "ok"), [
    (True, BEATING, 1.0, True, True),
    (True, BEATING, SILENT_LIMIT_S + 1, True, False),  # stopped printing
    (True, BEATING + "DIRTIER hb=3 verify=FAIL(3 bad pages, first 7)\n", 0.5, True, False),
    (True, BEATING + "HEARTBEAT hb=1 t=3\n", 0.5, True, False),  # counter went back: rebooted
    (False, BEATING, 100.0, False, False),  # shut off: reported, not judged
])
def test_a_guest_is_ok_when_it_runs_beats_and_its_memory_check_holds(
        running: bool, console: str, silent_s: float, judged: bool, ok: bool) -> None:
    state = GuestState(name="canary-1", host="tb-h1", running=running,
                       health=parse_console(console), silent_s=silent_s)
    assert (state.judged, state.ok) == (judged, ok)


def test_a_guest_without_console_log_is_not_a_canary_and_not_judged() -> None:
    state = GuestState(name="web", host="tb-h1", running=True, health=None, silent_s=None)
    assert (state.judged, state.ok) == (False, False)
    assert state.as_dict() == {"name": "web", "host": "tb-h1", "running": True, "ok": False,
                               "last_heartbeat": None, "flags": [], "bad_pages": None,
                               "silent_s": None}
