"""Testbed hosts: bring N libvirtd "hosts" up on this machine, report on them, take them down.

Each host is a network namespace on a shared bridge plus a private mount and UTS namespace in
which libvirtd runs with its own configuration, state, hostname, ``/etc/hosts``, ``/run`` and
``/dev``. The daemon runs under Debian's ``tini`` as a child subreaper (``tini -s``) so that
exited QEMU processes are collected at once. See ``docs/testbed.md`` for why each piece is there.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hvroll.errors import DriverError, InputError, SafetyError
from hvroll.testbed import config
from hvroll.testbed.image import GuestImage, build_image
from hvroll.testbed.layout import (
    BIND_DIRS,
    DEFAULT_PREFIX,
    DEFAULT_WORKDIR,
    MAX_HOSTS,
    SUBNET_BITS,
    HostLayout,
    Layout,
    check_host_count,
    check_prefix,
)
from hvroll.testbed.profile import (
    DEFAULT_PROFILE,
    ProfileMarker,
    check_profile,
    read_marker,
    write_marker,
)
from hvroll.testbed.state import (
    State,
    absolute,
    load_layout,
    load_state,
    locked,
    save_state,
)
from hvroll.testbed.system import (
    LIBVIRTD,
    QEMU,
    TINI,
    Proc,
    ip,
    netns_inode,
    netns_list,
    netns_path,
    pids_in_netns,
    pids_mentioning,
    pids_with_netns_inode,
    read_proc,
    require_root,
    require_tools,
    run,
    terminate,
)
from hvroll.virt.binding import libvirt_module, try_open, version_string

SOCKET_PATH_MAX = 107
"""Longest AF_UNIX socket path Linux accepts (108 bytes with the terminating NUL)."""
START_TIMEOUT_S = 60.0
PID_FILE_TIMEOUT_S = 10.0
STOP_GRACE_S = 10.0
_DAEMON_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "HOME": "/root"}


@dataclass(frozen=True, slots=True)
class TestbedHost:
    """A running testbed host."""

    name: str
    """Hostname, network namespace and inventory name (``hvtb-h1``)."""
    short_name: str
    ip: str
    uri: str
    """Client URI from this machine (a UNIX socket under the work directory)."""
    tcp_uri: str
    """URI from inside another testbed host (libvirtd listens on TCP in its namespace only)."""
    netns: str
    host_uuid: str
    pid: int
    """The subreaper (``tini -s``) wrapping libvirtd."""
    profile: ProfileMarker


@dataclass(frozen=True, slots=True)
class Testbed:
    """A testbed that ``up`` brought up: its hosts and the guest image."""

    workdir: Path
    prefix: str
    hosts: tuple[TestbedHost, ...]
    image: GuestImage

    def host(self, name: str) -> TestbedHost:
        """A host by short name (``h1``) or hostname (``hvtb-h1``)."""
        for host in self.hosts:
            if name in (host.name, host.short_name):
                return host
        raise InputError(f"no testbed host {name!r} (have {', '.join(h.name for h in self.hosts)})")


@dataclass(frozen=True, slots=True)
class HostStatus:
    """One host as ``status`` found it."""

    name: str
    short_name: str
    ip: str
    uri: str
    netns_present: bool
    pid: int | None
    answering: bool
    reported_hostname: str | None
    running_domains: tuple[str, ...]
    defined_domains: tuple[str, ...]
    """Persistent domains that are not running."""
    profile: ProfileMarker | None


@dataclass(frozen=True, slots=True)
class TestbedStatus:
    """Every host of a work directory."""

    workdir: Path
    prefix: str
    hosts: tuple[HostStatus, ...]

    @property
    def healthy(self) -> bool:
        return bool(self.hosts) and all(h.answering for h in self.hosts)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``status --json``."""
        return {
            "workdir": str(self.workdir),
            "prefix": self.prefix,
            "healthy": self.healthy,
            "hosts": [
                {"name": h.name, "short_name": h.short_name, "ip": h.ip, "uri": h.uri,
                 "netns_present": h.netns_present, "pid": h.pid, "answering": h.answering,
                 "reported_hostname": h.reported_hostname,
                 "running_domains": list(h.running_domains),
                 "defined_domains": list(h.defined_domains),
                 "profile": None if h.profile is None else h.profile.profile,
                 "qemu_version": None if h.profile is None else h.profile.qemu_version,
                 "libvirt_version": None if h.profile is None else h.profile.libvirt_version}
                for h in self.hosts
            ],
        }


@dataclass(frozen=True, slots=True)
class DownReport:
    """What ``down`` removed."""

    workdir: Path
    destroyed_domains: tuple[str, ...]
    stopped_pids: tuple[int, ...]
    removed_netns: tuple[str, ...]


# --- up ----------------------------------------------------------------------------------


def up(n_hosts: int, workdir: Path | str = DEFAULT_WORKDIR,
       profile_name: str = DEFAULT_PROFILE, *, prefix: str | None = None) -> Testbed:
    """Bring hosts 1..``n_hosts`` up (idempotent: running hosts are kept as they are).

    New hosts get the profile ``profile_name``; a host keeps the profile its marker already
    names. Hosts above ``n_hosts`` from an earlier ``up`` are left alone.
    """
    check_host_count(n_hosts)
    check_profile(profile_name)
    require_root()
    require_tools()
    path = absolute(workdir)
    with locked(path):
        return _up(n_hosts, path, profile_name, prefix)


def _up(n_hosts: int, path: Path, profile_name: str, prefix: str | None) -> Testbed:
    old = load_state(path)
    if old is not None and old.hosts and prefix is not None and prefix != old.prefix:
        raise InputError(
            f"{path} holds a testbed with prefix {old.prefix!r}: run 'hvroll testbed down "
            f"--workdir {path}' first, or use prefix {old.prefix!r}"
        )
    chosen = check_prefix(prefix or (old.prefix if old is not None else DEFAULT_PREFIX))
    layout = Layout(path, chosen)
    _check_socket_length(layout)
    previous = old if old is not None and old.prefix == chosen else State(chosen)
    wanted = tuple(range(1, n_hosts + 1))
    state = previous.with_hosts(previous.hosts + wanted)
    _refuse_foreign_netns(layout, state, owned=set(previous.owned_netns()))
    image = build_image(layout)  # before any namespace: a failure here leaves nothing behind
    save_state(path, state)  # the record comes before the namespaces it names

    _ensure_switch(layout)
    starting = []
    for index in wanted:
        host = layout.host(index)
        _ensure_host_netns(layout, host)
        if not _daemon_answers(host):
            _start_daemon(host)
            starting.append(host)
    for host in starting:
        _wait_ready(host)
    hosts = tuple(_record_host(layout.host(i), profile_name) for i in wanted)
    return Testbed(workdir=path, prefix=chosen, hosts=hosts, image=image)


def _check_socket_length(layout: Layout) -> None:
    socket = str(layout.host(MAX_HOSTS).socket_path)
    if len(socket.encode()) > SOCKET_PATH_MAX:
        raise InputError(
            f"work directory {layout.workdir} is too long for libvirt's UNIX socket paths "
            f"({len(socket)} > {SOCKET_PATH_MAX} characters): choose a shorter --workdir"
        )


def _refuse_foreign_netns(layout: Layout, state: State, owned: set[str]) -> None:
    present = set(netns_list())
    for name in state.owned_netns():
        if name in present and name not in owned:
            users = sorted({arg for pid in pids_in_netns(name)
                            if (p := read_proc(pid)) is not None for arg in p.cmdline[:1]})
            used_by = f" (used by {', '.join(users)})" if users else ""
            raise InputError(
                f"network namespace {name} already exists{used_by} and does not belong to the "
                f"testbed in {layout.workdir}: run 'hvroll testbed down' on the work directory "
                f"that made it, or 'ip netns del {name}', or choose another --prefix"
            )


def _ensure_switch(layout: Layout) -> None:
    sw = layout.switch_netns
    if sw not in netns_list():
        ip("netns", "add", sw, what=f"creating namespace {sw}")
    ip("link", "set", "lo", "up", netns=sw, what=f"configuring {sw}")
    if run(["ip", "-n", sw, "link", "show", "br0"], what="", check=False).returncode != 0:
        ip("link", "add", "br0", "type", "bridge", netns=sw, what=f"creating bridge in {sw}")
    ip("link", "set", "br0", "up", netns=sw, what=f"configuring bridge in {sw}")


def _ensure_host_netns(layout: Layout, host: HostLayout) -> None:
    ns, sw = host.netns, layout.switch_netns
    if ns not in netns_list():
        ip("netns", "add", ns, what=f"creating namespace {ns}")
    address = f"{host.ip}/{SUBNET_BITS}"
    shown = run(["ip", "-n", ns, "-o", "addr", "show", "dev", "eth0"], what="", check=False)
    if f" {address} " not in shown.stdout:
        run(["ip", "-n", sw, "link", "del", host.short_name], what="", check=False)
        run(["ip", "-n", ns, "link", "del", "eth0"], what="", check=False)
        what = f"wiring {ns} to the testbed bridge"
        ip("link", "add", host.short_name, "type", "veth", "peer", "name", "eth0", "netns", ns,
           netns=sw, what=what)
        ip("link", "set", host.short_name, "master", "br0", "up", netns=sw, what=what)
        ip("addr", "add", address, "dev", "eth0", netns=ns, what=what)
    ip("link", "set", "eth0", "up", netns=ns, what=f"configuring {ns}")
    ip("link", "set", "lo", "up", netns=ns, what=f"configuring {ns}")


def _daemon_pid(host: HostLayout) -> int | None:
    """The subreaper's pid if it is alive and is ours."""
    try:
        pid = int(host.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    proc = read_proc(pid)
    if proc is None or proc.gone or not proc.cmdline:
        return None
    return pid if _is_ours(host, proc.cmdline) else None  # else a recycled pid


def _is_ours(host: HostLayout, cmdline: tuple[str, ...]) -> bool:
    """Whether ``cmdline`` is the host's subreaper, or its start script before its exec."""
    daemon = bool(cmdline) and cmdline[0] == str(TINI) and str(config.config_file(host)) in cmdline
    return daemon or str(host.init_script) in cmdline


def exited_during_start(pid_text: str | None, proc: Proc | None, ours: bool) -> bool:
    """Whether a host's start has ended without its daemon: the start script's pid file
    (``pid_text``; None while there is none) names a process that is gone, a zombie, or
    (``ours`` False, with a command line) another program, the pid reused.

    A pid file not yet written whole, or a process with no command line for an instant
    (between two programs: the start script ``exec``-ing its subreaper), is still starting.

    >>> alive = Proc(pid=7, state="S", cmdline=("/bin/sh", "-eu", "init.sh"))
    >>> [exited_during_start(t, p, o) for t, p, o in [
    ...     (None, None, False), ("", None, False), ("7\\n", alive, True),
    ...     ("7\\n", Proc(7, "R", ()), False), ("7\\n", None, False),
    ...     ("7\\n", Proc(7, "Z", ()), False), ("7\\n", Proc(7, "S", ("/bin/bash",)), False)]]
    [False, False, False, False, True, True, True]
    """
    if pid_text is None or not pid_text.endswith("\n"):
        return False
    if proc is None or proc.gone:
        return True
    return bool(proc.cmdline) and not ours


def _daemon_answers(host: HostLayout) -> bool:
    if _daemon_pid(host) is None:
        return False
    conn = try_open(host.uri)
    if conn is None:
        return False
    conn.close()
    return True


def _write_host_files(host: HostLayout) -> None:
    for name, _ in BIND_DIRS:
        host.bind_dir(name).mkdir(parents=True, exist_ok=True)
    etc = host.bind_dir("etc")
    (etc / "qemu").mkdir(exist_ok=True)
    (etc / "libvirtd.conf").write_text(config.libvirtd_conf(host))
    (etc / "qemu.conf").write_text(config.qemu_conf(host))
    (host.state_dir / "hosts").write_text(config.etc_hosts(host.prefix))
    (host.state_dir / "resolv.conf").write_text(config.resolv_conf())
    host.init_script.write_text(config.init_script(host, TINI, LIBVIRTD))


def _start_daemon(host: HostLayout) -> None:
    """Start the host's libvirtd in the background; ``_wait_ready`` waits for it."""
    leftovers = pids_in_netns(host.netns)
    stale = _daemon_pid(host)
    if stale is not None:  # alive but not answering: replace it
        terminate([stale], grace_s=STOP_GRACE_S)
        leftovers = pids_in_netns(host.netns)
    _write_host_files(host)
    if not leftovers:  # nothing of a previous run is alive: its runtime state is stale
        _clear_dir(host.bind_dir("run"))
    host.pid_file.unlink(missing_ok=True)
    argv = ["setsid", "-f", "nsenter", f"--net={netns_path(host.netns)}",
            "unshare", "--mount", "--uts", "--propagation", "private",
            "/bin/sh", "-eu", str(host.init_script)]
    with host.daemon_log.open("ab") as log:
        log.write(f"--- starting {host.hostname} at {time.strftime('%F %T')}\n".encode())
        log.flush()
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log,
                              stderr=subprocess.STDOUT, env=_DAEMON_ENV, check=False)
    if proc.returncode != 0:
        raise DriverError(f"cannot start libvirtd: see {host.daemon_log}", host=host.hostname)


def _clear_dir(path: Path) -> None:
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


def _start_exited(host: HostLayout) -> bool:
    """:func:`exited_during_start`, read from the host's pid file and ``/proc``."""
    try:
        text: str | None = host.pid_file.read_text()
    except FileNotFoundError:
        text = None
    proc = read_proc(int(text)) if text is not None and text.strip().isdigit() else None
    return exited_during_start(text, proc, proc is not None and _is_ours(host, proc.cmdline))


def _wait_ready(host: HostLayout) -> None:
    started = time.monotonic()
    deadline = started + START_TIMEOUT_S
    while time.monotonic() < deadline:
        conn = try_open(host.uri)
        if conn is not None:
            conn.close()
            return
        if not host.pid_file.is_file() and time.monotonic() - started > PID_FILE_TIMEOUT_S:
            raise DriverError(
                f"the host's namespaces could not be entered: {_tail(host.daemon_log)}",
                host=host.hostname,
            )
        if _start_exited(host):
            raise DriverError(
                f"libvirtd exited during start: {_tail(host.daemon_log)}; "
                f"see {host.daemon_log} and {host.bind_dir('log')}/libvirtd.log",
                host=host.hostname,
            )
        time.sleep(0.05)
    raise DriverError(
        f"libvirtd did not answer within {START_TIMEOUT_S:.0f} s: {_tail(host.daemon_log)}",
        host=host.hostname,
    )


def _record_host(host: HostLayout, default_profile: str) -> TestbedHost:
    """Read the daemon's versions into the host's profile marker and describe the host."""
    conn = try_open(host.uri)
    if conn is None:
        raise DriverError(f"libvirtd stopped answering at {host.uri}", host=host.hostname)
    try:
        qemu, lib = version_string(conn.getVersion()), version_string(conn.getLibVersion())
    finally:
        conn.close()
    old = read_marker(host)
    marker = ProfileMarker(profile=old.profile if old else default_profile,
                           qemu_version=qemu, libvirt_version=lib)
    if marker != old:
        write_marker(host, marker)
    pid = _daemon_pid(host)
    if pid is None:
        raise DriverError("libvirtd's subreaper is gone", host=host.hostname)
    return TestbedHost(name=host.hostname, short_name=host.short_name, ip=host.ip, uri=host.uri,
                       tcp_uri=host.tcp_uri, netns=host.netns, host_uuid=host.host_uuid,
                       pid=pid, profile=marker)


# --- restart -----------------------------------------------------------------------------


def restart_host(workdir: Path | str, host: str) -> TestbedHost:
    """Restart one host's libvirtd (after a reinstall hook changed its profile marker).

    Refuses with ``SafetyError`` while the host runs any domain: drain it first.
    """
    require_root()
    layout, _ = load_layout(workdir)
    with locked(layout.workdir):
        return _restart(layout, host)


def _restart(layout: Layout, host: str) -> TestbedHost:
    _, state = load_layout(layout.workdir)
    hl = layout.resolve_host(host)
    if hl.index not in state.hosts:
        raise InputError(f"testbed in {layout.workdir} has no host {hl.hostname}")
    running = _running_domains(hl)
    if running:
        raise SafetyError(
            f"{hl.hostname} still runs {len(running)} domain(s) ({', '.join(running)}): "
            "migrate them away before restarting its libvirtd"
        )
    marker = read_marker(hl)
    pid = _daemon_pid(hl)
    if pid is not None:
        left = terminate([pid], grace_s=STOP_GRACE_S)
        if left:
            raise DriverError(f"libvirtd (pid {pid}) does not stop", host=hl.hostname)
    _ensure_host_netns(layout, hl)
    _start_daemon(hl)
    _wait_ready(hl)
    return _record_host(hl, marker.profile if marker else DEFAULT_PROFILE)


def _running_domains(host: HostLayout) -> tuple[str, ...]:
    """Names of running domains, asked of libvirt; without a daemon, QEMU processes count."""
    conn = try_open(host.uri) if _daemon_pid(host) is not None else None
    if conn is None:
        qemus = [pid for pid in pids_in_netns(host.netns)
                 if (p := read_proc(pid)) is not None and p.cmdline[:1] == (str(QEMU),)]
        return tuple(f"pid {pid}" for pid in qemus)
    try:
        active = libvirt_module().VIR_CONNECT_LIST_DOMAINS_ACTIVE
        return tuple(sorted(d.name() for d in conn.listAllDomains(active)))
    finally:
        conn.close()


# --- status ------------------------------------------------------------------------------


def status(workdir: Path | str = DEFAULT_WORKDIR) -> TestbedStatus:
    """What runs in the testbed at ``workdir``: per host, its daemon, domains and profile."""
    layout, state = load_layout(workdir)
    present = set(netns_list())
    hosts = []
    for index in state.hosts:
        hl = layout.host(index)
        pid = _daemon_pid(hl)
        conn = try_open(hl.uri) if pid is not None else None
        reported, running, defined = None, (), ()
        if conn is not None:
            try:
                reported = str(conn.getHostname())
                domains = conn.listAllDomains()
                running = tuple(sorted(d.name() for d in domains if d.isActive()))
                defined = tuple(sorted(d.name() for d in domains
                                       if not d.isActive() and d.isPersistent()))
            except libvirt_module().libvirtError:
                conn.close()
                conn = None
            else:
                conn.close()
        hosts.append(HostStatus(
            name=hl.hostname, short_name=hl.short_name, ip=hl.ip, uri=hl.uri,
            netns_present=hl.netns in present, pid=pid, answering=conn is not None,
            reported_hostname=reported, running_domains=running, defined_domains=defined,
            profile=read_marker(hl),
        ))
    return TestbedStatus(workdir=layout.workdir, prefix=layout.prefix, hosts=tuple(hosts))


# --- down --------------------------------------------------------------------------------


def down(workdir: Path | str = DEFAULT_WORKDIR) -> DownReport:
    """Destroy every guest, stop every daemon and QEMU process, delete every namespace.

    Idempotent; raises ``DriverError`` naming what is left if anything survives. Caches, logs
    and the guest image stay for the next ``up``.
    """
    require_root()
    path = absolute(workdir)
    if not path.is_dir():
        return DownReport(workdir=path, destroyed_domains=(), stopped_pids=(), removed_netns=())
    with locked(path):
        return _down(path)


def _down(path: Path) -> DownReport:
    state = load_state(path)
    if state is None:
        return DownReport(workdir=path, destroyed_domains=(), stopped_pids=(), removed_netns=())
    layout = Layout(path, state.prefix)
    destroyed = []
    for index in state.hosts:
        destroyed += _destroy_all(layout.host(index))
    owned = state.owned_netns()
    inodes = {i for ns in owned if (i := netns_inode(netns_path(ns))) is not None}
    mine = f"{path}/"
    pids = sorted(set(pids_with_netns_inode(inodes)) | set(_our_programs(mine)))
    survivors = terminate(pids, grace_s=STOP_GRACE_S)
    present = set(netns_list())
    removed = []
    for ns in owned:
        if ns in present:
            ip("netns", "del", ns, what=f"deleting namespace {ns}")
            removed.append(ns)
    for index in state.hosts:
        host = layout.host(index)
        host.pid_file.unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            _clear_dir(host.bind_dir("run"))
    left_pids = sorted(set(survivors) | set(pids_with_netns_inode(inodes))
                       | set(_our_programs(mine)))
    left_ns = sorted(set(owned) & set(netns_list()))
    if left_pids or left_ns:
        raise DriverError(
            f"testbed down left processes {left_pids} and namespaces {left_ns} behind: "
            "kill them and run 'ip netns del <name>', then run down again"
        )
    save_state(path, state.with_hosts(()))
    return DownReport(workdir=path, destroyed_domains=tuple(destroyed),
                      stopped_pids=tuple(pids), removed_netns=tuple(removed))


def _destroy_all(host: HostLayout) -> list[str]:
    """Destroy and undefine every domain of a host whose daemon answers."""
    conn = try_open(host.uri) if _daemon_pid(host) is not None else None
    if conn is None:
        for xml in (host.bind_dir("etc") / "qemu").glob("*.xml"):
            xml.unlink()
        return []
    names = []
    libvirt = libvirt_module()
    try:
        for dom in conn.listAllDomains():
            name = f"{host.hostname}/{dom.name()}"
            with contextlib.suppress(libvirt.libvirtError):
                if dom.isActive():
                    dom.destroy()
                    names.append(name)
            with contextlib.suppress(libvirt.libvirtError):
                if dom.isPersistent():
                    dom.undefine()
    finally:
        conn.close()
    return names


def _our_programs(workdir_prefix: str) -> list[int]:
    """Subreapers and QEMU processes started from this work directory, wherever they run."""
    result = []
    for pid in pids_mentioning(workdir_prefix):
        proc = read_proc(pid)
        if proc is None or not proc.cmdline:
            continue
        program = proc.cmdline[0]
        if program in (str(QEMU), str(TINI)):  # tini names this directory's libvirtd.conf
            result.append(pid)
    return result
