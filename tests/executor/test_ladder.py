"""The migration ladder's decisions, against exact values."""

from __future__ import annotations

import pytest

from hvroll.domain.states import Rung
from hvroll.executor.ladder import (
    Act,
    Decision,
    LadderPolicy,
    Sample,
    after_failure,
    decide,
    downtime_steps,
    ladder,
    next_rung,
    resumed_rung,
    stalled,
)

POLICY = LadderPolicy()


def test_downtime_steps_like_nova() -> None:
    """500 ms in 10 steps, 75 s per GiB of a 3 GiB guest: every 225 s, 50 ms → 500 ms."""
    assert downtime_steps(POLICY, 3 * 1024) == [
        (0.0, 50), (225.0, 95), (450.0, 140), (675.0, 185), (900.0, 230), (1125.0, 275),
        (1350.0, 320), (1575.0, 365), (1800.0, 410), (2025.0, 455), (2250.0, 500)]


def test_downtime_steps_small_guest() -> None:
    assert downtime_steps(LadderPolicy(downtime_ms=400, downtime_steps=3), 2048) == [
        (0.0, 133), (150.0, 222), (300.0, 311), (450.0, 400)]


@pytest.mark.parametrize(("caps", "policy", "local", "expected"), [
    (frozenset({"auto_converge", "post_copy"}), POLICY, False,
     [Rung.PRECOPY, Rung.AUTO_CONVERGE, Rung.POST_COPY]),
    (frozenset({"auto_converge", "post_copy"}), POLICY, True,
     [Rung.PRECOPY, Rung.AUTO_CONVERGE, Rung.BLOCK]),
    (frozenset({"post_copy", "post_copy_block"}), POLICY, True,  # Nova's force-complete
     [Rung.PRECOPY, Rung.POST_COPY, Rung.BLOCK]),
    (frozenset({"post_copy_block"}), POLICY, True, [Rung.PRECOPY, Rung.BLOCK]),
    (frozenset(), POLICY, False, [Rung.PRECOPY]),
    (frozenset({"auto_converge", "post_copy", "suspend", "cold_migration"}),
     LadderPolicy(allow_suspend=True, allow_cold=True, allow_post_copy=False), False,
     [Rung.PRECOPY, Rung.AUTO_CONVERGE, Rung.SUSPEND, Rung.COLD]),
])
def test_ladder_is_gated_by_capabilities_and_policy(caps: frozenset[str], policy: LadderPolicy,
                                                    local: bool, expected: list[Rung]) -> None:
    assert ladder(caps, policy, local_disk=local) == expected


def samples(*remaining: float, processed: float = 0.0) -> list[Sample]:
    return [Sample(i, r, processed) for i, r in enumerate(remaining)]


def test_shrinking_migration_is_not_stalled() -> None:
    assert stalled(samples(8192, 1400, 240), 8192, POLICY) == ""


def test_remaining_not_shrinking_over_two_iterations_is_stalled() -> None:
    assert stalled(samples(8192, 6000, 6100, 6050), 8192, POLICY) == (
        "6050 MiB left after iteration 3, not less than 6000 MiB 2 iterations before")


def test_sending_more_than_three_times_ram_is_stalled() -> None:
    assert stalled(samples(100, 90, processed=3 * 8192 + 1), 8192, POLICY) == (
        "sent 24577 MiB > 3 × its 8192 MiB")


def test_too_few_iterations_to_judge() -> None:
    assert stalled(samples(8192, 8192), 8192, POLICY) == ""


RUNGS = [Rung.PRECOPY, Rung.AUTO_CONVERGE, Rung.POST_COPY]
SCHEDULE = downtime_steps(POLICY, 8192)


def test_wait_while_converging() -> None:
    assert decide(rung=Rung.PRECOPY, rungs=RUNGS, elapsed_s=10, samples=samples(8192, 1400),
                  total_mib=8192, downtime_ms=50, schedule=SCHEDULE, policy=POLICY) == \
        Decision(Act.WAIT)


def test_raise_downtime_on_schedule() -> None:
    assert decide(rung=Rung.PRECOPY, rungs=RUNGS, elapsed_s=600.0, samples=[],
                  total_mib=8192, downtime_ms=50, schedule=SCHEDULE, policy=POLICY) == \
        Decision(Act.RAISE_DOWNTIME, downtime_ms=50 + 45)


def test_a_stall_gets_the_whole_downtime_budget_first() -> None:
    decision = decide(rung=Rung.PRECOPY, rungs=RUNGS, elapsed_s=40,
                      samples=samples(8000, 8100, 8200), total_mib=8192, downtime_ms=50,
                      schedule=SCHEDULE, policy=POLICY)
    assert (decision.act, decision.downtime_ms) == (Act.RAISE_DOWNTIME, 500)


def test_a_stall_at_the_full_budget_climbs_to_auto_converge() -> None:
    decision = decide(rung=Rung.PRECOPY, rungs=RUNGS, elapsed_s=80,
                      samples=samples(8000, 8100, 8200), total_mib=8192, downtime_ms=500,
                      schedule=SCHEDULE, policy=POLICY)
    assert (decision.act, decision.rung) == (Act.CLIMB, Rung.AUTO_CONVERGE)


def test_a_time_out_counts_as_a_stall() -> None:
    decision = decide(rung=Rung.AUTO_CONVERGE, rungs=RUNGS, elapsed_s=5000,
                      samples=samples(8192, 100), total_mib=8192, downtime_ms=500,
                      schedule=SCHEDULE, policy=POLICY)
    assert decision == Decision(Act.CLIMB, rung=Rung.POST_COPY,
                                reason="running for 5000 s > 4800 s")


def test_no_rung_left_fails() -> None:
    assert next_rung(Rung.POST_COPY, RUNGS, "stuck") == Decision(Act.FAIL, reason="stuck")


def test_a_failed_job_of_a_vm_with_local_disks_retries_as_block_migration() -> None:
    rungs = [Rung.PRECOPY, Rung.AUTO_CONVERGE, Rung.BLOCK]
    assert next_rung(Rung.PRECOPY, rungs, "error", failed=True).rung is Rung.AUTO_CONVERGE
    assert next_rung(Rung.AUTO_CONVERGE, rungs, "error", failed=True).rung is Rung.BLOCK
    assert next_rung(Rung.AUTO_CONVERGE, rungs, "stall").act is Act.FAIL


P, AC, PC, B, S = Rung.PRECOPY, Rung.AUTO_CONVERGE, Rung.POST_COPY, Rung.BLOCK, Rung.SUSPEND


@pytest.mark.parametrize(("history", "rungs", "expected"), [
    ([P], [P, AC, PC], P),                      # retried once on its rung
    ([P, P], [P, AC, PC], AC),                  # then the next rung
    ([P, P], [P, PC, B], B),                    # post-copy is no help to a failed job
    ([P, P, B, B], [P, PC, B], None),           # nothing left
    ([P, PC], [P, PC, B], B),                   # failed in post-copy: never retried there
    ([P, P], [P, S], None),                     # suspend acts on a running job only
    ([Rung.COLD], [Rung.COLD], Rung.COLD),
    ([Rung.COLD, Rung.COLD], [Rung.COLD], None),
])
def test_after_failure(history: list[Rung], rungs: list[Rung], expected: Rung | None) -> None:
    assert after_failure(history, rungs, POLICY) == expected


@pytest.mark.parametrize(("history", "phase", "rungs", "expected"), [
    ([P], "failed", [P, AC, PC], P),
    ([P, P], "failed", [P, PC, B], B),          # the case a restarted run started as pre-copy
    ([P, P, B], "failed", [P, PC, B], B),
    ([P], "cancelled", [P, AC, PC], AC),        # aborted to climb: the next rung that helps
    ([P], "cancelled", [P, B], None),           # block is no help to a stalled job
    ([P, AC], "cancelled", [P, AC, PC], None),  # post-copy switches a running job
    ([], "failed", [P, AC], None),              # never ran
])
def test_resumed_rung(history: list[Rung], phase: str, rungs: list[Rung],
                      expected: Rung | None) -> None:
    assert resumed_rung(history, phase, rungs, POLICY) == expected


def test_resumed_rung_counts_the_policy_retries() -> None:
    assert resumed_rung([P, P], "failed", [P, AC], LadderPolicy(retries=2)) == P
    assert resumed_rung([P], "failed", [P, AC], LadderPolicy(retries=0)) == AC
