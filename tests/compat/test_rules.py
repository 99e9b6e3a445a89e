"""Each shipped issue rule, with a case it hits and a case it leaves alone."""

from __future__ import annotations

from typing import Any

import pytest

from hvroll.compat.kinds import VerdictKind
from hvroll.compat.verdict import Checker

from .fleets import LEGACY, WINDOWS, make_fleet, vm

BLOCK, WORKAROUND, WARN = VerdictKind.BLOCK, VerdictKind.WORKAROUND, VerdictKind.WARN
LOCAL_AND_VOLUME = [{"kind": "local", "size_gib": 20}, {"kind": "volume", "size_gib": 100}]

# rule, what (live/spawn), VM host and fields, destination, expected (kind, action) or None
CASES: list[tuple[str, str, str, dict[str, Any], str, tuple[VerdictKind, str] | None]] = [
    ("cpu", "live", "sky1", {}, "bdw2", (BLOCK, "pin_cpu_model")),
    ("cpu", "live", "hsw1", {}, "bdw2", None),
    ("cpu", "spawn", "sky1", {"cpu": {"mode": "custom", "model": "Skylake-Client-noTSX-IBRS"}},
     "hsw2", (BLOCK, "pin_cpu_model")),
    ("cpu", "spawn", "sky1", {"cpu": {"mode": "custom", "model": "Haswell-noTSX"}}, "hsw2",
     None),
    ("cpu", "live", "bdw1", {"cpu": {"mode": "host-passthrough"}}, "bdw2",
     (BLOCK, "pin_cpu_model")),  # passthrough: CPv2 shows smap, the guest runs without
    ("cpu", "live", "bdw2", {"cpu": {"mode": "host-passthrough"}}, "bdw2", None),
    ("config-drive-iso9660", "live", "hsw2", {"devices": {"config_drive": "iso9660"}}, "hsw2",
     (WORKAROUND, "copy_config_drive")),
    ("config-drive-iso9660", "live", "hsw2", {"devices": {"config_drive": "vfat"}}, "hsw2",
     None),
    ("iface-stats-rxtx-swap", "live", "hsw1", {}, "hsw2", (WARN, "normalize_iface_stats")),
    ("iface-stats-rxtx-swap", "spawn", "hsw1", {}, "hsw1", None),
    ("iface-stats-rxtx-swap", "live", "hsw1", {}, "bdw1", None),
    ("iface-stats-rxtx-swap", "live", "hsw2", {}, "sky1", None),
    ("local-disk-with-volume", "live", "hsw2", {"disks": LOCAL_AND_VOLUME}, "hsw2",
     (WORKAROUND, "use_migrate_uri3")),
    ("local-disk-with-volume", "live", "hsw1", {"disks": LOCAL_AND_VOLUME}, "hsw2",
     (BLOCK, "cold_migrate")),  # CPv1's QEMU 2.0 / libvirt 1.2.2 lack migrateToURI3
    ("local-disk-with-volume", "live", "hsw2", {"disks": LOCAL_AND_VOLUME[:1]}, "hsw2", None),
    ("local-disk-with-volume", "spawn", "hsw1", {"disks": LOCAL_AND_VOLUME}, "hsw2", None),
    ("pci-passthrough", "live", "hsw2", {"devices": {"passthrough": ["gpu"]}}, "hsw2",
     (BLOCK, "cold_migrate")),
    ("pci-passthrough", "spawn", "hsw2", {"devices": {"passthrough": ["fpga"]}}, "hsw2", None),
    ("pci-passthrough", "live", "hsw2", {}, "hsw2", None),
    ("smap-legacy-guest", "spawn", "sky1", {"guest": LEGACY}, "sky2",
     (BLOCK, "require_guest_update")),
    ("smap-legacy-guest", "spawn", "sky1", {}, "sky2", None),
    # a live move between hosts that both expose smap: the guest already would not boot where
    # it runs, so the move only warns (Reason.carried); from CPv1 (no smap) to CPv2 it blocks
    ("smap-legacy-guest", "live", "sky1", {"guest": LEGACY}, "sky2",
     (WARN, "require_guest_update")),
    ("smap-legacy-guest", "live", "bdw1", {"guest": LEGACY}, "bdw2",
     (BLOCK, "host_kernel_flag:nosmap")),
    ("windows-balloon-remigration", "live", "hsw1",
     {"guest": WINDOWS, "history": {"live_migrations_since_power_cycle": 3}}, "hsw2",
     (WORKAROUND, "remove_balloon")),
    ("windows-balloon-remigration", "live", "hsw1",
     {"history": {"live_migrations_since_power_cycle": 3}}, "hsw2", None),
]


@pytest.mark.parametrize(("rule", "what", "host", "fields", "dest", "expected"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule(rule: str, what: str, host: str, fields: dict[str, Any], dest: str,
              expected: tuple[VerdictKind, str] | None) -> None:
    guest = vm("guest", host, **fields)
    fleet = make_fleet([guest])
    checker = Checker(fleet)
    target = fleet.host_by_name[dest]
    verdict = (checker.migration(guest, fleet.host_by_name[host], target) if what == "live"
               else checker.spawn(guest, target))
    found = [(r.kind, r.action) for r in verdict.reasons if r.code == rule]
    assert found == ([] if expected is None else [expected])


def test_every_issue_rule_has_both_cases() -> None:
    from hvroll.compat.ruleset import shipped_rules

    hit = {c[0] for c in CASES if c[5] is not None}
    missed = {c[0] for c in CASES if c[5] is None}
    ids = {r.id for r in shipped_rules().issues}
    assert (hit, missed) == (ids, ids)


def test_missing_capability_message_says_what_is_needed() -> None:
    guest = vm("guest", "hsw1", disks=LOCAL_AND_VOLUME)
    fleet = make_fleet([guest])
    verdict = Checker(fleet).migration(guest, fleet.host_by_name["hsw1"],
                                       fleet.host_by_name["hsw2"])
    assert [r.message for r in verdict.blocking] == [
        "ubuntu 16.04 has a local disk and an attached volume: migrate with migrateToURI3, "
        "copying only the local disks; not possible between Haswell/CPv1 and Haswell/CPv2 "
        "(migrate_uri3 needs QEMU >= 2.5 and libvirt >= 1.3.3 on both hosts)"]
