"""The driver contract: capabilities are data, consulted through one ``require``."""

from __future__ import annotations

from typing import Any

import pytest

from hvroll.domain import PowerState, SchedulingState
from hvroll.drivers.base import (
    FEATURES,
    Capability,
    Driver,
    HostState,
    JobKind,
    JobPhase,
    JobProgress,
    Lifecycle,
    Reinstalls,
    VmState,
    declaration_problems,
    has,
    require,
    require_workaround,
)
from hvroll.drivers.sim import SimCloud
from hvroll.errors import CapabilityError, InputError

from .sim.conftest import fleet


class Minimal(Lifecycle):
    """The least a backend implements: the core protocol, no feature."""

    name = "minimal"
    durable = True
    clock: Any = None

    def __init__(self, capabilities: frozenset[Capability] = frozenset()) -> None:
        self.capabilities = capabilities
        self.closed = 0

    def host(self, name: str) -> Any: ...
    def vm(self, name: str) -> Any: ...
    def vms(self) -> Any: ...
    def host_profile(self, host: str) -> Any: ...
    def set_scheduling(self, host: str, enabled: bool) -> None: ...
    def job(self, job: str) -> Any: ...
    def jobs(self) -> Any: ...
    def wait(self, timeout_s: float) -> Any: ...

    def close(self) -> None:
        self.closed += 1


def test_a_backend_with_the_core_methods_only_is_a_driver_with_no_feature() -> None:
    minimal = Minimal()
    assert isinstance(minimal, Driver)
    assert not isinstance(minimal, Reinstalls)
    assert declaration_problems(minimal) == []


def test_require_names_the_capability_a_backend_does_not_declare() -> None:
    with pytest.raises(CapabilityError, match=r"^the minimal driver cannot do reinstall: it "
                                              r"does not declare the 'reinstall' capability$"):
        require(Minimal(), Capability.REINSTALL)


def test_a_missing_capability_is_an_input_error_and_a_driver_error() -> None:
    with pytest.raises(InputError):
        require(Minimal(), Capability.PROBE)


def test_a_capability_declared_without_its_methods_is_refused_and_reported() -> None:
    liar = Minimal(frozenset({Capability.REINSTALL, Capability.POST_COPY}))
    with pytest.raises(CapabilityError, match="declares it but does not implement Reinstalls"):
        require(liar, Capability.REINSTALL)
    assert declaration_problems(liar) == [
        "declares post_copy but does not implement SwitchesToPostCopy",
        "declares post_copy without live_migration",
        "declares reinstall but does not implement Reinstalls",
    ]


def test_every_capability_has_a_feature_protocol() -> None:
    assert set(FEATURES) == set(Capability)


def test_the_simulator_declares_and_implements_every_feature() -> None:
    with SimCloud(fleet()) as cloud:
        assert cloud.capabilities == frozenset(Capability) - {Capability.POST_COPY_BLOCK}
        assert declaration_problems(cloud) == []
        assert all(has(cloud, c) for c in cloud.capabilities)
        assert require(cloud, Capability.REINSTALL) is cloud


def test_workarounds_need_their_own_capability() -> None:
    with SimCloud(fleet(), capabilities=frozenset(Capability) - {Capability.REMOVE_BALLOON}
                  ) as cloud:
        assert require_workaround(cloud, "copy_config_drive") is cloud
        with pytest.raises(CapabilityError, match="cannot do remove_balloon"):
            require_workaround(cloud, "remove_balloon")
        with pytest.raises(CapabilityError, match="no capability names this workaround"):
            require_workaround(cloud, "defrag")


def test_with_closes_the_driver_once_even_on_error() -> None:
    minimal = Minimal()
    with pytest.raises(RuntimeError), minimal as entered:
        assert entered is minimal
        raise RuntimeError
    assert minimal.closed == 1


def test_the_records_cannot_change_and_a_changed_copy_is_a_new_record() -> None:
    host = HostState("h1", "p1", SchedulingState.ENABLED, True, ("vm-1",))
    with pytest.raises(AttributeError):
        host.up = False  # type: ignore[misc]
    assert host._replace(up=False) == HostState(name="h1", profile="p1",
                                                scheduling=SchedulingState.ENABLED, up=False,
                                                vms=("vm-1",))
    assert host.up
    vm = VmState("vm-1", ("h1",), PowerState.RUNNING)
    assert (vm.name, vm.hosts, vm.power) == ("vm-1", ("h1",), PowerState.RUNNING)
    job = JobProgress(job="j1", kind=JobKind.REINSTALL, phase=JobPhase.RUNNING)
    assert (job.extra, job.final, job.downtime_ms) == ({}, False, None)
    with pytest.raises(TypeError):
        job.extra["step"] = "reinstall"  # type: ignore[index]
    assert job._replace(phase=JobPhase.COMPLETED).final
