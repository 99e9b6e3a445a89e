"""The roll-forward invariant as a pure decision: where a VM may be started towards."""

from __future__ import annotations

import pytest

from hvroll.executor.checks import destination_problem
from hvroll.planner.replace import Readiness

R = Readiness

HEAD = "vm1 not started towards h2"


@pytest.mark.parametrize(("readiness", "source_rank", "dest_rank", "required_rank",
                          "planned", "may_wait", "expected"), [
    # an upgraded host, or one outside the campaign at the VM's target rank
    (R.UPGRADED, 1, 2, 2, True, True, ""),
    (R.UPGRADED, 1, 2, 2, False, False, ""),
    (R.UNCHANGED, 1, 2, 2, False, False, ""),
    # failed, skipped or busy: never, whatever the plan says
    (R.FAILED, 1, 1, 2, True, True,
     f"{HEAD}: its own upgrade failed (it stays on its old profile)"),
    (R.FAILED, 1, 2, 2, False, False,
     f"{HEAD}: its own upgrade failed (it stays on its old profile)"),
    (R.SKIPPED, 1, 1, 2, True, True,
     f"{HEAD}: its upgrade was skipped (it stays on its old profile)"),
    (R.BUSY, 1, 1, 2, True, True, f"{HEAD}: it is being drained, reinstalled or verified"),
    # not started yet: only where the plan's ordering sends the VM (no-spare bootstrap)
    (R.WAITING, 1, 1, 2, True, True, ""),
    (R.WAITING, 1, 1, 2, False, False,
     f"{HEAD}: it has not reached its target profile (its upgrade has not started) and "
     f"the plan's ordering does not send the VM there"),
    # never an older profile than the source's, even when planned
    (R.UNCHANGED, 2, 1, 2, True, True,
     f"{HEAD}: its profile (rank 1) is older than the source's (rank 2)"),
    (R.WAITING, 2, 1, 1, True, True,
     f"{HEAD}: its profile (rank 1) is older than the source's (rank 2)"),
    # re-placed (not planned): at least the rank the VM must reach
    (R.UNCHANGED, 1, 1, 2, False, False,
     f"{HEAD}: its profile (rank 1) is below the rank the VM must reach (rank 2)"),
    (R.UNCHANGED, 1, 1, 2, True, True, ""),
])
def test_destination_problem(readiness: Readiness, source_rank: int, dest_rank: int,
                             required_rank: int, planned: bool, may_wait: bool,
                             expected: str) -> None:
    assert destination_problem(vm="vm1", dest="h2", readiness=readiness,
                               source_rank=source_rank, dest_rank=dest_rank,
                               required_rank=required_rank, planned=planned,
                               may_wait=may_wait) == expected
