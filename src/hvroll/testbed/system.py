"""The machine under the testbed: commands, prerequisites, processes and network namespaces.

Every call to an outside program goes through :func:`run`, which turns a failure into a
``DriverError`` that names the command and its last line of error output.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from hvroll.errors import DriverError, InputError

LIBVIRTD = Path("/usr/sbin/libvirtd")
QEMU = Path("/usr/bin/qemu-system-x86_64")
BUSYBOX = Path("/bin/busybox")
TINI = Path("/usr/bin/tini")
"""Debian's ``tini``, run as a child subreaper (``-s``) around each libvirtd."""

REQUIRED_TOOLS: tuple[tuple[str, str], ...] = (
    ("ip", "iproute2"),
    ("unshare", "util-linux"),
    ("nsenter", "util-linux"),
    ("mountpoint", "util-linux"),
    ("setsid", "util-linux"),
    ("gcc", "gcc"),
    ("tini", "tini"),
)
"""(program on PATH, Debian package that provides it)."""


def require_root() -> None:
    """Namespaces, mounts and root-mode libvirtd all need root."""
    if os.geteuid() != 0:
        raise InputError("the testbed needs root (namespaces, mounts, libvirtd): run it as root")


def require_tools() -> None:
    """Fail with the missing Debian packages named, before anything is created."""
    missing = [pkg for prog, pkg in REQUIRED_TOOLS if shutil.which(prog) is None]
    for path, pkg in ((LIBVIRTD, "libvirt-daemon-system"), (QEMU, "qemu-system-x86")):
        if not os.access(path, os.X_OK):
            missing.append(pkg)
    if not BUSYBOX.is_file() or not is_static_elf(BUSYBOX.read_bytes()[:65536]):
        missing.append("busybox-static")
    if missing:
        packages = " ".join(sorted(set(missing)))
        raise InputError(
            f"the testbed needs missing packages: run apt-get install -y {packages}"
        )


def is_static_elf(head: bytes) -> bool:
    """True if ``head`` (the start of an ELF file) has no program interpreter (PT_INTERP)."""
    if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit only
        return False
    order: Literal["little", "big"] = "little" if head[5] == 1 else "big"
    phoff = int.from_bytes(head[32:40], order)
    phentsize = int.from_bytes(head[54:56], order)
    phnum = int.from_bytes(head[56:58], order)
    for i in range(phnum):
        start = phoff + i * phentsize
        if start + 4 > len(head):
            return False
        if int.from_bytes(head[start:start + 4], order) == 3:  # PT_INTERP
            return False
    return True


def run(argv: Sequence[str], *, what: str, timeout_s: float = 120.0,
        check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; on failure raise ``DriverError`` saying ``what`` failed."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout_s,
                              check=False, cwd=cwd, stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise InputError(f"{what}: {argv[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise DriverError(f"{what}: {argv[0]} did not finish within {timeout_s:.0f} s") from exc
    if check and proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        detail = lines[-1] if lines else f"exit status {proc.returncode}"
        raise DriverError(f"{what}: {' '.join(argv[:3])} failed: {detail}")
    return proc


def compile_c(source: str, output_dir: Path, *, static: bool) -> Path:
    """Compile a C file shipped in this package (``guest/dirtier.c``) once per content hash."""
    text = resources.files("hvroll.testbed").joinpath(source).read_bytes()
    flags = ["-O2", "-Wall", "-static"] if static else ["-O2", "-Wall"]
    digest = hashlib.sha256(text + " ".join(flags).encode()).hexdigest()[:12]
    target = output_dir / f"{Path(source).stem}-{digest}"
    if target.is_file():
        return target
    output_dir.mkdir(parents=True, exist_ok=True)
    src = output_dir / f"{Path(source).stem}-{digest}.c"
    src.write_bytes(text)
    tmp = target.with_suffix(".tmp")
    try:
        run(["gcc", *flags, "-o", str(tmp), str(src)], what=f"building {source}",
            timeout_s=120.0)
    except DriverError as exc:
        raise InputError(f"{exc} (install gcc and libc6-dev)") from exc
    tmp.replace(target)
    return target


# --- processes ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Proc:
    """A process as /proc shows it."""

    pid: int
    state: str
    cmdline: tuple[str, ...]
    started: int = 0
    """When it started, in clock ticks since boot (``stat``'s field 22): with the pid, names
    one process even after the pid is used again."""

    @property
    def gone(self) -> bool:
        """Exited (a zombie only waits for its parent)."""
        return self.state in ("Z", "X")


def read_proc(pid: int) -> Proc | None:
    """The process ``pid``, or None if there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return Proc(pid=pid, state=fields[0], cmdline=tuple(a.decode(errors="replace")
                                                        for a in raw.split(b"\0") if a),
                started=int(fields[19]))


def all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def netns_inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def netns_path(netns: str) -> Path:
    return Path("/run/netns") / netns


def pids_in_netns(netns: str) -> list[int]:
    """Processes whose network namespace is the named one (``/run/netns/<netns>``)."""
    inode = netns_inode(netns_path(netns))
    return [] if inode is None else pids_with_netns_inode({inode})


def pids_with_netns_inode(inodes: set[int]) -> list[int]:
    """Live processes in any of the network namespaces with these inode numbers (this still works
    after ``ip netns del``, as long as a process keeps the namespace alive)."""
    found = []
    for pid in all_pids():
        try:
            if Path(f"/proc/{pid}/ns/net").stat().st_ino in inodes:
                found.append(pid)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return alive(found)


def pids_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains ``text`` (a work directory path)."""
    me = os.getpid()
    found = []
    for pid in all_pids():
        proc = read_proc(pid)
        if proc is not None and pid != me and not proc.gone and \
                any(text in arg for arg in proc.cmdline):
            found.append(pid)
    return found


def alive(pids: Iterable[int]) -> list[int]:
    result = []
    for pid in pids:
        proc = read_proc(pid)
        if proc is not None and not proc.gone:
            result.append(pid)
    return result


def reap(pid: int) -> None:
    """Collect ``pid`` if it is our own exited child (no-op otherwise)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def terminate(pids: Iterable[int], *, grace_s: float,
              first: signal.Signals = signal.SIGTERM) -> list[int]:
    """``first`` (SIGTERM unless said), wait up to ``grace_s``, then SIGKILL; return the pids
    still alive after that."""
    targets = alive(pids)
    for sig, wait_s in ((first, grace_s), (signal.SIGKILL, 5.0)):
        for pid in targets:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while targets and time.monotonic() < deadline:
            for pid in targets:
                reap(pid)
            targets = alive(targets)
            if targets:
                time.sleep(0.05)
        if not targets:
            break
    return targets


# --- network namespaces ------------------------------------------------------------------


def netns_list() -> list[str]:
    out = run(["ip", "netns", "list"], what="listing network namespaces").stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def ip(*args: str, netns: str | None = None, what: str) -> str:
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    return run(argv, what=what, timeout_s=30.0).stdout
