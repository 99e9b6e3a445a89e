"""The verdict engine: kinds, combination, caching, placement checks in scheduler order."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hvroll.compat.conditions import VmFacts
from hvroll.compat.ruleset import load_rules, shipped_rules
from hvroll.compat.verdict import Checker, Reason, Verdict, VerdictKind, combine
from hvroll.domain import Fleet, GroupPolicy, Host, ServerGroup, Vm
from hvroll.errors import InputError
from hvroll.inventory.references import Usage

from .fleets import CPV1, CPV2, CPV2N, LEGACY, WINDOWS, make_fleet, vm

OK, WARN, WORKAROUND, BLOCK = (VerdictKind.OK, VerdictKind.WARN, VerdictKind.WORKAROUND,
                               VerdictKind.BLOCK)


def test_kinds_are_ordered_by_severity_not_alphabet() -> None:
    assert sorted([BLOCK, OK, WORKAROUND, WARN]) == [OK, WARN, WORKAROUND, BLOCK]
    assert max(WARN, BLOCK, OK) is BLOCK


def test_combine_takes_worst_kind_and_unique_reasons() -> None:
    a = Verdict(WARN, (Reason("x", "m", WARN),))
    b = Verdict(WORKAROUND, (Reason("y", "n", WORKAROUND, "remove_balloon"),
                             Reason("x", "m", WARN)), ("remove_balloon",))
    assert combine(a, b) == Verdict(WORKAROUND, (Reason("x", "m", WARN),
                                                 Reason("y", "n", WORKAROUND, "remove_balloon")),
                                    ("remove_balloon",))


def test_allowed_is_anything_but_block() -> None:
    assert [Verdict(k).allowed for k in (OK, WARN, WORKAROUND, BLOCK)] == [True, True, True,
                                                                         False]


def test_verdicts_are_cached_on_vm_facts_not_vms(host_of: Callable[[str], Host]) -> None:
    """Two VMs with the same rule-relevant facts share one computed verdict."""
    a = vm("a", "hsw1", n=1, guest=LEGACY)
    b = vm("b", "hsw1", n=2, guest=LEGACY, tenant="other", ram_mib=8192)
    checker = Checker(make_fleet([a, b]))
    first = checker.migration(a, host_of("hsw1"), host_of("hsw2"))
    second = checker.migration(b, host_of("hsw1"), host_of("hsw2"))
    assert second is first
    assert (checker.cache_size, len(checker.facts)) == (1, 1)


UBUNTU_16 = {"family": "linux", "distro": "ubuntu", "version": "16.04"}


@pytest.mark.parametrize("fields", [
    {"guest": {**UBUNTU_16, "kernel": "3.2.0-126-generic"}},
    {"guest": {**UBUNTU_16, "smap_support": False}},
    {"guest": {**UBUNTU_16, "version": "5.11"}},
    {"guest": WINDOWS},
    {"cpu": {"mode": "host-passthrough"}},
    {"cpu": {"mode": "host-model", "disabled": ["smap"]}},
    {"devices": {"balloon": False}},
    {"devices": {"config_drive": "iso9660"}},
    {"devices": {"passthrough": ["gpu"]}},
    {"history": {"live_migrations_since_power_cycle": 1}},
    {"disks": [{"kind": "local", "size_gib": 20}]},
    {"power": "shutoff"},
])
def test_vms_that_differ_in_a_fact_get_their_own_facts(fields: dict[str, object]) -> None:
    """The checker finds a VM's facts by what they are made of: a VM like another but for
    one such value gets its own facts, the ones made from it; one like it in every such
    value, but another VM, shares its facts."""
    base, same = vm("a", "hsw1", n=1, cpu={"mode": "host-model"}), vm(
        "b", "hsw1", n=2, cpu={"mode": "host-model"}, tenant="other", ram_mib=8192)
    other = vm("c", "hsw1", n=3, **{"cpu": {"mode": "host-model"}, **fields})
    checker = Checker(make_fleet([base, same, other]))
    assert checker.facts_of(same) is checker.facts_of(base)
    assert checker.facts_of(other) == VmFacts.of(other) != VmFacts.of(base)


def test_dest_profile_overrides_the_hosts(checker: Checker, host_of: Callable[[str], Host],
                                          vm_of: Callable[[str], Vm]) -> None:
    """The planner asks "after dest is reinstalled to the target"."""
    legacy = vm_of("legacy-bdw")
    as_is = checker.migration(legacy, host_of("bdw1"), host_of("bdw1"))
    reinstalled = checker.migration(legacy, host_of("bdw1"), host_of("bdw1"), dest_profile=CPV2)
    with_nosmap = checker.migration(legacy, host_of("bdw1"), host_of("bdw1"),
                                    dest_profile=CPV2N)
    assert [v.kind for v in (as_is, reinstalled, with_nosmap)] == [OK, BLOCK, WARN]


def test_host_with_unknown_profile_is_an_input_error(checker: Checker,
                                                     host_of: Callable[[str], Host],
                                                     vm_of: Callable[[str], Vm]) -> None:
    ghost = host_of("hsw2").model_copy(update={"profile": "CPv9"})
    with pytest.raises(InputError, match="runs profile 'CPv9', which the inventory does not"):
        checker.migration(vm_of("web-hsw"), host_of("hsw1"), ghost)


def codes(verdict: Verdict) -> list[tuple[str, VerdictKind]]:
    return [(r.code, r.kind) for r in verdict.reasons]


def test_placement_checks_in_scheduler_order(checker: Checker, host_of: Callable[[str], Host],
                                             vm_of: Callable[[str], Vm]) -> None:
    """Profile downgrade, capacity, anti-affinity, then CPU and rules."""
    web = vm_of("web-bdw")   # group "web" with web-hsw on hsw1
    full = Usage(vcpus=31, ram_mib=30000, disk_gib=0, vms=9)
    verdict = checker.placement(web, host_of("bdw2"), host_of("hsw1"), full, {"hsw1"})
    assert codes(verdict) == [("profile-downgrade", BLOCK), ("capacity", BLOCK),
                              ("anti-affinity", BLOCK), ("cpu", BLOCK)]
    assert [r.message for r in verdict.reasons[:3]] == [
        "hsw1 runs CPv1 (rank 1), older than CPv2 (rank 2) of bdw2: VMs never move back to "
        "an older profile",
        "hsw1 would be over its vCPU (expected at most 32 = 8 × 4, got 33 from 10 VMs); RAM "
        "(expected at most 32768 MiB = 32768 × 1, got 34096 MiB from 10 VMs)",
        "hsw1 already holds a member of anti-affinity group 'web'"]


def test_placement_accepts_a_fitting_host(checker: Checker, host_of: Callable[[str], Host],
                                          vm_of: Callable[[str], Vm]) -> None:
    verdict = checker.placement(vm_of("web-hsw"), host_of("hsw1"), host_of("hsw2"), Usage(),
                                {"bdw1"})
    assert codes(verdict) == [("iface-stats-rxtx-swap", WARN)]


def test_placement_never_on_own_host(checker: Checker, host_of: Callable[[str], Host],
                                     vm_of: Callable[[str], Vm]) -> None:
    verdict = checker.placement(vm_of("web-hsw"), host_of("hsw1"), host_of("hsw1"), Usage(),
                                set())
    assert codes(verdict)[0] == ("same-host", BLOCK)


@pytest.mark.parametrize(("policy", "group_hosts", "expected"), [
    (GroupPolicy.ANTI_AFFINITY, {"hsw2"}, [("anti-affinity", BLOCK)]),
    (GroupPolicy.SOFT_ANTI_AFFINITY, {"hsw2"}, [("anti-affinity", WARN)]),
    (GroupPolicy.ANTI_AFFINITY, {"bdw1"}, []),
    (GroupPolicy.AFFINITY, {"bdw1"}, [("affinity", BLOCK)]),
    (GroupPolicy.SOFT_AFFINITY, {"bdw1"}, [("affinity", WARN)]),
    (GroupPolicy.AFFINITY, {"hsw2"}, []),
    (GroupPolicy.AFFINITY, set(), []),
])
def test_server_group_policies(policy: GroupPolicy, group_hosts: set[str],
                               expected: list[tuple[str, VerdictKind]]) -> None:
    member = vm("m", "hsw2", server_group="g")
    fleet = make_fleet([member]).model_copy(
        update={"server_groups": (ServerGroup(name="g", policy=policy),)})
    checker = Checker(fleet)
    verdict = checker.placement(member, fleet.host_by_name["hsw2"], fleet.host_by_name["hsw2"],
                                Usage(), group_hosts)
    assert [c for c in codes(verdict) if c[0] != "same-host"] == expected


def test_cold_migration_judges_the_boot_not_the_running_cpu(checker: Checker,
                                                            host_of: Callable[[str], Host],
                                                            vm_of: Callable[[str], Vm]) -> None:
    """A Skylake guest cannot live-migrate to Broadwell, but it can restart there."""
    app = vm_of("app-sky")
    live = checker.migration(app, host_of("sky1"), host_of("bdw2"))
    cold = checker.cold_migration(app, host_of("sky1"), host_of("bdw2"))
    assert (codes(live), codes(cold)) == ([("cpu", BLOCK)], [])


def test_spawn_on_profile(checker: Checker, host_of: Callable[[str], Host],
                          vm_of: Callable[[str], Vm]) -> None:
    legacy = vm_of("legacy-bdw")
    assert [checker.spawn(legacy, host_of("bdw1"), profile=p).kind
            for p in (CPV1, CPV2, CPV2N)] == [OK, BLOCK, OK]


def test_nosmap_is_not_offered_where_no_older_feature_set_exists(
        seed_fleet: Fleet, host_of: Callable[[str], Host], vm_of: Callable[[str], Vm]) -> None:
    """Skylake never ran CPv1: hiding smap would change the CPU of its running guests."""
    checker = Checker(seed_fleet)
    verdict = checker.spawn(vm_of("legacy-sky"), host_of("sky2"))
    assert verdict.fixes == ("require_guest_update",)


def test_a_next_boot_risk_the_vm_already_carries_only_warns(
        checker: Checker, host_of: Callable[[str], Host], vm_of: Callable[[str], Vm]) -> None:
    """A guest without SMAP support on a Skylake CPv2 host (which exposes smap) would not boot
    where it runs: a live move to another such host adds no risk. The rule warns, says why and
    keeps its fix."""
    verdict = checker.migration(vm_of("legacy-sky"), host_of("sky1"), host_of("sky2"))
    carried = Reason(
        "smap-legacy-guest",
        "centos 5.11 does not support SMAP and the CPU it gets at its next boot on Skylake/CPv2 "
        "exposes smap: it would not boot there (as already on Skylake/CPv2, where it is now: "
        "a risk the VM carries, the move adds none)",
        WARN, "require_guest_update", carried=True)
    assert verdict == Verdict(WARN, (carried,))
    assert (verdict.allowed, verdict.carried, verdict.blocking) == (True, (carried,), ())


@pytest.mark.parametrize(("what", "vm_name", "source", "dest", "expected"), [
    ("live", "legacy-sky", "sky1", "sky2", (WARN, True)),
    ("live", "legacy-sky", "sky1", "sky1", (WARN, True)),
    ("spawn", "legacy-sky", "sky1", "sky2", (BLOCK, False)),   # a boot there: it would not boot
    ("cold", "legacy-sky", "sky1", "sky2", (BLOCK, False)),    # a cold move boots it there
    ("live", "legacy-bdw", "bdw1", "bdw2", (BLOCK, False)),    # CPv2 newly shows smap
    ("live", "legacy-bdw", "bdw1", "bdw1", None),              # neither shows it
])
def test_only_a_live_move_exposing_nothing_new_carries_the_risk(
        checker: Checker, host_of: Callable[[str], Host], vm_of: Callable[[str], Vm],
        what: str, vm_name: str, source: str, dest: str,
        expected: tuple[VerdictKind, bool] | None) -> None:
    guest, src, dst = vm_of(vm_name), host_of(source), host_of(dest)
    verdict = {"live": lambda: checker.migration(guest, src, dst),
               "cold": lambda: checker.cold_migration(guest, src, dst),
               "spawn": lambda: checker.spawn(guest, dst)}[what]()
    found = [(r.kind, r.carried) for r in verdict.reasons if r.code == "smap-legacy-guest"]
    assert found == ([] if expected is None else [expected])


def test_a_cold_move_carries_the_risk_only_of_a_vm_that_is_off() -> None:
    """A cold migration leaves a shut-off VM off (its next boot is later, wherever it is); a
    running VM is started on the destination, where it would not boot."""
    off = vm("off", "sky1", n=1, guest=LEGACY, power="shutoff")
    on = vm("on", "sky1", n=2, guest=LEGACY)
    fleet = make_fleet([off, on])
    checker = Checker(fleet)
    sky1, sky2 = fleet.host_by_name["sky1"], fleet.host_by_name["sky2"]
    assert [(v.kind, [r.carried for r in v.reasons]) for v in (
        checker.cold_migration(off, sky1, sky2), checker.cold_migration(on, sky1, sky2),
        checker.spawn(off, sky2))] == [(WARN, [True]), (BLOCK, [False]), (BLOCK, [False])]


SMEP_RULE = """\
id: smep-old-guest
title: A made-up next-boot rule on another feature, to show the semantics are not SMAP's
sources:
  - name: test
affects: [spawn, live_migration]
when:
  guest:
    distro: [centos]
  cpu:
    boot_exposes: [smep]
{extra}verdict: block
message: "{{guest}} would not boot with smep on {{destination}}"
actions: [require_guest_update]
"""


@pytest.mark.parametrize(("extra", "expected"), [
    ("", [(WARN, True)]),
    # the whole rule is judged at the source: CPv1 is not in its profiles, so the risk is new
    ("  destination:\n    profiles: [CPv2]\n", [(BLOCK, False)]),
])
def test_any_next_boot_rule_is_judged_against_the_source(
        tmp_path: Path, extra: str, expected: list[tuple[VerdictKind, bool]]) -> None:
    """Haswell shows smep on CPv1 and CPv2: a live move CPv1 -> CPv2 carries the risk of a rule
    on smep unless the rule's other conditions do not hold at the source."""
    (tmp_path / "smep-old-guest.yaml").write_text(SMEP_RULE.format(extra=extra))
    guest = vm("old", "hsw1", guest=LEGACY)
    fleet = make_fleet([guest])
    checker = Checker(fleet, shipped_rules().merged(load_rules([tmp_path])))
    verdict = checker.migration(guest, fleet.host_by_name["hsw1"], fleet.host_by_name["hsw2"])
    spawn = checker.spawn(guest, fleet.host_by_name["hsw2"])
    assert [(r.kind, r.carried) for r in verdict.reasons if r.code == "smep-old-guest"] == \
        expected
    assert [(r.kind, r.carried) for r in spawn.reasons if r.code == "smep-old-guest"] == \
        [(BLOCK, False)]
