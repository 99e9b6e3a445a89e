"""Where everything of a testbed lives and what each host is called: pure naming, no I/O.

A testbed is a work directory plus a namespace prefix. Host ``N`` (1-based) is the network
namespace ``<prefix>-hN`` with hostname ``<prefix>-hN`` and address ``10.213.0.N`` on a bridge in
the switch namespace ``<prefix>-sw``. Its daemon's state lives under ``<workdir>/hosts/hN``; guest
images and console logs live under ``<workdir>/shared``, which every host sees at the same path.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from hvroll.errors import InputError

DEFAULT_WORKDIR = Path("/var/lib/hvroll-testbed")
DEFAULT_PREFIX = "hvtb"
DAEMON_ADVICE = "run 'hvroll testbed status' or 'hvroll testbed up'"
"""What to do when a testbed daemon does not answer."""
SUBNET_PREFIX = "10.213.0"
"""Host N gets ``10.213.0.N/24``; nothing outside the testbed's namespaces uses these."""
SUBNET_BITS = 24
MAX_HOSTS = 64
HOST_UUID_NAMESPACE = uuid.UUID("6f1c2a52-38a4-4d0e-9b0e-5d7f3f7c8a10")

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,9}$")


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a valid namespace prefix, else raise ``InputError``."""
    if not _PREFIX_RE.match(prefix):
        raise InputError(
            f"testbed prefix {prefix!r} is invalid: use 1-10 lowercase letters or digits, "
            "starting with a letter (e.g. 'hvtb')"
        )
    return prefix


def check_host_count(n_hosts: int) -> int:
    """Return ``n_hosts`` if a testbed can have that many hosts, else raise ``InputError``."""
    if not 1 <= n_hosts <= MAX_HOSTS:
        raise InputError(f"testbed --hosts must be between 1 and {MAX_HOSTS} (got {n_hosts})")
    return n_hosts


@dataclass(frozen=True, slots=True)
class HostLayout:
    """Names, address and paths of one testbed host."""

    index: int
    prefix: str
    state_dir: Path

    @property
    def short_name(self) -> str:
        """``hN``: the host's directory name and its name inside the testbed."""
        return f"h{self.index}"

    @property
    def hostname(self) -> str:
        """The host's UTS hostname, its inventory name and its network namespace name."""
        return f"{self.prefix}-h{self.index}"

    @property
    def netns(self) -> str:
        return self.hostname

    @property
    def ip(self) -> str:
        return f"{SUBNET_PREFIX}.{self.index}"

    @property
    def host_uuid(self) -> str:
        """A stable, distinct ``host_uuid`` for libvirtd (equal UUIDs make migration refuse)."""
        return str(uuid.uuid5(HOST_UUID_NAMESPACE, str(self.state_dir)))

    @property
    def socket_path(self) -> Path:
        """The daemon's read-write UNIX socket, seen from outside the host's namespaces."""
        return self.state_dir / "run" / "libvirt-sock"

    @property
    def uri(self) -> str:
        """Client URI from the machine's own namespaces (UNIX sockets cross network namespaces)."""
        return f"qemu+unix:///system?socket={self.socket_path}"

    @property
    def tcp_uri(self) -> str:
        """URI from inside another testbed host's network namespace."""
        return f"qemu+tcp://{self.ip}/system"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "libvirtd.pid"

    @property
    def daemon_log(self) -> Path:
        return self.state_dir / "daemon.log"

    @property
    def init_script(self) -> Path:
        return self.state_dir / "init.sh"

    @property
    def profile_file(self) -> Path:
        return self.state_dir / "profile.json"

    def bind_dir(self, name: str) -> Path:
        """One of the host-private directories mounted over libvirt's fixed paths."""
        return self.state_dir / name


BIND_DIRS: tuple[tuple[str, str], ...] = (
    ("etc", "/etc/libvirt"),
    ("run", "/run/libvirt"),
    ("lib", "/var/lib/libvirt"),
    ("cache", "/var/cache/libvirt"),
    ("log", "/var/log/libvirt"),
)
"""(directory under the host's state dir, path it is mounted on inside the host)."""


@dataclass(frozen=True, slots=True)
class Layout:
    """A testbed's work directory and namespace prefix, and every path derived from them."""

    workdir: Path
    prefix: str = DEFAULT_PREFIX

    @property
    def hosts_dir(self) -> Path:
        return self.workdir / "hosts"

    @property
    def shared_dir(self) -> Path:
        """Storage every host sees at the same path: guest images and console logs."""
        return self.workdir / "shared"

    @property
    def cache_dir(self) -> Path:
        """Downloaded kernels and compiled helper programs."""
        return self.workdir / "cache"

    @property
    def state_file(self) -> Path:
        """Which prefix and hosts this work directory owns (``testbed.json``)."""
        return self.workdir / "testbed.json"

    @property
    def image_file(self) -> Path:
        """The current guest image's paths (``guest-image.json``)."""
        return self.shared_dir / "guest-image.json"

    @property
    def switch_netns(self) -> str:
        return f"{self.prefix}-sw"

    def host(self, index: int) -> HostLayout:
        check_host_count(index)
        return HostLayout(index=index, prefix=self.prefix,
                          state_dir=self.hosts_dir / f"h{index}")

    def resolve_host(self, host: str) -> HostLayout:
        """A host by its short name (``h2``), hostname (``hvtb-h2``) or number (``2``)."""
        text = host.removeprefix(f"{self.prefix}-").removeprefix("h")
        if not text.isdigit():
            raise InputError(
                f"unknown testbed host {host!r}: use h<N>, {self.prefix}-h<N> or <N>"
            )
        return self.host(int(text))

    def console_log(self, guest: str) -> Path:
        return self.shared_dir / f"{guest}.console.log"


def workdir_from_uri(uri: str) -> Path:
    """The work directory of a testbed host URI (``...?socket=<workdir>/hosts/hN/run/...``)."""
    match = re.search(r"[?&]socket=([^&]+)", uri)
    if match is None:
        raise InputError(f"{uri!r} is not a testbed host URI (it has no ?socket=...)")
    socket = Path(match.group(1))
    if socket.name != "libvirt-sock" or socket.parent.name != "run" or \
            socket.parent.parent.parent.name != "hosts":
        raise InputError(
            f"{uri!r} is not a testbed host URI (expected socket=<workdir>/hosts/hN/run/"
            "libvirt-sock)"
        )
    return socket.parent.parent.parent.parent
