"""Safety invariants, as pure checks on what the cloud reports.

Checked before each irreversible step and after each migration; a broken invariant is
recorded as an ``invariant_violation`` event and counted in ``hvroll status``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from hvroll.domain import PowerState
from hvroll.domain.states import TERMINAL_HOST
from hvroll.drivers.base import WORKAROUND_CAPABILITY, Capability, HostState, VmState
from hvroll.planner.replace import Readiness

if TYPE_CHECKING:
    from hvroll.store import StepRecord


def host_is_empty(host: HostState, vms: Iterable[VmState] = ()) -> str:
    """Why ``host`` must not be reinstalled, or ``""``: it holds VMs per the driver."""
    held = set(host.vms) | {vm.name for vm in vms if host.name in vm.hosts}
    if held:
        names = ", ".join(sorted(held)[:5])
        return f"{host.name} still holds {len(held)} VM(s): {names}"
    return ""


def destination_problem(*, vm: str, dest: str, readiness: Readiness, source_rank: int,
                        dest_rank: int, required_rank: int, planned: bool,
                        may_wait: bool) -> str:
    """The roll-forward invariant: why ``vm`` must not be started towards ``dest``, or ``""``.

    Checked right before each migration is started (first attempt or another rung). A VM
    goes only to a host that has reached its target profile in this campaign
    (``upgraded``) or is not part of it (``unchanged``), of at least ``required_rank`` (its
    source's target under roll-forward) unless the plan itself sends it there
    (``planned``) — and never to a lower rank than its source's. A host whose upgrade has
    not started (``waiting``, still on its old profile) is allowed only where the plan's
    ordering requires it (``may_wait``: the VM's planned destination, as in the first wave of
    a cluster without spare, or any host under the baselines). A host being disabled,
    drained, reinstalled or verified (``busy``), one whose upgrade failed, or one skipped is
    never a destination.

    >>> destination_problem(vm="vm1", dest="h2", readiness=Readiness.FAILED, source_rank=1,
    ...                     dest_rank=1, required_rank=2, planned=True, may_wait=True)
    'vm1 not started towards h2: its own upgrade failed (it stays on its old profile)'
    """
    head = f"{vm} not started towards {dest}"
    if readiness is Readiness.FAILED:
        return f"{head}: its own upgrade failed (it stays on its old profile)"
    if readiness is Readiness.SKIPPED:
        return f"{head}: its upgrade was skipped (it stays on its old profile)"
    if readiness is Readiness.BUSY:
        return f"{head}: it is being drained, reinstalled or verified"
    if dest_rank < source_rank:
        return (f"{head}: its profile (rank {dest_rank}) is older than the source's "
                f"(rank {source_rank})")
    if readiness is Readiness.WAITING and not may_wait:
        return (f"{head}: it has not reached its target profile (its upgrade has not "
                f"started) and the plan's ordering does not send the VM there")
    if not planned and dest_rank < required_rank:
        return (f"{head}: its profile (rank {dest_rank}) is below the rank the VM must reach "
                f"(rank {required_rank})")
    return ""


def runs_once_on(vm: VmState, dest: str) -> str:
    """Why a migrated VM is not where it should be, or ``""``."""
    if not vm.hosts:
        return f"{vm.name} runs nowhere after its migration to {dest}"
    if len(vm.hosts) > 1:
        return f"{vm.name} runs on {len(vm.hosts)} hosts: {', '.join(vm.hosts)}"
    if vm.hosts[0] != dest:
        return f"{vm.name} is on {vm.hosts[0]}, expected {dest}"
    return ""


def audit(expected: Iterable[str], seen: Iterable[VmState]) -> dict[str, list[str]]:
    """Every expected VM present exactly once: ``{"lost": [...], "duplicated": [...],
    "crashed": [...]}``."""
    by_name = {vm.name: vm for vm in seen}
    lost, duplicated, crashed = [], [], []
    for name in expected:
        vm = by_name.get(name)
        if vm is None or not vm.hosts:
            lost.append(name)
        elif len(vm.hosts) > 1:
            duplicated.append(name)
        elif vm.power is PowerState.CRASHED:
            crashed.append(name)
    return {"lost": sorted(lost), "duplicated": sorted(duplicated), "crashed": sorted(crashed)}


WORKAROUND_ADVICE: Mapping[str, str] = {
    "remove_balloon": "power-cycle the VM (a reboot or stop/start from the cloud) so that its "
                      "count of live migrations starts again, or unplug its balloon by hand, "
                      "then run again",
    "copy_config_drive": "copy its disk.config to the destination by hand, or move it with a "
                         "driver that can",
}
"""What the operator can do instead of a workaround the driver cannot apply."""


def missing_workarounds(actions: Iterable[str], declared: Iterable[Capability]) -> str:
    """Why a hop whose rules want ``actions`` first must not start with a driver declaring
    ``declared``, or ``""``: a workaround the driver applies (``WORKAROUND_CAPABILITY``) that it
    does not declare. Starting without it is what the rule warns against (a Windows guest
    with a balloon live-migrated again fails at switch-over, a config drive stays behind), so
    the hop is not tried, and not retried on the next rung as if nothing were wanted.

    >>> missing_workarounds(["remove_balloon", "pin_cpu_model"], [Capability.LIVE_MIGRATION])
    'it needs remove_balloon first, which the driver cannot do: power-cycle the VM (a reboot \
or stop/start from the cloud) so that its count of live migrations starts again, or unplug \
its balloon by hand, then run again'
    >>> missing_workarounds(["remove_balloon"], [Capability.REMOVE_BALLOON])
    ''
    """
    have = set(declared)
    missing = [a for a in actions
               if a in WORKAROUND_CAPABILITY and WORKAROUND_CAPABILITY[a] not in have]
    if not missing:
        return ""
    advice = "; ".join(WORKAROUND_ADVICE.get(a, f"apply {a} by hand") for a in missing)
    return f"it needs {', '.join(missing)} first, which the driver cannot do: {advice}"


def needed_capabilities(steps: Sequence[StepRecord]) -> dict[Capability, str]:
    """Driver features the unfinished host steps of a campaign need, each with why: checked
    before the campaign changes anything. (Each migration's rungs are chosen among what the
    driver declares, so moves need nothing here.)"""
    to_reinstall = sorted({s.host for s in steps if s.reinstall
                           and s.state not in TERMINAL_HOST})
    if not to_reinstall:
        return {}
    shown = ", ".join(to_reinstall[:3]) + (" …" if len(to_reinstall) > 3 else "")
    return {Capability.REINSTALL: f"the campaign reinstalls {len(to_reinstall)} host(s) "
                                  f"({shown}) (give a reinstall command, e.g. hvroll run "
                                  f"--reinstall-cmd)"}
