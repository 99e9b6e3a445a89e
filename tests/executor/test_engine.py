"""The executor on the simulated cloud: whole campaigns, the canary hold, operator controls,
faults, and a crash at a random point followed by a resume."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from campaigns import Campaign, targets_of
from hvroll.domain import Fleet, SchedulingState
from hvroll.domain.states import (
    ACTIVE_HOST,
    TERMINAL_CAMPAIGN,
    CampaignState,
    HostStepState,
    MigrationState,
)
from hvroll.drivers.base import HostState, JobProgress
from hvroll.drivers.sim import Faults, SimCloud, SimulatedCrash
from hvroll.errors import ConnectionLostError
from hvroll.executor import engine
from hvroll.executor.context import Agenda, Held, still_held
from hvroll.executor.engine import Executor
from hvroll.executor.migrations import UNREAD_POLLS
from hvroll.executor.status import status
from hvroll.inventory import load_fleet
from hvroll.planner.build import Targets, plan, with_profiles
from hvroll.planner.model import Policy
from hvroll.store import MigrationRecord, StepRecord, Store
from hvroll.store.lease import Lease
from hvroll.store.read import table_digests

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def assert_every_vm_once(fleet: Fleet, cloud: SimCloud) -> None:
    placement = cloud.placement()
    assert sorted(placement) == sorted(vm.name for vm in fleet.vms)
    assert all(cloud.vm(name).hosts == (host,) for name, host in placement.items())


def test_a_whole_campaign_upgrades_every_host_and_loses_no_vm(small: Fleet,
                                                               campaign: Campaign) -> None:
    store, cloud, plan = campaign(small)
    result = Executor(store, cloud).run()
    assert result.state is CampaignState.COMPLETED
    s = status(store)
    assert (s["vms_lost"], s["invariant_violations"], s["hosts_failed"]) == (0, 0, 0)
    assert s["hosts_upgraded"] == s["hosts_total"] == plan.summary.hosts
    assert s["migrations_completed"] == plan.summary.migrations
    assert_every_vm_once(small, cloud)
    for step in plan.host_steps():
        assert cloud.host_profile(step.host) == step.target


class DurableSim(SimCloud):
    durable = True


@pytest.mark.parametrize(("driver", "level"), [(SimCloud, 0), (DurableSim, 1)])
def test_the_state_file_waits_for_the_disk_only_when_the_cloud_outlives_a_crash(
        small: Fleet, campaign: Campaign, driver: type[SimCloud], level: int) -> None:
    """The simulator's world is its journal, written without a sync: its campaign's state
    file need not wait for the disk either (SQLite synchronous OFF, 0); a real cloud's does
    (NORMAL, 1)."""
    store, _, _ = campaign(small)
    Executor(store, driver(store.fleet(), seed=1))
    assert store.session.connection().exec_driver_sql("PRAGMA synchronous").scalar() == level


def test_every_migration_is_recorded_with_its_stats(small: Fleet, campaign: Campaign) -> None:
    store, cloud, _ = campaign(small)
    Executor(store, cloud).run()
    live = [m for m in store.migrations() if m.kind == "live"]
    assert live
    for m in live:
        assert m.state == "completed"
        assert m.elapsed_s is not None and m.elapsed_s > 0
        assert m.sent_mib is not None and m.sent_mib >= small.vm_by_name[m.vm].ram_mib
        assert m.iterations is not None and m.downtime_ms is not None
    attempts = store.attempts()
    assert {a.migration_id for a in attempts} >= {m.id for m in live}


def test_noisy_vms_climb_the_ladder_and_the_record_says_which_rung(
        small: Fleet, campaign: Campaign) -> None:
    store, cloud, _ = campaign(small)
    Executor(store, cloud).run()
    rungs = Counter(m.rung for m in store.migrations() if m.state == "completed")
    assert rungs["suspend"] > 0  # CPv1's qemu has no auto-converge nor post-copy
    climbed = list(store.events("ladder_climbed"))
    assert climbed and all(e.vm for e in climbed)


def test_the_campaign_holds_after_the_canary_wave_until_resumed(small: Fleet,
                                                                campaign: Campaign) -> None:
    store, cloud, _plan = campaign(small, policy=Policy(allow_suspend=True))
    assert Executor(store, cloud).run().state is CampaignState.HOLDING
    started = {s.wave for s in store.steps() if s.state != "pending"}
    assert started == {0}
    assert [e.kind for e in store.events("canary_done")] == ["canary_done"]
    store.request("resume")
    assert Executor(store, cloud).run().state is CampaignState.COMPLETED


def test_pause_takes_effect_and_resume_finishes(small: Fleet, campaign: Campaign) -> None:
    store, cloud, _ = campaign(small)

    def pause_soon(ex: Executor) -> None:
        if ex.clock.now() > 3600 and not store.pending_controls() \
                and ex.campaign.state == "running":
            store.request("pause")

    paused = Executor(store, cloud, on_turn=pause_soon).run()
    assert paused.state is CampaignState.PAUSED
    assert status(store)["migrations_running"] == 0
    store.request("resume")
    assert Executor(store, cloud).run().state is CampaignState.COMPLETED
    assert_every_vm_once(small, cloud)


def test_abort_stops_safely(small: Fleet, campaign: Campaign) -> None:
    store, cloud, _ = campaign(small)

    def abort_soon(ex: Executor) -> None:
        if ex.clock.now() > 5000 and not store.pending_controls():
            store.request("abort")

    assert Executor(store, cloud, on_turn=abort_soon).run().state is CampaignState.ABORTED
    s = status(store)
    assert 0 < s["hosts_upgraded"] < s["hosts_total"]
    assert s["migrations_running"] == 0
    assert_every_vm_once(small, cloud)
    assert Executor(store, cloud).run().state is CampaignState.ABORTED  # final


def abort_after(t_s: float, store: Store) -> Callable[[Executor], None]:
    def on_turn(ex: Executor) -> None:
        if ex.clock.now() > t_s and not store.pending_controls():
            store.request("abort")
    return on_turn


def out_of_service(cloud: SimCloud) -> list[str]:
    return [h.name for h in cloud.hosts() if h.scheduling is not SchedulingState.ENABLED]


def test_an_abort_leaves_no_host_out_of_service_and_says_which_it_gave_back(
        small: Fleet, campaign: Campaign) -> None:
    """Reinstalled hosts are verified and enabled; hosts taken out and not reinstalled
    (drained, being drained, drained for the canary wave) are enabled again on their old
    profile, their steps skipped with why; nothing is left half-way."""
    store, cloud, _ = campaign(small)
    assert Executor(store, cloud, on_turn=abort_after(5000, store)).run().state \
        is CampaignState.ABORTED
    assert out_of_service(cloud) == []
    steps = store.steps()
    assert not [s.host for s in steps if s.state in ACTIVE_HOST]
    given_back = [s for s in steps if s.state is HostStepState.SKIPPED]
    assert given_back
    for s in given_back:
        assert s.error.startswith("the campaign was aborted while the host was "), s.error
        assert s.error.endswith("; scheduling enabled again, not reinstalled")
        assert cloud.host_profile(s.host) == small.host_by_name[s.host].profile
    upgraded = {s.host for s in steps if s.state is HostStepState.DONE and s.reinstall}
    assert all(cloud.host_profile(h) == small.host_by_name[h].profile for h in upgraded) \
        is False  # reinstalled hosts report their target: not given back
    by_campaign = {h["host"] for h in status(store)["skipped_hosts"] if h["by"] == "campaign"}
    assert by_campaign == {s.host for s in given_back}
    assert_every_vm_once(small, cloud)


def test_an_abort_at_the_canary_hold_gives_back_the_canary_hosts_it_drained(
        small: Fleet, campaign: Campaign) -> None:
    store, cloud, _ = campaign(small, policy=Policy(allow_suspend=True))
    assert Executor(store, cloud).run().state is CampaignState.HOLDING
    drained = {s.host for s in store.steps() if s.state is HostStepState.DONE
               and not s.reinstall}
    assert drained and set(out_of_service(cloud)) == drained  # the canaries, empty, wait
    store.request("abort")
    assert Executor(store, cloud).run().state is CampaignState.ABORTED
    assert out_of_service(cloud) == []
    later = [s for s in store.steps() if s.host in drained and s.reinstall]
    assert {s.state for s in later} == {HostStepState.SKIPPED}
    assert all("drained, waiting for its reinstall" in s.error for s in later)


def test_a_host_the_inventory_had_disabled_stays_disabled_after_an_abort(
        small: Fleet, campaign: Campaign) -> None:
    hold = Policy(allow_suspend=True)
    canary = next(s.host for s in campaign(small, policy=hold, name="first")[2].host_steps()
                  if s.canary and not s.reinstall)
    data = small.model_dump()
    for h in data["hosts"]:
        if h["name"] == canary:
            h["scheduling"] = SchedulingState.DISABLED
    disabled = Fleet.model_validate(data)
    store, cloud, plan = campaign(disabled, policy=hold)
    assert any(s.host == canary and s.canary for s in plan.host_steps())
    assert Executor(store, cloud).run().state is CampaignState.HOLDING
    store.request("abort")
    assert Executor(store, cloud).run().state is CampaignState.ABORTED
    assert out_of_service(cloud) == [canary]
    later = next(s for s in store.steps() if s.host == canary and s.reinstall)
    assert later.state is HostStepState.SKIPPED
    assert "scheduling left disabled, as the inventory had it" in later.error


class DropsEnables(SimCloud):
    """A simulated cloud whose API drops the next ``left`` requests enabling a host."""

    left = 0

    def set_scheduling(self, host: str, enabled: bool) -> None:
        if enabled and self.left > 0:
            self.left -= 1
            raise ConnectionLostError("enabling: the endpoint does not answer")
        super().set_scheduling(host, enabled)


@pytest.mark.parametrize("fails", [3, 10_000])
def test_an_abort_asks_again_an_enable_the_cloud_did_not_answer(
        small: Fleet, campaign: Campaign, fails: int) -> None:
    store, _, _ = campaign(small, policy=Policy(allow_suspend=True))
    cloud = DropsEnables(store.fleet(), seed=1)
    assert Executor(store, cloud).run().state is CampaignState.HOLDING
    cloud.left = fails
    store.request("abort")
    assert Executor(store, cloud).run().state is CampaignState.ABORTED
    canaries = [s for s in store.steps() if s.reinstall and s.state is not HostStepState.PENDING
                and s.wave > 0]
    assert canaries
    dropped = [e for e in store.events("driver_error") if "does not answer" in e.message]
    if fails == 3:
        assert len(dropped) == 3
        assert out_of_service(cloud) == []
        assert {s.state for s in canaries} == {HostStepState.SKIPPED}
    else:  # asked UNREAD_POLLS times, then left disabled and reported as failed
        assert {s.state for s in canaries} == {HostStepState.FAILED}
        assert all(s.error.startswith("could not enable scheduling after the abort: ")
                   for s in canaries)
        assert sorted(out_of_service(cloud)) == sorted(s.host for s in canaries)


class CrashesWhileAborting(SimCloud):
    """The simulated cloud: once ``armed``, the API drops the next request enabling a host,
    and the orchestrator dies at its next wait (after the abort committed what it had done
    so far, and before it asked that host again)."""

    armed = False
    dropped = False

    def set_scheduling(self, host: str, enabled: bool) -> None:
        if enabled and self.armed and not self.dropped:
            self.dropped = True
            raise ConnectionLostError("enabling: the endpoint does not answer")
        super().set_scheduling(host, enabled)

    def wait(self, timeout_s: float) -> list[str]:
        if self.dropped:
            raise SimulatedCrash("killed while aborting")
        return super().wait(timeout_s)


def test_a_run_killed_while_aborting_leaves_the_abort_for_the_next_run(
        small: Fleet, campaign: Campaign, tmp_path: Path) -> None:
    """The abort is read at the turn after it is asked (the lease renewed every turn), and
    nothing enables a host in between: the crash comes in the abort's give-back, after a
    commit of it; the request must still be there for the next run."""
    store, _, _ = campaign(small)
    cloud = CrashesWhileAborting(store.fleet(), seed=1, journal=tmp_path / "c.db.sim.jsonl")
    wall = [1000.0]

    def abort_and_arm(ex: Executor, dying: CrashesWhileAborting = cloud) -> None:
        wall[0] += 20.0
        if ex.clock.now() > 5000 and not dying.armed:
            store.request("abort")
            dying.armed = True

    lease = Lease(store, wall=lambda: wall[0], renew_every_s=10.0)
    with pytest.raises(SimulatedCrash):
        Executor(store, cloud, on_turn=abort_and_arm, lease=lease).run()
    store.close()
    cloud.close()
    store = Store(tmp_path / "c.db")
    assert [c.action for c in store.pending_controls()] == ["abort"]
    cloud2 = SimCloud(store.fleet(), seed=1, journal=tmp_path / "c.db.sim.jsonl")
    assert Executor(store, cloud2).run().state is CampaignState.ABORTED
    assert store.pending_controls() == []
    assert out_of_service(cloud2) == []
    assert_every_vm_once(small, cloud2)


def test_abort_is_read_at_the_next_lease_renewal_not_50_turns_later(
        small: Fleet, campaign: Campaign) -> None:
    """On a real cloud a turn lasts seconds: the controls are read whenever the lease is
    renewed (wall time), besides every CONTROL_EVERY turns."""
    store, cloud, _ = campaign(small)
    wall = [1000.0]
    lease = Lease(store, wall=lambda: wall[0], renew_every_s=10.0)
    asked: list[int] = []

    def abort_at_turn_3(ex: Executor) -> None:
        asked.append(len(asked) + 1)
        if len(asked) == 3:
            store.request("abort")
        wall[0] += 4.0  # each turn takes 4 s of wall time

    result = Executor(store, cloud, on_turn=abort_at_turn_3, lease=lease).run()
    assert result.state is CampaignState.ABORTED
    assert result.turns <= 3 + 3  # renewed within 10 s: at most three turns of 4 s


def test_the_clock_status_reads_is_written_while_the_run_goes_on_and_at_its_end(
        small: Fleet, campaign: Campaign) -> None:
    """Not every turn (on SQLite each write of the campaign row rewrites its plan and
    inventory: at most once per second of wall time), but while the run goes on: 'status'
    in another process reads it."""
    store, cloud, _ = campaign(small)
    wall = [1000.0]
    lease = Lease(store, wall=lambda: wall[0])
    seen: list[float] = []

    def read(ex: Executor) -> None:
        other = Store(store.target, readonly=True)
        seen.append(other.require_campaign().clock_s)
        other.close()
        wall[0] += 0.5  # two turns per second of wall time

    Executor(store, cloud, on_turn=read, lease=lease).run(max_turns=60)
    assert seen == sorted(seen) and seen[-1] > 0.0  # written (and committed) while it runs
    assert len(set(seen)) <= len(seen) // 2 + 1  # at most every other turn of 0.5 s
    assert store.require_campaign().clock_s == cloud.clock.now()  # and at the end


@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_faults_are_survived_or_reported_never_hidden(small: Fleet, campaign: Campaign,
                                                      rate: float) -> None:
    policy = Policy(allow_suspend=True, hold_after_canary=False, failed_host_tolerance=100)
    store, cloud, _ = campaign(small, policy=policy, faults=Faults(
        migration_failure_rate=rate, reinstall_failure_rate=rate))
    assert Executor(store, cloud).run().state is CampaignState.COMPLETED
    s = status(store)
    assert (s["vms_lost"], s["invariant_violations"]) == (0, 0)
    assert s["hosts_upgraded"] + s["hosts_failed"] + s["hosts_skipped"] == s["hosts_total"]
    failed = [st for st in store.steps() if st.state == "failed"]
    assert all(st.error for st in failed)
    retries = store.count_events("migration_retry") + store.count_events("reinstall_retry")
    assert retries > 0
    assert_every_vm_once(small, cloud)


def test_too_many_failed_hosts_fail_the_campaign(small: Fleet, campaign: Campaign) -> None:
    policy = Policy(allow_suspend=True, hold_after_canary=False, failed_host_tolerance=0)
    store, cloud, _ = campaign(small, policy=policy,
                               faults=Faults(reinstall_failure_rate=0.5))
    assert Executor(store, cloud).run().state is CampaignState.FAILED
    s = status(store)
    assert s["hosts_failed"] >= 1 and s["hosts_skipped"] >= 1
    assert_every_vm_once(small, cloud)


@pytest.fixture(scope="module")
def events_of_a_whole_campaign(small: Fleet, tmp_path_factory: pytest.TempPathFactory) -> int:
    """How many simulator events an uninterrupted campaign on ``small`` takes."""
    result = plan(small, targets_of(small),
                  Policy(allow_suspend=True, hold_after_canary=False))
    store = Store(tmp_path_factory.mktemp("whole") / "c.db", create=True)
    store.create_campaign(result, with_profiles(small, result.targets), "sim", 0.0)
    cloud = SimCloud(store.fleet(), seed=1)
    Executor(store, cloud).run()
    return cloud.events_processed


@pytest.mark.parametrize("at", [0.01, 0.3, 0.6, 0.95])
def test_a_crash_at_any_point_then_resume_reaches_the_same_consistent_end(
        small: Fleet, campaign: Campaign, tmp_path: Path, at: float,
        events_of_a_whole_campaign: int) -> None:
    crash_after = max(1, int(events_of_a_whole_campaign * at))
    store, cloud, plan = campaign(small, faults=Faults(crash_after_events=crash_after))
    with pytest.raises(SimulatedCrash):
        Executor(store, cloud).run()
    store.close()
    del cloud
    store = Store(tmp_path / "c.db")
    cloud = SimCloud(store.fleet(), seed=1, journal=tmp_path / "c.db.sim.jsonl")
    assert Executor(store, cloud).run().state is CampaignState.COMPLETED
    s = status(store)
    assert (s["vms_lost"], s["invariant_violations"], s["hosts_failed"]) == (0, 0, 0)
    assert s["hosts_upgraded"] == plan.summary.hosts
    assert_every_vm_once(small, cloud)


class PolledAtOnce(SimCloud):
    """The simulated cloud, counting the polls it answers at once."""

    polls = 0

    def wait_until(self, until_s: float) -> list[str]:
        self.polls += 1
        return super().wait_until(until_s)


class PolledWaitByWait(SimCloud):
    """The simulated cloud with ``wait`` changed (here: not at all), so that the executor's
    polls go through it wait by wait, as a real backend's do."""

    waits = 0

    def wait(self, timeout_s: float) -> list[str]:
        self.waits += 1
        return super().wait(timeout_s)


def test_a_run_polled_at_once_writes_what_a_run_polled_wait_by_wait_does(
        small: Fleet, tmp_path: Path) -> None:
    """Each turn asks the simulated cloud once for everything that changed during its poll
    (not once per event), and the campaign is the same: every table, the turns, the virtual
    time at the end, and the simulator's journal, byte for byte (failures, a host crash)."""
    result = plan(small, targets_of(small), Policy(allow_suspend=True, hold_after_canary=False))
    faults = Faults(migration_failure_rate=0.1, reinstall_failure_rate=0.2,
                    host_crashes=((small.hosts[5].name, 3000.0),))
    ends = []
    clouds: list[SimCloud] = []
    for name, kind in (("once", PolledAtOnce), ("loop", PolledWaitByWait)):
        store = Store(tmp_path / f"{name}.db", create=True)
        store.create_campaign(result, with_profiles(small, result.targets), "sim", 0.0)
        journal = tmp_path / f"{name}.db.sim.jsonl"
        with kind(store.fleet(), seed=1, faults=faults, journal=journal) as cloud:
            turns = Executor(store, cloud).run().turns
            ends.append((turns, cloud.clock.now(), table_digests(store.target)))
        ends.append(journal.read_bytes())
        clouds.append(cloud)
        store.close()
    assert ends[0] == ends[2]
    assert ends[1] == ends[3]
    once, loop = clouds
    assert isinstance(once, PolledAtOnce) and isinstance(loop, PolledWaitByWait)
    assert once.polls == ends[0][0] - 1  # each turn but the last, which ends the campaign
    assert loop.waits > once.polls


class FlakyReads(SimCloud):
    """The simulated cloud whose progress reads of migration 1's jobs fail ``fails`` times
    each with a retryable error (an API that dropped a connection); the jobs go on."""

    fails = 3

    def job(self, job: str) -> JobProgress:
        left: dict[str, int] = self.__dict__.setdefault("_left", {})
        left.setdefault(job, self.fails if job.startswith("c1-m1-") else 0)
        if left[job] > 0:
            left[job] -= 1
            raise ConnectionLostError("reading the job: the endpoint does not answer")
        return super().job(job)


@pytest.mark.parametrize(("fails", "phase"), [(3, "completed"), (10_000, "failed")])
def test_a_progress_read_failing_retryably_is_asked_again_before_the_attempt_fails(
        small: Fleet, campaign: Campaign, fails: int, phase: str) -> None:
    store, _, _ = campaign(small)
    flaky = FlakyReads(store.fleet(), seed=1)
    flaky.fails = fails
    Executor(store, flaky).run()
    first = next(a for a in store.attempts() if a.job == "c1-m1-a1")
    assert first.phase == phase, first.error
    errors = [e for e in store.events("driver_error") if "does not answer" in e.message]
    if fails == 3:
        assert len(errors) == 3
    else:  # asked UNREAD_POLLS times, then the attempt failed with the backend's error
        assert "does not answer" in first.error
        assert len(errors) >= UNREAD_POLLS - 1


class DropsTheEndsRead(SimCloud):
    """The simulated cloud whose API drops the first read of the end of each job whose id
    starts with ``prefix``: the cloud reports a job once when it ends, so that read is the
    only one the executor is prompted to make."""

    prefix = ""

    def job(self, job: str) -> JobProgress:
        progress = super().job(job)
        dropped: set[str] = self.__dict__.setdefault("_dropped", set())
        if progress.final and job.startswith(self.prefix) and job not in dropped:
            dropped.add(job)
            raise ConnectionLostError("reading the job: the endpoint does not answer")
        return progress


@pytest.mark.parametrize("prefix", ["c1-m1-", "c1-h1-r"])
def test_a_job_whose_end_went_unread_is_read_again_at_the_next_turn(
        small: Fleet, campaign: Campaign, prefix: str) -> None:
    """A migration's or a reinstall's end read with the connection dropped is asked again at
    the next turn, though the cloud does not report the job again (before, it was never read
    again: the migration stayed running, or the host reinstalling, and the run never
    ended)."""
    store, _, plan = campaign(small)
    cloud = DropsTheEndsRead(store.fleet(), seed=1)
    cloud.prefix = prefix
    assert Executor(store, cloud).run(max_turns=20_000).state is CampaignState.COMPLETED
    assert cloud.__dict__["_dropped"]
    dropped = [e for e in store.events("driver_error") if "does not answer" in e.message]
    assert len(dropped) == len(cloud.__dict__["_dropped"])
    s = status(store)
    assert (s["hosts_upgraded"], s["hosts_failed"], s["vms_lost"]) == (plan.summary.hosts, 0, 0)


def test_status_names_each_vm_that_could_not_move_with_its_reason(
        small: Fleet, campaign: Campaign) -> None:
    store, cloud, _ = campaign(small, faults=Faults(migration_failure_rate=0.3))
    Executor(store, cloud).run()
    failed = [m for m in store.migrations() if m.state == "failed"]
    assert failed
    s = status(store)
    assert s["failed_migrations"] == [
        {"vm": m.vm, "source": m.source, "dest": m.dest, "rung": m.rung.value, "error": m.error}
        for m in failed][:50]
    assert all(f["error"] for f in s["failed_migrations"])


def three_full_hosts(tmp_path: Path) -> Fleet:
    """One cluster of three CPv1 hosts with two VMs each and no spare, as Nova's lab has:
    the first host's VMs go to hosts whose own upgrade has not started yet."""
    head, _, _ = (EXAMPLES / "tiny.yaml").read_text().partition("hosts:\n")
    hosts = "".join(f"  - {{name: hv{i}, cluster: c1, generation: Broadwell, profile: CPv1, "
                    f"vcpus: 32, ram_mib: 65536, disk_gib: 400}}\n" for i in (1, 2, 3))
    vms = "".join(f"  - {{name: vm-{i}, uuid: 00000000-0000-4000-8000-00000000000{i}, "
                  f"host: hv{i % 3 + 1}, vcpus: 1, ram_mib: 1024, disks: [{{kind: shared, "
                  f"size_gib: 10}}], guest: {{family: linux, distro: ubuntu, "
                  f"version: \"22.04\"}}}}\n" for i in range(1, 7))
    path = tmp_path / "three.yaml"
    path.write_text(f"{head}hosts:\n{hosts}vms:\n{vms}")
    return load_fleet(path)


class BlinkingSim(SimCloud):
    """The simulator, except that ``dest`` is reported down at the first two looks after
    ``source`` was taken out of scheduling (whether the migration towards it has room, then
    where else its VM could go): a compute that missed its heartbeats just when the first
    migration towards it was about to start."""

    def __init__(self, fleet: Fleet, *, source: str, dest: str) -> None:
        super().__init__(fleet, seed=1)
        self.source, self.dest = source, dest
        self.down_looks = 0
        self.blinked = 0

    def set_scheduling(self, host: str, enabled: bool) -> None:
        super().set_scheduling(host, enabled)
        if host == self.source and not enabled and not self.blinked:
            self.down_looks = 2
            self.blinked += 1

    def host(self, name: str) -> HostState:
        found = super().host(name)
        if name == self.dest and self.down_looks:
            self.down_looks -= 1
            return found._replace(up=False)
        return found


def test_a_destination_down_for_a_moment_is_asked_again_while_nothing_runs(
        tmp_path: Path) -> None:
    """The first migration of a drain finds its planned destination down and no other host
    ready: it waits. Nothing is in flight in its region, so no migration's end will give its
    cluster another look; it gets one at the next turn, finds the destination up again and
    starts (before, it waited until the run declared it stuck and failed every host)."""
    fleet = three_full_hosts(tmp_path)
    result = plan(fleet, Targets(default=fleet.profile_by_name["CPv2"]),
                  Policy(allow_suspend=True, hold_after_canary=False))
    first = result.waves[0].steps[0]
    store = Store(tmp_path / "c.db", create=True)
    store.create_campaign(result, with_profiles(fleet, result.targets), "sim", 0.0)
    cloud = BlinkingSim(store.fleet(), source=first.host, dest=first.drain[0].dest)
    assert Executor(store, cloud).run().state is CampaignState.COMPLETED
    assert cloud.blinked == 1
    [unplaced] = store.events("migration_unplaced")
    assert (unplaced.host, unplaced.vm) == (first.host, first.drain[0].vm)
    assert unplaced.message.endswith(f"; down: {first.drain[0].dest}"), unplaced.message
    s = status(store)
    assert (s["hosts_upgraded"], s["hosts_failed"], s["vms_lost"]) == (3, 0, 0)
    assert s["migrations_completed"] == s["migrations"] == result.summary.migrations
    assert store.events("campaign_stuck") == []
    cloud.close()
    store.close()


class UnansweringSim(SimCloud):
    """The simulator, except that the cloud's API drops the connection to the first ``fails``
    questions of one kind about ``target``: ``disable`` (taking it out of scheduling, the
    pre-checks), ``safety`` (its state once drained: the safety check), ``verify`` (its
    profile after the reinstall), ``enable`` (scheduling back on)."""

    def __init__(self, fleet: Fleet, *, target: str, what: str, fails: int) -> None:
        super().__init__(fleet, seed=1)
        self.target, self.what, self.left = target, what, fails

    def _drop(self, what: str, host: str) -> None:
        if (what, host) == (self.what, self.target) and self.left > 0:
            self.left -= 1
            raise ConnectionLostError(f"{what}: the cloud's endpoint does not answer (test)",
                                      host=host)

    def set_scheduling(self, host: str, enabled: bool) -> None:
        self._drop("enable" if enabled else "disable", host)
        super().set_scheduling(host, enabled)

    def host(self, name: str) -> HostState:
        found = super().host(name)
        if not found.vms:
            self._drop("safety", name)
        return found

    def host_profile(self, host: str) -> str:
        self._drop("verify", host)
        return super().host_profile(host)


@pytest.mark.parametrize(("what", "failed_as"), [
    ("disable", "pre-checks failed: "), ("safety", "safety check: "),
    ("verify", "verification failed: "), ("enable", "could not enable scheduling: ")])
@pytest.mark.parametrize("fails", [3, 10_000])
def test_a_host_check_the_api_drops_is_asked_again_before_the_host_fails(
        tmp_path: Path, what: str, failed_as: str, fails: int) -> None:
    """A dropped connection to the cloud's API (retryable) during a host's pre-checks, safety
    check, verification or re-enabling is asked again at the next turn, the step staying
    where it is, up to UNREAD_POLLS times in a row; only then does the host fail (before,
    the first one failed it: seen on Nova's lab, whose API reset a connection under load)."""
    fleet = three_full_hosts(tmp_path)
    result = plan(fleet, Targets(default=fleet.profile_by_name["CPv2"]),
                  Policy(allow_suspend=True, hold_after_canary=False))
    target = result.waves[0].steps[0].host
    store = Store(tmp_path / "c.db", create=True)
    store.create_campaign(result, with_profiles(fleet, result.targets), "sim", 0.0)
    cloud = UnansweringSim(store.fleet(), target=target, what=what, fails=fails)
    final = Executor(store, cloud).run().state
    dropped = [e for e in store.events("driver_error")
               if e.host == target and "does not answer (test)" in e.message]
    [step] = [s for s in store.steps() if s.host == target]
    s = status(store)
    if fails == 3:
        assert len(dropped) == 3
        assert final is CampaignState.COMPLETED
        assert (step.state, s["hosts_upgraded"], s["hosts_failed"]) == ("done", 3, 0)
    else:
        assert len(dropped) == UNREAD_POLLS - 1
        assert final is CampaignState.FAILED  # no host of the cluster is left to go to
        assert step.state == "failed" and step.error.startswith(failed_as), step.error
        assert "does not answer (test)" in step.error
    assert s["vms_lost"] == 0
    cloud.close()
    store.close()


def _region_full_and_draining(executor: Executor, step: StepRecord) -> MigrationRecord:
    """Put one migration of another cluster of ``step``'s region in flight (the region's limit
    of 1 is met), end ``step``'s wave's other hosts and start draining ``step``; return that
    migration."""
    other = next(m for m in executor.migrations
                 if m.region == step.region and m.cluster != step.cluster)
    executor.runner._count(other, +1)
    for same in executor.layout.by_cluster_wave[(step.cluster, 0)]:
        same.state = HostStepState.DONE
    step.state = HostStepState.DRAINING
    return other


def _held_twice(executor: Executor, step: StepRecord, stop: MigrationRecord,
                pending: tuple[MigrationRecord, ...]) -> None:
    """Look at ``step``'s cluster twice with nothing changed: the first look is held at
    ``stop``, the second skipped; neither starts anything, and ``pending`` stay pending."""
    agenda = executor.agenda
    for _ in range(2):
        agenda.dirty = {step.cluster}
        effects: list[Callable[[], None]] = []
        executor._schedule(effects)
        assert (effects, [r.state for r in pending]) == (
            [], [MigrationState.PENDING] * len(pending))
        assert agenda.held[step.cluster] == Held(False, 0, (), (stop,))
        assert agenda.blocked[step.region] == {step.cluster}


def test_a_cluster_held_by_its_regions_limit_starts_once_the_region_has_room(
        small: Fleet, campaign: Campaign) -> None:
    """A drain stopped because its region has as many migrations in flight as the policy
    allows (not for want of room on a destination) is held: looked at again with nothing
    changed, it starts nothing and stays held. Once a migration of another cluster of the
    region ends, the cluster's next look starts the migration it stopped at, and the record
    is gone (that start is not a look that did nothing)."""
    store, cloud, _ = campaign(small, policy=Policy(
        allow_suspend=True, hold_after_canary=False, migrations_per_region=1))
    executor = Executor(store, cloud)
    runner, agenda, layout = executor.runner, executor.agenda, executor.layout
    step = next(s for s in executor.steps if s.wave == 0 and layout.drain.get(s.id))
    row = layout.drain[step.id][0]
    other = _region_full_and_draining(executor, step)
    assert (runner.by_cluster[step.cluster], runner.by_region[step.region]) == (0, 1)
    _held_twice(executor, step, row, (row,))
    assert agenda.dirty == set()
    runner._count(other, -1)  # its end: the region has room
    assert agenda.dirty == {step.cluster}
    effects: list[Callable[[], None]] = []
    executor._schedule(effects)
    assert (len(effects), row.state) == (1, MigrationState.STARTING)
    assert step.cluster not in agenda.held


def test_a_cluster_held_by_its_regions_limit_passes_its_stop_once_the_region_has_room(
        small: Fleet, campaign: Campaign) -> None:
    """A drain stopped by its region's limit at a migration whose destination is busy too:
    once the region has room, the cluster's next look passes that migration (still held by
    its destination) and starts the one behind it, to a free destination — as a look made
    in full does. The hold records where the drain stopped (``stops``), asked whether it is
    still held beyond its destination, not whether it has room: it has none while its
    destination is busy, and the cluster would wait for another change to be looked at."""
    store, cloud, _ = campaign(small, policy=Policy(
        allow_suspend=True, hold_after_canary=False, migrations_per_region=1))
    executor = Executor(store, cloud)
    runner, agenda, layout = executor.runner, executor.agenda, executor.layout
    step, first, behind = next(
        (s, rows[0], rows[1]) for s in executor.steps if s.wave == 0
        for rows in [layout.drain.get(s.id, [])] if len(rows) > 1 and rows[0].dest != rows[1].dest)
    other = _region_full_and_draining(executor, step)
    runner.by_dest[first.dest] = executor.ctx.policy.migrations_per_dest  # and busy
    _held_twice(executor, step, first, (first, behind))
    runner._count(other, -1)  # its end: the region has room, the first's destination none
    assert agenda.dirty == {step.cluster}
    effects: list[Callable[[], None]] = []
    executor._schedule(effects)
    assert (len(effects), first.state, behind.state) == (
        1, MigrationState.PENDING, MigrationState.STARTING)
    assert step.cluster not in agenda.held
    assert agenda.blocked[step.region] == {step.cluster}  # the first waits for room


def _faulty_run_digests(small: Fleet, campaign: Campaign, policy: dict[str, int],
                        name: str) -> dict[str, str]:
    """Run the small preset's campaign under ``policy`` with faults (failed migrations,
    retried and failed reinstalls) to its end; its tables' digests."""
    faults = Faults(migration_failure_rate=0.05, reinstall_failure_rate=0.1)
    full = Policy(allow_suspend=True, hold_after_canary=False, **policy)
    store, cloud, _ = campaign(small, policy=full, faults=faults, name=name)
    assert Executor(store, cloud).run().state in TERMINAL_CAMPAIGN
    digests = table_digests(store.target)
    store.close()
    cloud.close()
    return digests


@pytest.mark.parametrize("policy", [
    {"migrations_per_region": 1},
    {"migrations_per_region": 3, "migrations_per_cluster": 2},
    {"migrations_per_source": 1, "migrations_per_dest": 1, "drain_ahead": 2},
    {"failed_host_tolerance": 0},
    {"migrations_per_region": 3, "migrations_per_dest": 1},
    {"migrations_per_region": 4, "migrations_per_dest": 1, "drain_ahead": 2},
    {"migrations_per_region": 2, "migrations_per_dest": 1, "migrations_per_source": 1},
])
def test_skipping_held_clusters_changes_no_campaign(
        small: Fleet, campaign: Campaign, monkeypatch: pytest.MonkeyPatch,
        policy: dict[str, int]) -> None:
    """The small preset's campaign under limits that hold clusters (and, with no failed
    host tolerated, faults that fail hosts) writes the same tables, byte for byte, whether
    held clusters' looks are skipped or every dirty cluster is looked at as before."""
    skipped = Counter[bool]()

    def counted(*args: Any) -> bool:
        found = still_held(*args)
        skipped[found] += 1
        return found

    digests = []
    for skip in (True, False):
        monkeypatch.setattr(engine, "still_held", counted if skip else lambda *args: False)
        digests.append(_faulty_run_digests(small, campaign, policy, f"skip{skip}"))
    assert digests[0] == digests[1]
    assert skipped[True] > 0


@pytest.mark.parametrize("policy", [
    {"migrations_per_source": 1, "migrations_per_dest": 1, "drain_ahead": 2},
    {"failed_host_tolerance": 0},
])
def test_keeping_the_wave_at_a_drains_end_changes_no_campaign(
        small: Fleet, campaign: Campaign, monkeypatch: pytest.MonkeyPatch,
        policy: dict[str, int]) -> None:
    """The small preset's campaign (with faults: failed migrations, retried and failed
    reinstalls, hosts failed) writes the same tables, byte for byte, whether the end of a
    drain's migration keeps its cluster's current wave or drops it as any other change."""
    digests = []
    for keep in (True, False):
        if not keep:
            monkeypatch.setattr(Agenda, "drain_ended", Agenda.touched)
        digests.append(_faulty_run_digests(small, campaign, policy, f"keep{keep}"))
    assert digests[0] == digests[1]
