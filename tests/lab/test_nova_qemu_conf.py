"""The libvirt mode's configuration and canary choices: pure functions, no running lab."""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

from hvroll.lab.nova import qemu
from hvroll.lab.nova.layout import Layout


def _conf(tmp_path: Path) -> configparser.ConfigParser:
    host = qemu.QemuHost(name="tq-h2", uri="qemu+unix:///system?socket=/tb/hosts/h2/run/sock",
                         ip="10.213.0.2", lib_dir=Path("/tb/hosts/h2/lib"))
    text = qemu.compute_conf(Layout(tmp_path), host, Path("/venv"), bandwidth_mib_s=64)
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


def test_a_compute_drives_its_hosts_libvirtd_and_migrates_over_the_testbed(
        tmp_path: Path) -> None:
    conf = _conf(tmp_path)
    assert conf["DEFAULT"]["host"] == "tq-h2"
    assert conf["DEFAULT"]["compute_driver"] == "libvirt.LibvirtDriver"
    assert conf["DEFAULT"]["instances_path"] == "/var/lib/libvirt/hvlab-instances"
    lv = conf["libvirt"]
    assert (lv["virt_type"], lv["connection_uri"]) == (
        "qemu", "qemu+unix:///system?socket=/tb/hosts/h2/run/sock")
    assert (lv["live_migration_scheme"], lv["live_migration_inbound_addr"]) == ("tcp",
                                                                                  "10.213.0.2")
    assert lv["live_migration_bandwidth"] == "64"
    assert lv["live_migration_permit_post_copy"] == "true"


def test_privileged_helpers_run_directly_as_root_with_the_computes_files(
        tmp_path: Path) -> None:
    conf = _conf(tmp_path)
    want = (f"/venv/bin/privsep-helper --config-file {tmp_path}/etc/nova.conf "
            f"--config-file {tmp_path}/etc/nova-tq-h2.conf")
    for section in qemu.PRIVSEP_SECTIONS:
        assert conf[section]["helper_command"] == want
    assert conf["workarounds"]["disable_rootwrap"] == "true"


def test_a_hosts_instances_are_under_its_own_libvirt_state() -> None:
    host = qemu.QemuHost(name="h", uri="u", ip="10.213.0.1", lib_dir=Path("/tb/hosts/h1/lib"))
    assert host.instances_dir == Path("/tb/hosts/h1/lib/hvlab-instances")


def test_the_last_of_four_or_more_servers_is_the_one_that_never_converges() -> None:
    assert [qemu.kind_for(i, 4).name for i in range(4)] == [
        "canary-idle", "canary-dirty", "canary-idle", "canary-hot"]
    assert [qemu.kind_for(i, 3).name for i in range(3)] == [
        "canary-idle", "canary-dirty", "canary-idle"]
    assert qemu.HOT.cmdline == "console=ttyS0 quiet pti=on dirty_mb=64 dirty_rate=0"


def test_canary_images_boot_the_kernel_and_ramdisk_with_the_dirtiers_settings() -> None:
    specs = {s["name"]: s for s in qemu.image_specs("K", "R")}
    assert set(specs) == {"canary-idle", "canary-dirty", "canary-hot"}
    assert {(s["kernel_id"], s["ramdisk_id"]) for s in specs.values()} == {("K", "R")}
    assert specs["canary-dirty"]["os_command_line"] == (
        "console=ttyS0 quiet pti=on dirty_mb=16 dirty_rate=16")


def test_an_unknown_virt_driver_or_testbed_prefix_is_one_line_and_starts_nothing(
        hv: Any, tmp_path: Path) -> None:
    result = hv("lab", "nova", "up", "--virt", "xen", "--workdir", str(tmp_path / "lab"))
    assert result.code == 2, result.output
    assert "unknown lab virt driver 'xen' (expected one of: fake, libvirt)" in result.stderr
    result = hv("lab", "nova", "up", "--virt", "libvirt", "--testbed-prefix", "Bad-Prefix",
                "--workdir", str(tmp_path / "lab"))
    assert result.code == 2, result.output
    assert "testbed prefix 'Bad-Prefix' is invalid" in result.stderr
    assert not (tmp_path / "lab").exists()


def test_up_help_teaches_the_libvirt_mode(hv: Any) -> None:
    result = hv("lab", "nova", "up", "--help", env={"COLUMNS": "200"})
    assert result.code == 0
    assert "--virt" in result.stdout and "--testbed-prefix" in result.stdout
    assert "32 MiB/s" in result.stdout


def test_host_facts_name_the_testbed_hosts_by_the_version_nova_reports() -> None:
    from hvroll.drivers.nova.facts import parse_facts

    facts = parse_facts(qemu.host_facts_yaml("7.2.22", "9.0.0", "2026.2"), "host-facts.yaml")
    profile = facts.profile_for("QEMU", 7_002_022)
    assert profile is not None
    assert (profile.name, profile.qemu_version, profile.libvirt_version) == (
        "TB", "7.2.22", "9.0.0")
    assert facts.profile_for("QEMU", 2_000_000) is None
    upgraded = facts.profile_for("QEMU", 7_002_022, ("COMPUTE_NET_VIF_MODEL_VIRTIO",
                                                     "CUSTOM_HVLAB_PROFILE_TB2"))
    assert upgraded is not None and (upgraded.name, upgraded.rank) == ("TB2", 2)
    assert upgraded.qemu_version == profile.qemu_version and profile.rank == 1


def test_the_reinstall_hook_tags_the_compute_node_through_novas_provider_config() -> None:
    import yaml

    doc = yaml.safe_load(qemu.provider_yaml("TB2") or "")
    assert doc == {"meta": {"schema_version": "1.0"},
                   "providers": [{"identification": {"uuid": "$COMPUTE_NODE"},
                                  "traits": {"additional": ["CUSTOM_HVLAB_PROFILE_TB2"]}}]}
    assert qemu.provider_yaml("TB") is None


def test_a_bench_can_ask_for_no_guest_that_never_converges() -> None:
    assert "canary-hot" not in {qemu.kind_for(i, 6, hot=False).name for i in range(6)}
