"""Text of every file a testbed host needs: daemon configs, name resolution and its start script.

Pure functions of the host's layout, so each setting can be read and tested in one place.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from hvroll.testbed.layout import BIND_DIRS, MAX_HOSTS, SUBNET_PREFIX, HostLayout


def libvirtd_conf(host: HostLayout) -> str:
    """``libvirtd.conf``: distinct host UUID, no auth on the private sockets, plain TCP inside the
    host's namespace only (the namespace has no route out), warnings to a file."""
    return "\n".join((
        "# Written by hvroll testbed; rewritten at every start.",
        f'host_uuid = "{host.host_uuid}"',
        'unix_sock_group = "root"',
        'unix_sock_rw_perms = "0770"',
        'auth_unix_rw = "none"',
        'auth_unix_ro = "none"',
        "listen_tls = 0",
        "listen_tcp = 1",
        f'listen_addr = "{host.ip}"',
        'auth_tcp = "none"',
        'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"',
        "",
    ))


def qemu_conf(host: HostLayout) -> str:
    """``qemu.conf``: QEMU as root without security drivers, cgroups or mount namespaces (none
    exist inside a testbed host), console output straight to files, migration over the host's
    own address."""
    return "\n".join((
        "# Written by hvroll testbed; rewritten at every start.",
        'user = "root"',
        'group = "root"',
        "dynamic_ownership = 0",
        "remember_owner = 0",
        'security_driver = "none"',
        "cgroup_controllers = [ ]",
        "namespaces = [ ]",
        'stdio_handler = "file"',
        f'migration_address = "{host.ip}"',
        f'migration_host = "{host.ip}"',
        "",
    ))


def etc_hosts(prefix: str) -> str:
    """``/etc/hosts`` naming every possible testbed host, so that no lookup of a host name ever
    reaches a DNS server (libvirt resolves the hostname at each domain start and migration)."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{SUBNET_PREFIX}.{n}\t{prefix}-h{n}" for n in range(1, MAX_HOSTS + 1)]
    return "\n".join(lines) + "\n"


def resolv_conf() -> str:
    """``/etc/resolv.conf`` pointing at the namespace's own loopback: any other lookup fails at
    once instead of waiting for an unreachable name server."""
    return "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"


def config_file(host: HostLayout) -> Path:
    """The host's ``libvirtd.conf`` (also bind-mounted as ``/etc/libvirt/libvirtd.conf``): the
    daemon is started with it named, so that its command line tells which host it is."""
    return host.bind_dir("etc") / "libvirtd.conf"


def init_script(host: HostLayout, tini: Path, libvirtd: Path) -> str:
    """The script that turns a fresh mount + UTS namespace into the host and execs its daemon.

    Run as ``nsenter --net=<netns> unshare --mount --uts --propagation private sh -eu <script>``.
    Every step that fails stops the script, so the daemon never starts half-isolated (for example
    writing into the machine's real ``/run/libvirt``).
    """
    q = shlex.quote
    state = q(str(host.state_dir))
    binds = "\n".join(
        f"mkdir -p {q(target)}\nmount --bind {state}/{name} {q(target)}"
        for name, target in BIND_DIRS
    )
    return f"""\
#!/bin/sh
# Written by hvroll testbed: starts libvirtd as testbed host {host.hostname}.
set -eu
# written whole, then renamed: a reader never sees it half written
echo $$ > {q(str(host.pid_file))}.tmp
mv -f {q(str(host.pid_file))}.tmp {q(str(host.pid_file))}
# Drop this namespace's references to other network namespaces, then private /sys and /run.
umount -l /run/netns 2>/dev/null || true
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -p /run/lock
{binds}
mount --bind {state}/hosts /etc/hosts
resolv=$(readlink -m /etc/resolv.conf)
mkdir -p "$(dirname "$resolv")"
[ -e "$resolv" ] || : > "$resolv"
mount --bind {state}/resolv.conf "$resolv"
# A private /dev without kvm: its mere presence makes libvirt re-probe QEMU at every start.
dev=/run/.testbed-dev
mkdir -p "$dev"
mount -t tmpfs -o mode=0755,nosuid tmpfs "$dev"
for entry in /dev/* /dev/.[!.]*; do
    [ -e "$entry" ] || [ -L "$entry" ] || continue
    name=${{entry#/dev/}}
    [ "$name" = kvm ] && continue
    if mountpoint -q "$entry"; then
        mkdir -p "$dev/$name"
        mount --rbind "$entry" "$dev/$name"
    else
        cp -a "$entry" "$dev/"
    fi
done
mount --move "$dev" /dev
echo {q(host.hostname)} > /proc/sys/kernel/hostname
cd /
exec {q(str(tini))} -s -- {q(str(libvirtd))} --listen --config {q(str(config_file(host)))}
"""
