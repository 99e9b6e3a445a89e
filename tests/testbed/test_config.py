"""The files that turn a namespace into a testbed host."""

from __future__ import annotations

from pathlib import Path

from hvroll.testbed import config
from hvroll.testbed.layout import Layout

HOST = Layout(Path("/srv/tb"), "hvtb").host(2)


def _settings(text: str) -> dict[str, str]:
    parts = (line.partition(" = ") for line in text.splitlines() if " = " in line)
    return {key: value for key, _, value in parts}


def test_libvirtd_has_a_distinct_uuid_and_listens_on_its_own_address_without_auth() -> None:
    conf = _settings(config.libvirtd_conf(HOST))
    assert conf["host_uuid"] == f'"{HOST.host_uuid}"'
    assert (conf["listen_tcp"], conf["listen_tls"], conf["auth_tcp"], conf["listen_addr"]) == \
        ("1", "0", '"none"', '"10.213.0.2"')


def test_qemu_runs_without_cgroups_namespaces_or_security_and_migrates_on_the_host_ip() -> None:
    conf = _settings(config.qemu_conf(HOST))
    assert conf["cgroup_controllers"] == "[ ]"
    assert conf["namespaces"] == "[ ]"
    assert conf["security_driver"] == '"none"'
    assert conf["stdio_handler"] == '"file"'
    assert conf["migration_address"] == conf["migration_host"] == '"10.213.0.2"'


def test_every_possible_host_name_resolves_locally() -> None:
    hosts = config.etc_hosts("hvtb")
    assert "10.213.0.1\thvtb-h1\n" in hosts
    assert "10.213.0.64\thvtb-h64\n" in hosts
    assert config.resolv_conf().startswith("nameserver 127.0.0.1\n")


def test_start_script_isolates_before_it_starts_the_daemon() -> None:
    script = config.init_script(HOST, Path("/usr/bin/tini"), Path("/usr/sbin/libvirtd"))
    lines = script.splitlines()
    assert lines[1:3] == ["# Written by hvroll testbed: starts libvirtd as testbed host hvtb-h2.",
                          "set -eu"]
    assert lines[-1] == ("exec /usr/bin/tini -s -- /usr/sbin/libvirtd --listen "
                         "--config /srv/tb/hosts/h2/etc/libvirtd.conf")
    steps = (
        "mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run",
        "mount --bind /srv/tb/hosts/h2/run /run/libvirt",
        "mount --bind /srv/tb/hosts/h2/hosts /etc/hosts",
        '[ "$name" = kvm ] && continue',
        'mount --move "$dev" /dev',
        "echo hvtb-h2 > /proc/sys/kernel/hostname",
        "exec ",
    )
    order = [next(i for i, line in enumerate(lines) if line.strip().startswith(step))
             for step in steps]
    assert order == sorted(order)
