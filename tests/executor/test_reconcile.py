"""Reconciliation decisions after a restart, against exact values: what the store recorded and
what the driver reports decide adopt / complete / redo / fail for a migration, and redo /
follow / finish / verify / reinstall again for a host step."""

from __future__ import annotations

import pytest

from hvroll.domain.states import HostStepState
from hvroll.drivers.base import JobKind, JobPhase, JobProgress
from hvroll.executor.reconcile import (
    HostDecision,
    HostFix,
    MigrationDecision,
    MigrationFix,
    decide_host,
    decide_migration,
)

RUNNING = JobProgress(job="c1-m1-a1", kind=JobKind.LIVE_MIGRATION, phase=JobPhase.RUNNING)
ENDED = JobProgress(job="c1-m1-a1", kind=JobKind.LIVE_MIGRATION, phase=JobPhase.COMPLETED)
REINSTALLING = JobProgress(job="c1-h1-r1", kind=JobKind.REINSTALL, phase=JobPhase.RUNNING)
REINSTALLED = JobProgress(job="c1-h1-r1", kind=JobKind.REINSTALL, phase=JobPhase.FAILED)


@pytest.mark.parametrize(("job", "attempted", "where", "expected"), [
    (RUNNING, True, (), MigrationDecision(MigrationFix.ADOPT)),
    (ENDED, True, ("b",), MigrationDecision(MigrationFix.ADOPT)),
    (None, True, ("b",), MigrationDecision(
        MigrationFix.COMPLETE, "completed while the executor was not watching (no job "
                               "statistics)")),
    (None, True, ("a",), MigrationDecision(
        MigrationFix.REDO, "reconcile: the job never reached the cloud")),
    (RUNNING, False, ("a",), MigrationDecision(  # a job without a recorded attempt
        MigrationFix.REDO, "reconcile: the job never reached the cloud")),
    (None, True, ("c",), MigrationDecision(MigrationFix.FAIL, "after a restart found on c")),
    (None, True, (), MigrationDecision(MigrationFix.FAIL, "after a restart found on no host",
                                       "vm1 runs on no host after a restart")),
    (None, True, ("a", "b"), MigrationDecision(MigrationFix.FAIL,
                                               "after a restart found on a, b",
                                               "vm1 runs on a, b after a restart")),
])
def test_decide_migration(job: JobProgress | None, attempted: bool, where: tuple[str, ...],
                          expected: MigrationDecision) -> None:
    assert decide_migration(vm="vm1", source="a", dest="b", job=job, attempted=attempted,
                            where=where) == expected


@pytest.mark.parametrize(("state", "job", "profile", "expected"), [
    (HostStepState.DISABLING, None, None,
     HostDecision(HostFix.REDO_DISABLE, "reconcile: redo the disable and pre-checks")),
    (HostStepState.REINSTALLING, REINSTALLING, None, HostDecision(HostFix.FOLLOW)),
    (HostStepState.REINSTALLING, REINSTALLED, None, HostDecision(HostFix.FINISH)),
    (HostStepState.REINSTALLING, None, "CPv2",
     HostDecision(HostFix.VERIFY, "reconcile: no job, the host reports its target")),
    (HostStepState.REINSTALLING, None, "CPv1",
     HostDecision(HostFix.REDO_REINSTALL, "reconcile: the reinstall never reached the cloud")),
    (HostStepState.DRAINING, None, None, HostDecision(HostFix.KEEP)),
    (HostStepState.DONE, None, None, HostDecision(HostFix.KEEP)),
])
def test_decide_host(state: HostStepState, job: JobProgress | None, profile: str | None,
                     expected: HostDecision) -> None:
    assert decide_host(state=state, job=job, profile=profile, target="CPv2") == expected
