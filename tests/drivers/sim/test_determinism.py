"""The same fleet, seed, faults and calls give the same results."""

from __future__ import annotations

from hvroll.drivers.base import JobPhase, MigrationOptions
from hvroll.drivers.sim import Faults, SimCloud

from .conftest import fleet, run_until_final, vm
from .scenario import FAULTS, campaign, end_state, small_fleet


def test_the_same_calls_give_the_same_progress_sequence() -> None:
    f = small_fleet()
    first, second = SimCloud(f, seed=4, faults=FAULTS), SimCloud(f, seed=4, faults=FAULTS)
    trace = list(campaign(lambda: first, f))
    assert trace == list(campaign(lambda: second, f))
    assert end_state(first) == end_state(second)
    assert len(trace) > 50
    phases = {step[1] for _, _, seen in trace for step in seen}
    assert {"completed", "failed", "postcopy"} <= phases


def test_another_seed_gives_another_run() -> None:
    f = small_fleet()
    first, second = SimCloud(f, seed=4, faults=FAULTS), SimCloud(f, seed=5, faults=FAULTS)
    assert list(campaign(lambda: first, f)) != list(campaign(lambda: second, f))


def test_unknown_dirty_rates_are_drawn_from_the_seed_per_vm() -> None:
    vms = [vm(f"v{i}", dirty=None) for i in range(300)]
    forward = SimCloud(fleet(*vms), seed=1)
    backward = SimCloud(fleet(*reversed(vms)), seed=1)
    rates = [forward.inspect_vm(f"v{i}").dirty_rate_mib_s for i in range(300)]
    assert rates == [backward.inspect_vm(f"v{i}").dirty_rate_mib_s for i in range(300)]
    other_seed = SimCloud(fleet(*vms), seed=2)
    assert rates != [other_seed.inspect_vm(f"v{i}").dirty_rate_mib_s for i in range(300)]
    assert sorted(rates)[150] < 20.0  # most VMs dirty a few MiB/s
    assert 1 <= sum(r >= 400.0 for r in rates) <= 25  # a few are noisy


def test_a_jobs_fate_depends_on_its_id_not_on_the_order_of_calls() -> None:
    faults = Faults(migration_failure_rate=0.5)
    vms = [vm(f"v{i}", f"hv{i % 2}") for i in range(20)]

    def outcomes(order: list[int]) -> dict[str, JobPhase]:
        cloud = SimCloud(fleet(*vms), seed=9, faults=faults)
        for i in order:
            cloud.migrate(f"m{i}", f"v{i}", f"hv{2 + i % 2}", MigrationOptions())
        done = run_until_final(cloud, *(f"m{i}" for i in order))
        return {p.job: p.phase for p in done}

    forward = outcomes(list(range(20)))
    assert forward == outcomes(list(reversed(range(20))))
    assert set(forward.values()) == {JobPhase.COMPLETED, JobPhase.FAILED}
