"""VMs that cannot run on the target profile are consolidated, by live migration between hosts
that stay on the old profile, onto the fewest hosts per cluster (the legacy pool); the rest
of the cluster is upgraded."""

from __future__ import annotations

from hvroll.domain import Fleet
from hvroll.planner.build import Targets, plan, with_profiles
from hvroll.planner.model import MoveKind, Plan, Policy, SkipCause
from hvroll.planner.replay import replay
from hvroll.synthetic.generate import generate


def _plan() -> tuple[Plan, dict[str, str]]:
    """The small preset to CPv2 everywhere: its Broadwell hosts' legacy guests (no SMAP)
    would not boot on CPv2 without nosmap."""
    fleet = generate("small", 1)
    result = plan(fleet, Targets(default=fleet.profile_by_name["CPv2"]),
                  Policy(allow_cold_migration=True))
    return result, {vm.name: vm.host for vm in fleet.vms}


def test_the_fewest_hosts_are_kept_back_and_named_with_their_cause() -> None:
    result, _ = _plan()
    assert [(s.host, s.cause) for s in result.skipped] == [
        ("lab01-c02-hv06", SkipCause.LEGACY_POOL),
        ("lab02-c02-hv12", SkipCause.LEGACY_POOL),
    ]
    assert result.summary.kept_back_hosts == 2
    assert result.summary.pinned_hosts == 0
    assert [s.pinned_by for s in result.skipped] == ["", ""]
    assert result.summary.skipped_by_cause == {"legacy-pool": 2}
    assert result.skipped[1].reason.startswith(
        "kept on CPv1 as its cluster's legacy pool: holds 6 VMs that cannot run on CPv2 "
        "(e.g. 'vm-000535': ubuntu 12.04 does not support SMAP")
    assert result.skipped[1].reason.endswith(
        "; 1 VM that can run on CPv2 leaves it first to make room ('vm-000539')")


def test_a_member_of_an_anti_affinity_group_leaves_the_pool_to_make_room() -> None:
    """Legacy vm-000565 (lab02-c02-hv15) and vm-000539, which can run on CPv2, are in one
    anti-affinity group, and vm-000539 is on the pool host lab02-c02-hv12: it leaves for the
    target first, in the same drain, and vm-000565 goes last, so lab02-c02-hv15 is upgraded
    instead of kept as a second pool."""
    result, _ = _plan()
    [step] = [s for s in result.host_steps() if s.host == "lab02-c02-hv15"]
    drain = [(m.vm, m.source, m.dest) for m in step.drain]
    assert drain[0] == ("vm-000539", "lab02-c02-hv12", "lab02-c02-hv20")
    assert drain[-1] == ("vm-000565", "lab02-c02-hv15", "lab02-c02-hv12")
    assert all(source == "lab02-c02-hv15" for _, source, _ in drain[1:])
    assert step.reinstall
    leaving = [(m.vm, step.host) for step in result.host_steps() for m in step.drain
               if m.source != step.host]
    assert leaving == [("vm-000539", "lab02-c02-hv15")]


def test_legacy_vms_move_live_to_a_kept_host_in_their_hosts_drain() -> None:
    result, _ = _plan()
    kept = {s.host for s in result.skipped}
    legacy = {u.vm for u in result.unmovable if u.action.value == "operator"}
    pooled = [(m, step.host) for step in result.host_steps() for m in step.drain
              if m.vm in legacy]
    assert pooled, "some legacy VMs are consolidated"
    assert all(m.dest in kept and m.kind is MoveKind.LIVE and m.source == host
               for m, host in pooled)
    assert not any(step.host in kept for step in result.host_steps())


def test_the_plan_with_a_legacy_pool_replays_without_violations() -> None:
    fleet = generate("small", 1)
    cpv2 = fleet.profile_by_name["CPv2"]
    result = plan(fleet, Targets(default=cpv2), Policy(allow_cold_migration=True))
    targets = {step.host: cpv2 for step in result.host_steps()}
    out = replay(with_profiles(fleet, [cpv2]), result, targets)
    assert out.violations == []
    kept = {s.host for s in result.skipped}
    legacy = {u.vm for u in result.unmovable if u.action.value == "operator"}
    assert {out.final_location.get(vm, "") for vm in legacy} <= kept


def _cpv3_plan(changes: dict[str, dict[str, object]] | None = None) -> tuple[Fleet, Plan]:
    """The small preset to a CPv3 that shows what CPv2 shows, one rank up: the legacy guests of
    the Skylake cluster lab02-c01 (CPv2, which exposes SMAP) would not boot where they run
    either, so moving them between CPv2 hosts adds no risk. ``changes`` edits VMs by name."""
    base = generate("small", 1)
    data = base.model_dump(mode="json")
    for vm in data["vms"]:
        vm.update((changes or {}).get(vm["name"], {}))
    fleet = Fleet.model_validate(data)
    cpv3 = fleet.profile_by_name["CPv2"].model_copy(update={"name": "CPv3", "rank": 3})
    return fleet, plan(fleet, Targets(default=cpv3), Policy(allow_cold_migration=True))


def _kept(result: Plan, cluster: str) -> list[str]:
    return [s.host for s in result.skipped if s.host.startswith(cluster)]


def test_legacy_vms_that_already_carry_their_risk_consolidate_onto_one_host() -> None:
    fleet, result = _cpv3_plan()
    assert [(s.host, s.cause) for s in result.skipped] == [
        ("lab01-c02-hv06", SkipCause.LEGACY_POOL),
        ("lab02-c01-hv11", SkipCause.LEGACY_POOL),
        ("lab02-c02-hv12", SkipCause.LEGACY_POOL),
    ]
    pooled = sorted((m.vm, m.source, m.kind) for step in result.host_steps() for m in step.drain
                    if m.dest == "lab02-c01-hv11")
    assert pooled == [("vm-000290", "lab02-c01-hv01", MoveKind.LIVE),
                      ("vm-000312", "lab02-c01-hv04", MoveKind.LIVE),
                      ("vm-000345", "lab02-c01-hv08", MoveKind.LIVE),
                      ("vm-000361", "lab02-c01-hv09", MoveKind.LIVE),
                      ("vm-000396", "lab02-c01-hv14", MoveKind.LIVE),
                      ("vm-000403", "lab02-c01-hv15", MoveKind.LIVE)]
    cpv3 = result.targets[0]
    out = replay(with_profiles(fleet, [cpv3]), result,
                 {step.host: cpv3 for step in result.host_steps()})
    assert out.violations == []


def test_a_second_kept_host_says_why_its_vms_go_to_no_other() -> None:
    """vm-000539, in vm-000565's anti-affinity group on the pool host, made a legacy guest
    too: it may not leave for the target, so vm-000565 keeps its own host."""
    _, result = _cpv3_plan({"vm-000539": {"guest": {"family": "linux", "distro": "ubuntu",
                                                    "version": "12.04"}}})
    assert result.skipped[3].reason == (
        "kept on CPv1 as its cluster's legacy pool: holds 1 VM that cannot run on CPv3 (e.g. "
        "'vm-000565': ubuntu 12.04 does not support SMAP and the CPU it gets at its next boot "
        "on Broadwell/CPv3 exposes smap: it would not boot there); 'vm-000565' may go to no "
        "other pool host (lab02-c02-hv12 holds a member of its anti-affinity group "
        "'sg-0002-lab02-c02-hv01' ('vm-000539', which cannot run on the target either))")


def test_a_host_holding_a_legacy_vm_that_cannot_leave_is_the_pool() -> None:
    """vm-000290 gets a GPU: it cannot move live, and a cold move would start it where it
    would not boot, so its host is kept, and the others join it; vm-000312, shut off, moves
    cold (it stays off: its next boot is no worse there)."""
    _, result = _cpv3_plan({"vm-000290": {"devices": {"passthrough": ["gpu"]}},
                            "vm-000312": {"power": "shutoff"}})
    assert _kept(result, "lab02-c01") == ["lab02-c01-hv01"]
    assert [(s.host, s.pinned_by) for s in result.skipped if s.pinned_by] == [
        ("lab02-c01-hv01", "vm-000290")]
    assert result.summary.kept_back_hosts == 3
    assert result.summary.pinned_hosts == 1
    assert result.skipped[1].reason.endswith(
        "; 'vm-000290' cannot leave it either: GPU passthrough cannot be live-migrated; a "
        "cold move would start it where it would not boot")
    pooled = sorted((m.vm, m.kind) for step in result.host_steps() for m in step.drain
                    if m.dest == "lab02-c01-hv01")
    assert pooled == [("vm-000312", MoveKind.COLD), ("vm-000345", MoveKind.LIVE),
                      ("vm-000361", MoveKind.LIVE), ("vm-000377", MoveKind.LIVE),
                      ("vm-000396", MoveKind.LIVE), ("vm-000403", MoveKind.LIVE)]


def test_a_second_kept_host_says_why_no_room_could_be_made_on_the_first() -> None:
    """vm-000565 given 192 GiB: the pool host lab02-c02-hv12 has no room for it even once its
    VMs that can run on the target (vm-000539, a member of its group, among them) have left,
    so its own host is kept too, and says so; so it is, saying why, when vm-000539 has a GPU
    (it cannot move live)."""
    for changes, why in [
        ({"vm-000539": {"devices": {"passthrough": ["gpu"]}}},
         "lab02-c02-hv12 holds a member of its anti-affinity group 'sg-0002-lab02-c02-hv01' "
         "('vm-000539', which cannot move live to the target)"),
        ({"vm-000565": {"ram_mib": 196608}},
         "lab02-c02-hv12 holds a member of its anti-affinity group 'sg-0002-lab02-c02-hv01' "
         "('vm-000539'; even with it and the host's other VMs that can run on the target "
         "gone, no room for it)"),
        ({"vm-000565": {"ram_mib": 196608, "server_group": None}},
         "lab02-c02-hv12 has no room for it (196608 MiB, 16 vCPU) even once its VMs that can "
         "run on the target have left"),
    ]:
        _, result = _cpv3_plan(changes)
        assert _kept(result, "lab02-c02") == ["lab02-c02-hv12", "lab02-c02-hv15"]
        assert result.skipped[-1].reason.endswith(
            f"; 'vm-000565' may go to no other pool host ({why})")
        assert not any(m.source != step.host for step in result.host_steps()
                       for m in step.drain)
