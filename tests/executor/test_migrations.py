"""Starting migrations: the ladder's record written with each attempt, the limits that hold
a drain, the room a kept host makes before a legacy VM arrives."""

from __future__ import annotations

from campaigns import Campaign
from hvroll.domain.states import CampaignState, HostStepState, MigrationState
from hvroll.executor.engine import Executor
from hvroll.executor.migrations import _with_rung, held_beyond_destination
from hvroll.planner.build import Targets
from hvroll.planner.model import Policy
from hvroll.synthetic.generate import generate


def test_a_rung_is_added_at_the_end_of_the_recorded_ladder() -> None:
    assert _with_rung("[]", "precopy") == '["precopy"]'
    assert _with_rung('["precopy"]', "auto_converge") == '["precopy","auto_converge"]'
    assert _with_rung('["precopy","auto_converge"]', "precopy") == (
        '["precopy","auto_converge","precopy"]')
    assert _with_rung("", "cold") == '["cold"]'


def test_a_migration_is_held_beyond_its_destination_when_its_source_cluster_or_region_is_full(
        ) -> None:
    """Limits 2 per source, 8 per cluster, 64 per region: any of the three at its limit holds
    every migration of the drain; below all three only the destination can (it is passed)."""
    limits = (2, 8, 64)
    assert held_beyond_destination(2, 3, 3, *limits)
    assert held_beyond_destination(1, 8, 8, *limits)
    assert held_beyond_destination(1, 7, 64, *limits)
    assert held_beyond_destination(3, 9, 65, *limits)
    assert not held_beyond_destination(1, 7, 63, *limits)
    assert not held_beyond_destination(0, 0, 0, *limits)
    assert not held_beyond_destination(0, 0, 0, 1, 1, 1)
    assert held_beyond_destination(1, 0, 0, 1, 1, 1)


def test_a_legacy_vm_goes_to_its_pool_host_once_the_vm_making_room_there_has_left(
        campaign: Campaign) -> None:
    """The small preset to CPv2 (no nosmap): legacy vm-000565 and vm-000539, which can run
    on CPv2, are in one anti-affinity group, vm-000539 on the pool host lab02-c02-hv12. The
    drain of lab02-c02-hv15 sends vm-000539 to the target first; vm-000565 starts towards
    lab02-c02-hv12 only once vm-000539 has left it (not while both would be on it), and
    lab02-c02-hv15 is upgraded."""
    fleet = generate("small", 1)
    store, cloud, _ = campaign(fleet, targets=Targets(default=fleet.profile_by_name["CPv2"]),
                               policy=Policy(allow_suspend=True, hold_after_canary=False,
                                             allow_cold_migration=True))
    assert Executor(store, cloud).run().state is CampaignState.COMPLETED
    rows = {m.vm: m for m in store.migrations()}
    leaving, legacy = rows["vm-000539"], rows["vm-000565"]
    assert (leaving.source, leaving.state) == ("lab02-c02-hv12", MigrationState.COMPLETED)
    assert (legacy.dest, legacy.state) == ("lab02-c02-hv12", MigrationState.COMPLETED)
    order = [(t.entity_id, t.target) for t in store.transitions() if t.entity == "migration"]
    assert order.index((leaving.id, "completed")) < order.index((legacy.id, "starting"))
    assert cloud.placement()["vm-000565"] == "lab02-c02-hv12"
    [step] = [s for s in store.steps() if s.host == "lab02-c02-hv15"]
    assert step.state is HostStepState.DONE and step.reinstall
