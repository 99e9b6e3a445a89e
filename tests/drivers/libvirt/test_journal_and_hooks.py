"""The driver's journal, reinstall command hooks and configuration: no daemon needed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from hvroll.domain import Cluster, CpuGeneration, Fleet, Host, HostProfile, Region
from hvroll.drivers.base import Capability, JobKind, JobPhase
from hvroll.drivers.libvirt import CommandHook, LibvirtCloud, cloud_for
from hvroll.drivers.libvirt.ledger import Ledger
from hvroll.drivers.settings import DriverSettings
from hvroll.errors import (
    CapabilityError,
    ConnectionLostError,
    DriverError,
    InputError,
    OperationFailedError,
)

pytest.importorskip("libvirt")

NOWHERE = "qemu+unix:///system?socket=/nonexistent/hvroll-test/libvirt-sock"


def fleet(uri: str | None = NOWHERE) -> Fleet:
    profile = HostProfile(name="P1", os_name="Debian", os_version="12", qemu_version="7.2.0",
                          libvirt_version="9.0.0", rank=1)
    return Fleet(regions=(Region(name="r"),), clusters=(Cluster(name="c", region="r"),),
                 generations=(CpuGeneration(name="g", model="Haswell"),),
                 profiles=(profile,),
                 hosts=tuple(Host(name=f"hv{i}", cluster="c", generation="g", profile="P1",
                                  vcpus=8, ram_mib=16384, libvirt_uri=uri) for i in (1, 2)))


# -- the journal --------------------------------------------------------------------------


def test_journal_replays_scheduling_and_jobs(tmp_path: Path) -> None:
    path = tmp_path / "c.db.libvirt.jsonl"
    first = Ledger(path, wall=lambda: 1000.0)
    first.scheduling("hv1", False)
    first.started("j1", "live_migration", vm="vm1", source="hv1", dest="hv2")
    first.ended("j1", "completed", None, {"elapsed_s": 1.5})
    first.started("j2", "reinstall", host="hv1", profile="P2")
    first.close()
    again = Ledger(path)
    assert again.state.scheduling == {"hv1": False}
    assert again.state.jobs["j1"].end == {"phase": "completed", "error": None,
                                          "figures": {"elapsed_s": 1.5}}
    assert again.state.jobs["j2"].end is None
    assert again.state.jobs["j2"].fields == {"host": "hv1", "profile": "P2"}
    again.close()


def test_a_line_cut_short_by_a_kill_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"op":"scheduling","host":"hv1","enabled":false}\n{"op":"start","jo')
    ledger = Ledger(path)
    assert ledger.state.scheduling == {"hv1": False}
    ledger.scheduling("hv2", False)
    ledger.close()
    again = Ledger(path)
    assert again.state.scheduling == {"hv1": False, "hv2": False}
    again.close()


def test_a_damaged_journal_names_its_line_and_is_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    text = '{"op":"scheduling","host":"hv1","enabled":false}\nnot json\n{}\n{"op":"sta'
    path.write_text(text)
    with pytest.raises(InputError, match=r"j\.jsonl:2: not a JSON object line \(expected the "
                                         r"libvirt driver's journal.*move the file away"):
        Ledger(path)
    assert path.read_text() == text  # the torn last line is not cut from a refused file


@pytest.mark.parametrize("line", ['{"op":"start","kind":"live_migration"}',
                                  '{"op":"start","job":"j","kind":"teleport"}',
                                  '{"op":"end","job":"j","phase":"vanished"}',
                                  '{"op":"fly"}'])
def test_a_record_the_driver_cannot_read_names_its_line(tmp_path: Path, line: str) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"format":"hvroll-libvirt-journal","version":1}\n' + line + "\n")
    with pytest.raises(InputError, match=r"j\.jsonl:2: not a record of the libvirt driver's "
                                         r"journal"):
        Ledger(path)


def test_a_journal_of_another_backend_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"format":"hvroll-sim-journal","version":1}\n')
    with pytest.raises(InputError, match=r"j\.jsonl:1: not the libvirt driver's journal "
                                         r"\(expected a header with format "
                                         r"'hvroll-libvirt-journal', got 'hvroll-sim-journal'\)"):
        LibvirtCloud(fleet(), journal=path)


def test_two_drivers_cannot_write_one_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with LibvirtCloud(fleet(), journal=path), \
            pytest.raises(InputError, match="in use by another process"):
        LibvirtCloud(fleet(), journal=path)
    LibvirtCloud(fleet(), journal=path).close()


@pytest.mark.parametrize("content", [
    b"hello",                                   # one line of garbage, no newline
    b"[1, 2]\n",                                # JSON, but not a record
    b'{"op": "start"}\n',                       # a record without its job
    b"\xff\xfe\x00binary",
])
def test_a_garbage_journal_is_refused_and_left_byte_identical(tmp_path: Path,
                                                              content: bytes) -> None:
    path = tmp_path / "libvirt.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError, match=r"libvirt\.jsonl:1: not a "):
        Ledger(path)
    assert path.read_bytes() == content


def test_a_restarted_driver_reports_ended_jobs_and_interrupted_reinstalls(
        tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    ledger = Ledger(path)
    ledger.started("m1", "live_migration", vm="vm1", source="hv1", dest="hv2",
                   options={"max_downtime_ms": 50, "bandwidth_mib_s": None,
                            "auto_converge": False, "post_copy": True, "block": False})
    ledger.ended("m1", "completed", None, {"elapsed_s": 0.9, "total_mib": 256.0,
                                           "processed_mib": 81.5, "iteration": 3,
                                           "downtime_ms": 60.0, "dirty_rate_mib_s": 15.0,
                                           "raw": {"type": 3}})
    ledger.started("r1", "reinstall", host="hv1", profile="P1")
    ledger.close()
    cloud = LibvirtCloud(fleet(), journal=path)
    done = cloud.job("m1")
    assert (done.phase, done.elapsed_s, done.iteration, done.downtime_ms) == (
        JobPhase.COMPLETED, 0.9, 3, 60.0)
    assert (done.processed_mib, done.dirty_rate_mib_s, done.extra["stats_from"]) == (
        81.5, 15.0, "journal")
    interrupted = cloud.job("r1")
    assert interrupted.kind is JobKind.REINSTALL and interrupted.phase is JobPhase.FAILED
    assert "interrupted" in (interrupted.error or "")
    assert {j.job for j in cloud.jobs()} == {"m1", "r1"}
    cloud.close()
    assert '"job":"r1","phase":"failed"' in path.read_text()


# -- reinstall commands -------------------------------------------------------------------


def test_command_placeholders_are_replaced_in_each_word() -> None:
    hook = CommandHook("ansible-playbook site.yml -l {host} -e 'profile={profile} x={\"a\": 1}'"
                       " --uri={uri}")
    host = fleet().hosts[0]
    assert hook.argv(host, "P2") == ["ansible-playbook", "site.yml", "-l", "hv1", "-e",
                                     'profile=P2 x={"a": 1}', f"--uri={NOWHERE}"]


def test_a_command_that_succeeds(tmp_path: Path) -> None:
    out = tmp_path / "ran"
    CommandHook(f"sh -c 'echo {{host}} {{profile}} > {out}'")(fleet().hosts[0], "P2")
    assert out.read_text() == "hv1 P2\n"


def test_a_failing_command_is_retried_then_quotes_its_output(tmp_path: Path) -> None:
    count = tmp_path / "count"
    hook = CommandHook(f"sh -c 'echo x >> {count}; echo playbook failed on {{host}}; exit 3'",
                       retries=2, retry_delay_s=0.0)
    with pytest.raises(OperationFailedError,
                       match=r"hv1: reinstall command .* failed after 3 tries: exit status 3: "
                             r"playbook failed on hv1"):
        hook(fleet().hosts[0], "P2")
    assert count.read_text().count("x") == 3


def test_a_command_that_hangs_is_killed_at_its_timeout() -> None:
    hook = CommandHook(f"{sys.executable} -c 'import time; time.sleep(30)'", timeout_s=0.3)
    with pytest.raises(OperationFailedError, match=r"still running after 0.3 s \(killed\)"):
        hook(fleet().hosts[0], "P2")


def test_a_missing_program_is_named() -> None:
    with pytest.raises(OperationFailedError, match="no-such-playbook-runner: command not found"):
        CommandHook("no-such-playbook-runner {host}")(fleet().hosts[0], "P2")


@pytest.mark.parametrize("command", ["", "   "])
def test_an_empty_command_is_refused(command: str) -> None:
    with pytest.raises(InputError, match="reinstall command is empty"):
        CommandHook(command)


# -- configuration and unreachable hosts ----------------------------------------------------


def test_every_host_needs_a_libvirt_uri() -> None:
    with pytest.raises(InputError, match=r"needs a libvirt_uri for every host .* hv1, hv2"):
        LibvirtCloud(fleet(uri=None))


def test_settings_configure_hook_bandwidth_paths_and_poll(tmp_path: Path) -> None:
    cloud = cloud_for(fleet(), journal=tmp_path / "j.jsonl", settings=DriverSettings(
        reinstall_cmd="ansible-playbook r.yml -l {host}", reinstall_retries=2,
        migration_bandwidth_mib_s=32, shared_paths=(Path("/srv/a"), Path("/srv/b")),
        libvirt_poll_s=0.2))
    assert Capability.REINSTALL in cloud.capabilities
    assert cloud.settings.bandwidth_mib_s == 32.0
    assert cloud.settings.shared_paths == (Path("/srv/a"), Path("/srv/b"))
    assert cloud.poll_s == 0.2
    hook = cloud.reinstall_hook
    assert isinstance(hook, CommandHook) and (hook.retries, hook.timeout_s) == (2, 3600.0)
    cloud.close()


def test_the_environment_is_read_when_no_settings_are_given(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HVROLL_REINSTALL_CMD", "reinstall {host}")
    monkeypatch.setenv("HVROLL_REINSTALL_TIMEOUT_S", "60")
    monkeypatch.setenv("HVROLL_SHARED_PATHS", "/srv/a:/srv/b")
    with cloud_for(fleet(), journal=None) as cloud:
        hook = cloud.reinstall_hook
        assert isinstance(hook, CommandHook) and hook.timeout_s == 60.0
        assert cloud.settings.shared_paths == (Path("/srv/a"), Path("/srv/b"))


def test_without_a_hook_reinstall_is_not_a_capability() -> None:
    cloud = cloud_for(fleet(), journal=None, settings=DriverSettings())
    assert Capability.REINSTALL not in cloud.capabilities
    with pytest.raises(CapabilityError, match=r"no reinstall hook is configured.*--reinstall-cmd"):
        cloud.reinstall("r1", "hv1", "P1")


def test_bad_numbers_in_the_environment_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HVROLL_MIGRATION_BANDWIDTH_MIB_S", "fast")
    with pytest.raises(InputError, match=r"^HVROLL_MIGRATION_BANDWIDTH_MIB_S: input should be "
                                         r"a valid number.*got 'fast'\)$"):
        cloud_for(fleet(), journal=None)


def test_a_daemon_that_does_not_answer_is_a_lost_connection_naming_the_host() -> None:
    cloud = LibvirtCloud(fleet())
    with pytest.raises(ConnectionLostError, match=r"^hv1: .*does not answer.*nonexistent"):
        cloud.host("hv1")
    assert [(h.name, h.up, h.vms) for h in cloud.hosts()] == [("hv1", False, ()),
                                                               ("hv2", False, ())]
    with pytest.raises(ConnectionLostError):
        cloud.vms()
    with pytest.raises(DriverError, match="unknown host 'hv9'"):
        cloud.host("hv9")
    with pytest.raises(DriverError, match="unknown job 'nope'"):
        cloud.job("nope")
    assert cloud.wait(0.0) == []
    cloud.close()


def test_journal_lines_are_json(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    cloud = LibvirtCloud(fleet(), journal=path)
    cloud.set_scheduling("hv1", False)
    cloud.set_scheduling("hv1", False)  # idempotent: one line
    cloud.close()
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"format": "hvroll-libvirt-journal", "version": 1},
        {"op": "scheduling", "host": "hv1", "enabled": False}]


def test_facts_recorded_after_close_stay_in_memory(tmp_path: Path) -> None:
    """A job thread may end after its driver closed: its outcome is not written (the next
    driver finds the job in libvirt), and nothing raises in the thread."""
    path = tmp_path / "j.jsonl"
    ledger = Ledger(path)
    ledger.started("m1", "live_migration", vm="vm1", source="hv1", dest="hv2")
    ledger.close()
    ledger.ended("m1", "completed", None)
    assert ledger.state.jobs["m1"].end is not None
    again = Ledger(path)
    assert again.state.jobs["m1"].end is None
    again.close()
