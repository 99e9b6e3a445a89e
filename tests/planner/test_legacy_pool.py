"""VMs that cannot run on the target profile are consolidated, by live migration between hosts
that stay on the old profile, onto the fewest hosts per cluster (the legacy pool); the rest
of the cluster is upgraded."""

from __future__ import annotations

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
        ("lab02-c02-hv15", SkipCause.LEGACY_POOL),
    ]
    assert result.summary.kept_back_hosts == 3
    assert result.summary.skipped_by_cause == {"legacy-pool": 3}
    assert result.skipped[1].reason.startswith(
        "kept on CPv1 as its cluster's legacy pool: holds 5 VMs that cannot run on CPv2 "
        "(e.g. 'vm-000535': ubuntu 12.04 does not support SMAP")


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
