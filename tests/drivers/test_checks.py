"""Argument checks shared by every backend: one message whatever the backend."""

from __future__ import annotations

import pytest

from hvroll.drivers import checks
from hvroll.drivers.base import Capability, JobKind, JobPhase, MigrationOptions
from hvroll.errors import CapabilityError, DriverError, SafetyError

EVERY = frozenset(Capability)


@pytest.mark.parametrize(("options", "message"), [
    (MigrationOptions(max_downtime_ms=-1), r"^hv0: cannot migrate a: max_downtime_ms must be "
                                           r">= 0 and bandwidth_mib_s > 0 \(got -1, None\)$"),
    (MigrationOptions(bandwidth_mib_s=0), r"bandwidth_mib_s > 0 \(got 500, 0\)$"),
])
def test_migration_options_out_of_range(options: MigrationOptions, message: str) -> None:
    with pytest.raises(DriverError, match=message):
        checks.migration(EVERY, "sim", "a", options, host="hv0")


@pytest.mark.parametrize(("options", "capability"), [
    (MigrationOptions(), Capability.LIVE_MIGRATION),
    (MigrationOptions(auto_converge=True), Capability.AUTO_CONVERGE),
    (MigrationOptions(post_copy=True), Capability.POST_COPY),
    (MigrationOptions(block=True), Capability.BLOCK_MIGRATION),
    (MigrationOptions(bandwidth_mib_s=100), Capability.BANDWIDTH_LIMIT),
])
def test_each_option_needs_its_capability(options: MigrationOptions,
                                          capability: Capability) -> None:
    checks.migration(EVERY, "x", "a", options)
    with pytest.raises(CapabilityError, match=f"cannot do {capability.value}:"):
        checks.migration(EVERY - {capability}, "x", "a", options)


def test_routes() -> None:
    with pytest.raises(DriverError, match=r"^hv0: a is already being migrated by job m1$"):
        checks.route("a", "hv0", "hv1", "m1")
    with pytest.raises(DriverError, match=r"^hv0: a is already on this host$"):
        checks.route("a", "hv0", "hv0", None)
    checks.route("a", "hv0", "hv1", None)


def test_a_host_to_reinstall_must_be_empty() -> None:
    with pytest.raises(SafetyError, match=r"^hv0: refusing to reinstall, it still holds 5 "
                                          r"VM\(s\): a, b, c and 2 more$"):
        checks.empty_host("hv0", ["e", "d", "c", "b", "a"])
    with pytest.raises(SafetyError, match="migration m1 to or from it is still running"):
        checks.empty_host("hv0", [], moving="m1")
    checks.empty_host("hv0", [])


@pytest.mark.parametrize(("kind", "phase", "message"), [
    (JobKind.COLD_MIGRATION, JobPhase.RUNNING,
     r"^cannot abort j: it is a cold_migration, not a live migration$"),
    (JobKind.LIVE_MIGRATION, JobPhase.COMPLETED, r"^cannot abort j: it already ended completed$"),
])
def test_operations_on_a_live_job(kind: JobKind, phase: JobPhase, message: str) -> None:
    with pytest.raises(DriverError, match=message):
        checks.live_job("j", kind, phase, "abort")
    checks.live_job("j", JobKind.LIVE_MIGRATION, JobPhase.POSTCOPY, "abort")


def test_other_checks() -> None:
    with pytest.raises(DriverError, match=r"^hv0: max downtime of j must be >= 0 ms \(got -5\)$"):
        checks.downtime("j", -5, host="hv0")
    with pytest.raises(DriverError, match=r"^hv0: cannot reinstall as 'X': no such profile "
                                          r"\(known: A, B\)$"):
        checks.profile("X", {"B", "A"}, host="hv0")
    with pytest.raises(DriverError, match=r"^unknown workaround 'defrag' for a \(the sim "
                                          r"driver knows remove_balloon\)$"):
        checks.workaround("defrag", ("remove_balloon",), "a", "sim")
    assert str(checks.unknown("VM", "x")) == "unknown VM 'x'"
    assert str(checks.unknown("host", "x", "not in the inventory")) == \
        "unknown host 'x' (not in the inventory)"
    with pytest.raises(DriverError, match="must not be empty"):
        checks.job_reused("", None, JobKind.REINSTALL, "h", "p")
