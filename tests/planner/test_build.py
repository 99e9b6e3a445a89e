"""The planner on small hand-made fleets, against exact plans."""

from __future__ import annotations

import gc

import pytest

from handmade import one_cluster
from hvroll.domain import Fleet
from hvroll.inventory import parse_fleet
from hvroll.planner.build import Targets, _makespan, light_at_both_ends, plan
from hvroll.planner.model import MoveKind, Policy, Strategy, UnmovableAction


def moves(result: object) -> list[tuple[int, str, str, str]]:
    from hvroll.planner.model import Plan

    assert isinstance(result, Plan)
    return [(w.index, m.vm, m.source, m.dest) for w in result.waves for s in w.steps
            for m in s.drain] + [(w.index, m.vm, m.source, m.dest) for w in result.waves
                                 for m in w.returns]


def test_tiny_canary_drains_onto_the_upgraded_spare(tiny: Fleet) -> None:
    """hv1 (CPv1) is the only host to upgrade; hv2 is already on CPv2 (with nosmap)."""
    result = plan(tiny, tiny.profile_by_name["CPv2"])
    assert [(w.index, w.canary, [(s.host, s.reinstall, s.canary) for s in w.steps])
            for w in result.waves] == [
        (0, True, [("hv1", False, True)]),
        (1, False, [("hv1", True, True)]),
    ]
    assert moves(result) == [(0, "win-1", "hv1", "hv2"), (0, "web-1", "hv1", "hv2"),
                             (0, "legacy-1", "hv1", "hv2")]
    win = result.waves[0].steps[0].drain[0]
    assert win.workarounds == ("copy_config_drive", "remove_balloon")
    assert win.kind is MoveKind.LIVE
    s = result.summary
    assert (s.hosts, s.vms, s.waves, s.migrations, s.migrations_per_vm, s.max_moves_per_vm,
            s.blocked_vms, s.skipped_hosts) == (1, 3, 2, 3, 1.0, 1, 0, 0)


def test_without_a_canary_the_first_wave_drains(tiny: Fleet) -> None:
    result = plan(tiny, tiny.profile_by_name["CPv2"], Policy(canary_hosts=0))
    assert [w.index for w in result.waves] == [1]
    assert [(s.host, s.reinstall, len(s.drain)) for s in result.waves[0].steps] == [
        ("hv1", True, 3)]


NEW = "new"


def test_the_bound_under_the_policy_counts_a_whole_clusters_ends() -> None:
    """h0 holds two 4 GiB guests (8,192 MiB over 1,180 MiB/s: 6.94 s), h1 is an empty spare,
    k = a = 1. Both reinstalls take two rounds (3,600 s); under the policy a place idles at
    least 1,800 s at each end too: (2 × 1,800 + 6.94 + 2 × 1,800) / 2 = 3,603.5 s. With h1
    already on the target the cluster is not upgraded whole (a guest may go to h1 at once),
    and the bound under the policy is the other one."""
    fleet = one_cluster(["old", "old"], 1, 2)
    whole = plan(fleet, fleet.profile_by_name[NEW])
    assert (whole.summary.lower_bound_s, whole.summary.policy_bound_s) == (3600.0, 3603.5)
    fleet = one_cluster(["old", "new"], 1, 2)
    part = plan(fleet, fleet.profile_by_name[NEW])
    assert (part.summary.lower_bound_s, part.summary.policy_bound_s) == (1800.0, 1800.0)


def test_the_bounds_count_no_memory_where_the_policy_allows_cold_moves() -> None:
    """h0 and h1 hold two 4 GiB guests each over 5 MiB/s links (16,384 MiB: 3,276.8 s), h2 is
    an empty spare, k = a = 1: (3 × 1,800 + 3,276.8 + 2 × 1,800) / 2 = 6,138.4 s under the
    policy. A guest stopped and moved cold sends no memory: with cold moves allowed the term
    is (3 × 1,800 + 2 × 1,800) / 2 = 4,500 s, and the three rounds of reinstalls bind both."""
    fleet = one_cluster(["old"] * 3, 1, 2)
    fleet = fleet.model_copy(update={"hosts": tuple(
        h.model_copy(update={"link_mib_s": 5.0}) for h in fleet.hosts)})
    live = plan(fleet, fleet.profile_by_name[NEW], Policy(drain_ahead=1)).summary
    assert (live.lower_bound_s, live.policy_bound_s) == (5400.0, 6138.4)
    cold = plan(fleet, fleet.profile_by_name[NEW],
                Policy(allow_cold_migration=True, drain_ahead=1)).summary
    assert (cold.lower_bound_s, cold.policy_bound_s) == (5400.0, 5400.0)


@pytest.mark.parametrize("strategy", list(Strategy))
def test_every_strategy_upgrades_every_host(strategy: Strategy) -> None:
    fleet = one_cluster(["old"] * 6, spares=2, vms_per_host=2)
    result = plan(fleet, fleet.profile_by_name[NEW], Policy(canary_hosts=0), strategy)
    upgraded = [s.host for w in result.waves for s in w.steps if s.reinstall]
    assert sorted(upgraded) == [f"h{i}" for i in range(6)]
    assert result.skipped == ()


def test_roll_forward_upgrades_spares_first_then_k_hosts_a_wave() -> None:
    fleet = one_cluster(["old"] * 6, spares=2, vms_per_host=2)
    result = plan(fleet, fleet.profile_by_name[NEW], Policy(canary_hosts=0))
    assert [[(s.host, len(s.drain)) for s in w.steps] for w in result.waves] == [
        [("h4", 0), ("h5", 0)],
        [("h0", 2), ("h1", 2)],
        [("h2", 2), ("h3", 2)],
    ]
    assert result.summary.migrations_per_vm == 1.0
    assert {m[3] for m in moves(result) if m[0] == 1} == {"h4", "h5"}


def test_the_first_hosts_after_the_spares_are_the_lightest_and_the_rest_heaviest_first() -> None:
    assert light_at_both_ends(["s", "a", "b", "c", "d", "e"],
                              {"s": 0, "a": 1, "b": 2, "c": 3, "d": 5, "e": 4}, 3) == [
        "s", "a", "b", "d", "e", "c"]
    assert light_at_both_ends(["a", "b"], {"a": 1, "b": 2}, 3) == ["a", "b"]
    # Two a wave: the six after the spare, heaviest first (e d c b f a), dealt out to three
    # waves, so each wave has a heavy and a light host and the last host is the lightest.
    assert light_at_both_ends(["s", "a", "f", "b", "c", "d", "e"],
                              {"s": 0, "a": 1, "f": 2, "b": 3, "c": 4, "d": 5, "e": 6},
                              1, 2) == ["s", "e", "b", "d", "f", "c", "a"]
    # One spare (k = 1): the two lightest hosts first (two waves), then the heaviest, so
    # the cluster ends with light ones; VMs of 4 GiB.
    fleet = one_cluster(["old"] * 6, spares=1, vms_per_host=[3, 1, 2, 1, 2])
    result = plan(fleet, fleet.profile_by_name[NEW], Policy(canary_hosts=0))
    assert [[(s.host, len(s.drain)) for s in w.steps] for w in result.waves] == [
        [("h5", 0)], [("h1", 1)], [("h3", 1)], [("h0", 3)], [("h2", 2)], [("h4", 2)]]


def test_roll_forward_drains_elsewhere_than_the_wave_before_when_the_vms_fit() -> None:
    """16 GiB hosts. With 2 × 4 GiB VMs a host, wave 2 fits on the spares (upgraded two
    waves before), so it may drain while wave 1's hosts are reinstalled; wave 3 goes to wave
    1's. With 3 a host, wave 2's VMs do not fit on the spares and go to wave 1's hosts; in
    wave 3, h4's fit beside wave 2's, h5's only on wave 2's hosts."""
    def dests(vms_per_host: int) -> list[list[tuple[str, list[str]]]]:
        fleet = one_cluster(["old"] * 8, spares=2, vms_per_host=vms_per_host)
        result = plan(fleet, fleet.profile_by_name[NEW], Policy(canary_hosts=0))
        return [[(s.host, sorted({m.dest for m in s.drain})) for s in w.steps]
                for w in result.waves[1:]]

    assert dests(2) == [[("h0", ["h6", "h7"]), ("h1", ["h6", "h7"])],
                        [("h2", ["h6", "h7"]), ("h3", ["h6", "h7"])],
                        [("h4", ["h0", "h1"]), ("h5", ["h0", "h1"])]]
    assert dests(3) == [[("h0", ["h6", "h7"]), ("h1", ["h6", "h7"])],
                        [("h2", ["h0", "h1"]), ("h3", ["h0", "h1"])],
                        [("h4", ["h0", "h1", "h6"]), ("h5", ["h2", "h3"])]]


def test_evacuate_return_moves_each_vm_out_and_back() -> None:
    fleet = one_cluster(["old"] * 6, spares=2, vms_per_host=2)
    result = plan(fleet, fleet.profile_by_name[NEW], Policy(canary_hosts=0),
                  Strategy.EVACUATE_RETURN)
    assert result.summary.migrations_per_vm == 2.0
    returns = [(m.vm, m.dest) for w in result.waves for m in w.returns]
    assert ("v1", "h0") in returns and all(m.returning for w in result.waves
                                           for m in w.returns)


def test_a_cluster_without_empty_hosts_bootstraps_by_moving_one_host_twice() -> None:
    fleet = one_cluster(["old"] * 3, spares=0, vms_per_host=1)
    result = plan(fleet, fleet.profile_by_name[NEW], Policy(canary_hosts=0))
    assert result.skipped == ()
    assert result.summary.max_moves_per_vm == 2
    first = result.waves[0]
    assert [(s.host, [m.dest for m in s.drain]) for s in first.steps] == [("h0", ["h1"])]


def test_hosts_already_on_the_target_are_left_alone_and_receive() -> None:
    fleet = one_cluster(["old", "old", "new"], spares=0, vms_per_host=1)
    result = plan(fleet, fleet.profile_by_name[NEW], Policy(canary_hosts=0))
    assert result.summary.hosts == 2
    assert "h2" not in [s.host for w in result.waves for s in w.steps]
    assert all(m[3] in ("h2", "h0", "h1") for m in moves(result))
    assert result.summary.max_moves_per_vm == 1


def test_a_full_target_defers_hosts_and_never_overloads() -> None:
    """16 GiB hosts with 3 × 4 GiB VMs: one empty new host takes one old host per wave."""
    fleet = one_cluster(["old"] * 4, spares=1, vms_per_host=3)
    result = plan(fleet, fleet.profile_by_name[NEW], Policy(canary_hosts=0))
    assert [[s.host for s in w.steps] for w in result.waves] == [
        ["h3"], ["h0"], ["h1"], ["h2"]]


def test_blocked_vm_skips_its_host_and_is_listed(tiny: Fleet) -> None:
    """Without nosmap, the legacy guest would not boot again on Broadwell CPv2."""
    plain = tiny.profile_by_name["CPv2"].model_copy(update={"name": "CPv2p",
                                                              "kernel_flags": ()})
    hv2 = tiny.host_by_name["hv2"].model_copy(update={"profile": "CPv2p"})
    fleet = tiny.model_copy(update={
        "profiles": (*tiny.profiles, plain),
        "hosts": (tiny.hosts[0], hv2)})
    fleet = Fleet.model_validate(fleet.model_dump())
    result = plan(fleet, plain)
    assert [(u.vm, u.host, u.action) for u in result.unmovable] == [
        ("legacy-1", "hv1", UnmovableAction.OPERATOR)]
    assert result.unmovable[0].reason.startswith("centos 5.11 does not support SMAP")
    assert [s.host for s in result.skipped] == ["hv1"]
    assert moves(result) == []


def test_passthrough_vm_moves_cold_only_when_allowed(tiny: Fleet) -> None:
    data = tiny.model_dump()
    data["vms"][0]["devices"]["passthrough"] = ["gpu"]
    fleet = Fleet.model_validate(data)
    target = fleet.profile_by_name["CPv2"]
    assert [u.action for u in plan(fleet, target).unmovable] == [UnmovableAction.COLD_MIGRATE]
    allowed = plan(fleet, target, Policy(allow_cold_migration=True))
    assert allowed.skipped == ()
    cold = [m for w in allowed.waves for s in w.steps for m in s.drain if m.vm == "web-1"]
    assert [m.kind for m in cold] == [MoveKind.COLD]


def test_targets_by_generation() -> None:
    fleet = one_cluster(["old"] * 3, spares=1, vms_per_host=1)
    targets = Targets(default=None, by_name={"Broadwell": fleet.profile_by_name[NEW]})
    assert plan(fleet, targets).summary.hosts == 3
    assert plan(fleet, Targets(default=None, by_name={"Skylake": fleet.profile_by_name[NEW]})
                ).summary.hosts == 0


def test_anti_affinity_members_never_share_a_destination() -> None:
    fleet = one_cluster(["old"] * 3 + ["new"] * 2, spares=2, vms_per_host=1)
    vms = [vm.model_copy(update={"server_group": "g"}) for vm in fleet.vms]
    data = fleet.model_dump()
    data["vms"] = [vm.model_dump() for vm in vms]
    data["server_groups"] = [{"name": "g"}]
    fleet = Fleet.model_validate(data)
    result = plan(fleet, fleet.profile_by_name[NEW], Policy(canary_hosts=0,
                                                               hosts_per_wave=3))
    first = [m for m in moves(result) if m[0] == 1]
    assert len({dest for *_, dest in first}) == len(first)


def test_makespan_waits_for_each_regions_canary_wave_only() -> None:
    """Region r1's later waves start after its longest wave 0 (100 s): a ends at 150, b at
    220; region r2's canary wave is 10 s, so c ends at 310, the campaign's end. A fleet-wide
    canary wave (the longest, 100 s) would have said 400."""
    cluster_s = {"a": {0: 100.0, 1: 50.0}, "b": {1: 120.0}, "c": {0: 10.0, 1: 300.0}}
    assert _makespan(cluster_s, {"a": "r1", "b": "r1", "c": "r2"}) == 310.0
    assert _makespan({}, {}) == 0.0


@pytest.mark.parametrize("enabled", [True, False])
def test_planning_leaves_the_cycle_collector_as_it_found_it(tiny: Fleet, enabled: bool) -> None:
    """The collector is paused while planning and restored after, on or off as before."""
    was = gc.isenabled()
    try:
        if not enabled:
            gc.disable()
        plan(tiny, tiny.profile_by_name["CPv2"])
        assert gc.isenabled() is enabled
    finally:
        if was:
            gc.enable()


def test_without_spare_the_first_host_drained_is_one_whose_vms_need_nothing_on_a_second_hop(
        tiny_text: str) -> None:
    """In a cluster without spare the first host's VMs go to hosts not upgraded yet and move
    again. A Windows guest with a balloon, once live-migrated, wants ``remove_balloon`` for a
    hop from CPv1 (windows-balloon-remigration): its host, though the lightest, is not
    drained first when another host's VMs need nothing for their second hop."""
    head, _, _ = tiny_text.partition("hosts:\n")
    hosts = "".join(f"  - {{name: hv{i}, cluster: c1, generation: Broadwell, profile: CPv1, "
                    f"vcpus: 32, ram_mib: 65536, disk_gib: 400}}\n" for i in (1, 2, 3))
    linux = '{family: linux, distro: ubuntu, version: "22.04"}'
    vms = [("win", "hv1", 2048, '{family: windows, distro: windows, version: "2019"}'),
           ("a", "hv2", 4096, linux), ("b", "hv3", 8192, linux)]
    text = head + "hosts:\n" + hosts + "vms:\n" + "".join(
        f"  - {{name: {name}, uuid: 00000000-0000-4000-8000-00000000000{i}, host: {host}, "
        f"vcpus: 1, ram_mib: {ram}, disks: [{{kind: shared, size_gib: 10}}], "
        f"guest: {guest}}}\n" for i, (name, host, ram, guest) in enumerate(vms, 1))
    fleet = parse_fleet(text, "three.yaml")
    result = plan(fleet, Targets(default=fleet.profile_by_name["CPv2"]),
                  Policy(hold_after_canary=False, canary_hosts=0))
    order = [s.host for w in result.waves for s in w.steps]
    assert order[0] == "hv2"  # hv1 is the lightest, but its Windows guest would move twice
    twice = [m.vm for w in result.waves for s in w.steps for m in s.drain]
    assert twice.count("win") == 1 and twice.count("a") == 2
    assert all("remove_balloon" not in m.workarounds
               for w in result.waves for s in w.steps for m in s.drain)


def test_a_workaround_every_hop_wants_does_not_keep_a_host_from_going_first(
        tiny_text: str) -> None:
    """An iso9660 config drive wants ``copy_config_drive`` for every hop, the first as much
    as the second: its host may still go first. Here every host holds a VM wanting some
    workaround; hv2's only wants one its first hop does not add, so hv2 goes first rather
    than the lightest, hv1, whose Windows guest would want ``remove_balloon`` on its second
    hop (before, every host counted as wanting, and hv1 went first)."""
    head, _, _ = tiny_text.partition("hosts:\n")
    hosts = "".join(f"  - {{name: hv{i}, cluster: c1, generation: Broadwell, profile: CPv1, "
                    f"vcpus: 32, ram_mib: 65536, disk_gib: 400}}\n" for i in (1, 2, 3))
    other, drive = "{family: other}", "devices: {config_drive: iso9660}, "
    vms = [("win", "hv1", 2048, '{family: windows, distro: windows, version: "2019"}', ""),
           ("a", "hv2", 4096, other, drive), ("b", "hv3", 8192, other, drive)]
    text = head + "hosts:\n" + hosts + "vms:\n" + "".join(
        f"  - {{name: {name}, uuid: 00000000-0000-4000-8000-00000000000{i}, host: {host}, "
        f"vcpus: 1, ram_mib: {ram}, disks: [{{kind: shared, size_gib: 10}}], {extra}"
        f"guest: {guest}}}\n" for i, (name, host, ram, guest, extra) in enumerate(vms, 1))
    fleet = parse_fleet(text, "three.yaml")
    result = plan(fleet, Targets(default=fleet.profile_by_name["CPv2"]),
                  Policy(hold_after_canary=False, canary_hosts=0))
    assert next(s.host for w in result.waves for s in w.steps) == "hv2"
    assert all("remove_balloon" not in m.workarounds
               for w in result.waves for s in w.steps for m in s.drain)
