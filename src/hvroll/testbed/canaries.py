"""The testbed's canary guests as a set: make sure M of them run, add one, remove one, judge them.

``hvroll testbed up --guests M`` and ``hvroll testbed guest add|remove`` are built on these
functions. Canaries are named ``canary-1`` … ``canary-M``; a missing one is defined on the
host that runs the fewest guests (the lowest-numbered on a tie), so 4 canaries on 3 hosts are
placed h1, h2, h3, h1. Existing canaries are kept as they are, wherever a campaign moved them.

Every canary gets :data:`~hvroll.testbed.guests.DEFAULT_GUEST_CPU` (``kvm64``): a model with
no vendor-specific feature, which every x86-64 host provides, Intel or AMD, so hvroll's own
CPU check lets it move between any two testbed hosts.

A canary's console log holds only its current life: when one is (re)started, the log of its
previous life is kept as ``<name>.console.log.old``, so its health can be judged from the log's
first byte (:func:`guest_states`).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hvroll.errors import InputError, OperationFailedError
from hvroll.testbed.guests import DEFAULT_GUEST_CPU, Guest, define_guest
from hvroll.testbed.health import GuestHealth, guest_health, wait_for_heartbeats
from hvroll.testbed.image import load_image
from hvroll.testbed.layout import DAEMON_ADVICE, HostLayout, Layout
from hvroll.testbed.state import load_layout
from hvroll.virt.binding import connection, libvirt_module

CANARY_STEM = "canary"
BOOT_TIMEOUT_S = 180.0
"""How long ``up --guests`` and ``guest add`` wait for a new canary's first heartbeat (TCG
guests boot in about 8 s alone, slower when several boot at once on two cores)."""
SILENT_LIMIT_S = 30.0
"""A running canary prints a line every second of its time; one silent for longer is not
beating (the margin is for a TCG guest starved of CPU on a loaded machine)."""
_CANARY_RE = re.compile(rf"^{CANARY_STEM}-(\d+)$")


@dataclass(frozen=True, slots=True)
class CanarySpec:
    """What a new canary is made of (kept canaries keep theirs)."""

    ram_mib: int = 256
    dirty_mb: int = 0
    """MiB its dirtier rewrites; 0 = heartbeat only."""
    dirty_rate_mib_s: int = 0
    cpu_model: str | None = DEFAULT_GUEST_CPU


@dataclass(frozen=True, slots=True)
class GuestState:
    """One guest of the testbed as its hosts' daemons and its console log tell."""

    name: str
    host: str
    """Hostname of the host it runs on (else the first host that defines it)."""
    running: bool
    health: GuestHealth | None
    """Over its whole console log; None when it has no log (not a canary)."""
    silent_s: float | None
    """Seconds since its console log last grew."""

    @property
    def judged(self) -> bool:
        """A running canary (a guest with a console log): its health counts."""
        return self.running and self.health is not None

    @property
    def ok(self) -> bool:
        return (self.running and self.health is not None and self.health.ok
                and self.silent_s is not None and self.silent_s <= SILENT_LIMIT_S)

    def as_dict(self) -> dict[str, object]:
        h = self.health
        return {"name": self.name, "host": self.host, "running": self.running, "ok": self.ok,
                "last_heartbeat": None if h is None else h.last_heartbeat,
                "flags": [] if h is None else list(h.flags),
                "bad_pages": None if h is None else h.bad_pages,
                "silent_s": None if self.silent_s is None else round(self.silent_s, 1)}


# --- pure decisions ----------------------------------------------------------------------


def canary_name(number: int) -> str:
    return f"{CANARY_STEM}-{number}"


def missing_canaries(existing: Iterable[str], count: int) -> list[str]:
    """Names of ``canary-1`` … ``canary-<count>`` that no host defines, in order.

    >>> missing_canaries(["canary-2", "web"], 3)
    ['canary-1', 'canary-3']
    """
    have = set(existing)
    return [canary_name(n) for n in range(1, count + 1) if canary_name(n) not in have]


def next_canary(existing: Iterable[str]) -> str:
    """The first ``canary-K`` no host defines.

    >>> next_canary(["canary-1", "canary-3"])
    'canary-2'
    """
    numbers = {int(m.group(1)) for name in existing if (m := _CANARY_RE.match(name))}
    return canary_name(next(n for n in range(1, len(numbers) + 2) if n not in numbers))


def placements(load: Mapping[str, int], hosts: Sequence[str], names: Sequence[str]
               ) -> list[tuple[str, str]]:
    """``(guest, host)`` for each new guest: the host with the fewest guests so far, the first
    of ``hosts`` on a tie; ``load`` counts the guests each host runs already.

    >>> placements({"h1": 0, "h2": 1}, ["h1", "h2", "h3"], ["a", "b", "c"])
    [('a', 'h1'), ('b', 'h3'), ('c', 'h1')]
    """
    counts = {h: load.get(h, 0) for h in hosts}
    out = []
    for name in names:
        host = min(hosts, key=lambda h: (counts[h], hosts.index(h)))
        counts[host] += 1
        out.append((name, host))
    return out


# --- asking the daemons ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Copy:
    host: HostLayout
    name: str
    running: bool


def _copies(layout: Layout, hosts: Iterable[int]) -> list[_Copy]:
    out = []
    for index in hosts:
        hl = layout.host(index)
        with connection(hl.uri, host=hl.hostname, advice=DAEMON_ADVICE) as conn:
            out += [_Copy(hl, d.name(), bool(d.isActive())) for d in conn.listAllDomains()]
    return out


def guest_states(workdir: Path | str) -> list[GuestState]:
    """Every guest of the testbed: where it runs and, for canaries, its health over its whole
    console log (see the module's docstring) and how long the log has been silent."""
    layout, state = load_layout(workdir)
    by_name: dict[str, list[_Copy]] = {}
    for copy in _copies(layout, state.hosts):
        by_name.setdefault(copy.name, []).append(copy)
    out = []
    now = time.time()
    for name in sorted(by_name, key=_natural):
        copies = by_name[name]
        chosen = next((c for c in copies if c.running), copies[0])
        log = layout.console_log(name)
        health = guest_health(log, 0) if log.is_file() else None
        silent = now - log.stat().st_mtime if log.is_file() else None
        out.append(GuestState(name=name, host=chosen.host.hostname, running=chosen.running,
                              health=health, silent_s=silent))
    return out


def _natural(name: str) -> tuple[str, int, str]:
    match = re.match(r"^(.*?)(\d+)$", name)
    return (match.group(1), int(match.group(2)), "") if match else (name, 0, name)


def _rotate_log(log: Path) -> None:
    """Keep a previous life's console as ``.old``: the log holds the current life only."""
    if log.is_file() and log.stat().st_size:
        log.replace(log.with_name(log.name + ".old"))


def _start(layout: Layout, copy: _Copy) -> Guest:
    """Start a canary that is defined but shut off, with a fresh console log."""
    log = layout.console_log(copy.name)
    _rotate_log(log)
    libvirt = libvirt_module()
    with connection(copy.host.uri, host=copy.host.hostname, advice=DAEMON_ADVICE) as conn:
        try:
            dom = conn.lookupByName(copy.name)
            dom.create()
            uuid = str(dom.UUIDString())
        except libvirt.libvirtError as exc:
            raise OperationFailedError(f"guest {copy.name}: {exc.get_error_message()}",
                                       host=copy.host.hostname) from exc
    return Guest(name=copy.name, uuid=uuid, uri=copy.host.uri, console_log=log,
                 console_offset=0, mac="")


def _define(layout: Layout, host: HostLayout, name: str, spec: CanarySpec) -> Guest:
    _rotate_log(layout.console_log(name))
    return define_guest(host.uri, name, ram_mib=spec.ram_mib, dirty_mb=spec.dirty_mb,
                        dirty_rate_mib_s=spec.dirty_rate_mib_s, cpu_model=spec.cpu_model,
                        image=load_image(layout))


def wait_booted(guests: Sequence[Guest], timeout_s: float = BOOT_TIMEOUT_S) -> None:
    """Wait until every guest printed its first heartbeat; ``OperationFailedError`` naming the
    first that did not (and why) otherwise. They boot together, so the waits overlap."""
    deadline = time.monotonic() + timeout_s
    for g in guests:
        left = max(1.0, deadline - time.monotonic())
        health = wait_for_heartbeats(g.console_log, g.console_offset, 1, timeout_s=left)
        if not health.ok:
            raise OperationFailedError(
                f"guest {g.name} did not boot within {timeout_s:.0f} s "
                f"({', '.join(health.flags)}); see {g.console_log}")


def ensure_canaries(workdir: Path | str, count: int, hosts: Sequence[int],
                    spec: CanarySpec = CanarySpec(), *, wait: bool = True) -> list[Guest]:
    """Make ``canary-1`` … ``canary-<count>`` run: define the missing ones on ``hosts``
    (see :func:`placements`), start the ones defined but shut off, keep running ones as they
    are. Returns the guests it defined or started, booted when ``wait``."""
    if count < 0:
        raise InputError(f"testbed --guests must be >= 0 (got {count})")
    layout, state = load_layout(workdir)
    copies = _copies(layout, state.hosts)
    wanted = {canary_name(n) for n in range(1, count + 1)}
    started = []
    for name in sorted(wanted, key=_natural):
        mine = [c for c in copies if c.name == name]
        if mine and not any(c.running for c in mine):
            started.append(_start(layout, mine[0]))
    load: dict[str, int] = {}
    for c in copies:
        if c.running:
            load[c.host.short_name] = load.get(c.host.short_name, 0) + 1
    order = [layout.host(i).short_name for i in hosts]
    for name, short in placements(load, order,
                                  missing_canaries((c.name for c in copies), count)):
        started.append(_define(layout, layout.resolve_host(short), name, spec))
    if wait:
        wait_booted(started)
    return started


def add_guest(workdir: Path | str, name: str | None = None, host: str | None = None,
              spec: CanarySpec = CanarySpec(), *, wait: bool = True) -> Guest:
    """Define and start one canary: ``name`` (default: the first free ``canary-K``) on ``host``
    (``h2``; default: the host running the fewest guests)."""
    layout, state = load_layout(workdir)
    copies = _copies(layout, state.hosts)
    name = name or next_canary(c.name for c in copies)
    taken = sorted({c.host.hostname for c in copies if c.name == name})
    if taken:
        raise InputError(f"guest {name} already exists on {', '.join(taken)}: choose another "
                         f"name or 'hvroll testbed guest remove {name}' first")
    if host is not None:
        target = layout.resolve_host(host)
        if target.index not in state.hosts:
            have = ", ".join(layout.host(i).short_name for i in state.hosts)
            raise InputError(f"testbed in {layout.workdir} has no host {target.hostname} "
                             f"(hosts: {have})")
    else:
        load: dict[str, int] = {}
        for c in copies:
            if c.running:
                load[c.host.short_name] = load.get(c.host.short_name, 0) + 1
        order = [layout.host(i).short_name for i in state.hosts]
        [(_, short)] = placements(load, order, [name])
        target = layout.resolve_host(short)
    guest = _define(layout, target, name, spec)
    if wait:
        wait_booted([guest])
    return guest


def remove_guest(workdir: Path | str, name: str) -> list[str]:
    """Destroy and undefine every copy of guest ``name``; the hosts it was on. Its console log
    stays (renamed ``.old`` when a guest of that name starts again)."""
    layout, state = load_layout(workdir)
    copies = [c for c in _copies(layout, state.hosts) if c.name == name]
    if not copies:
        raise InputError(f"no guest {name!r} on the testbed in {layout.workdir} "
                         "(see 'hvroll testbed status')")
    libvirt = libvirt_module()
    removed = []
    for c in copies:
        with connection(c.host.uri, host=c.host.hostname, advice=DAEMON_ADVICE) as conn:
            try:
                dom = conn.lookupByName(name)
                with contextlib.suppress(libvirt.libvirtError):
                    if dom.isActive():
                        dom.destroy()
                if dom.isPersistent():
                    dom.undefine()
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise OperationFailedError(f"guest {name}: {exc.get_error_message()}",
                                               host=c.host.hostname) from exc
        removed.append(c.host.hostname)
    return removed
