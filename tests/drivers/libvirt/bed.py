"""A testbed for the libvirt driver's tests: one per session, under its own prefix and work
directory, with canary guests under unique names.

Guests get the testbed's default CPU model (``kvm64``, :data:`hvroll.testbed.DEFAULT_GUEST_CPU`),
which has no vendor-specific feature: every testbed host provides it, on Intel and AMD
machines alike.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from hvroll import testbed as tb
from hvroll.domain import Fleet
from hvroll.testbed.layout import Layout
from hvroll.testbed.system import netns_list, pids_mentioning
from hvroll.virt.binding import connection

GUEST_CPU = tb.DEFAULT_GUEST_CPU
N_HOSTS = 3


def cannot_run() -> str | None:
    """Why the testbed cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root"
    if shutil.which("libvirtd") is None and not Path("/usr/sbin/libvirtd").exists():
        return "needs libvirt-daemon-system"
    return None


@dataclass
class Bed:
    workdir: Path
    prefix: str
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def up(self) -> tb.Testbed:
        return tb.up(N_HOSTS, self.workdir, "CPv1", prefix=self.prefix)

    def uri(self, host: str) -> str:
        return self.up().host(host).uri

    def hostname(self, host: str) -> str:
        """``h2`` → ``<prefix>-h2`` (the inventory's name)."""
        return f"{self.prefix}-{host}"

    def guest(self, host: str, *, stem: str = "g", ram_mib: int = 256, dirty_mb: int = 0,
              dirty_rate_mib_s: int = 0, start: bool = True,
              guest_ip: str | None = None) -> tb.Guest:
        """A new canary on ``host`` (``h1``) under a name never used in this session."""
        name = f"{stem}{next(self._names)}"
        return tb.define_guest(self.uri(host), name, ram_mib=ram_mib, dirty_mb=dirty_mb,
                               dirty_rate_mib_s=dirty_rate_mib_s, start=start,
                               guest_ip=guest_ip, cpu_model=GUEST_CPU)

    def boot(self, *guests: tb.Guest, heartbeats: int = 3, timeout_s: float = 120.0) -> None:
        """Wait until every guest printed ``heartbeats`` heartbeats (they boot together)."""
        for g in guests:
            health = tb.wait_for_heartbeats(g.console_log, g.console_offset, heartbeats,
                                            timeout_s=timeout_s)
            assert health.ok, (g.name, health)

    def clear(self) -> None:
        """Destroy and undefine every domain; every host back on CPv1."""
        bed = self.up()
        for host in bed.hosts:
            with connection(host.uri) as conn:
                for dom in conn.listAllDomains():
                    with contextlib.suppress(Exception):
                        if dom.isActive():
                            dom.destroy()
                    with contextlib.suppress(Exception):
                        if dom.isPersistent():
                            dom.undefine()
            self.profile(host.short_name, "CPv1")

    def remove(self, vm: str) -> None:
        """Destroy and undefine every domain named ``vm``."""
        for host in self.up().hosts:
            with connection(host.uri) as conn:
                for dom in conn.listAllDomains():
                    if dom.name() != vm:
                        continue
                    if dom.isActive():
                        dom.destroy()
                    if dom.isPersistent():
                        dom.undefine()

    def profile(self, host: str, profile: str) -> None:
        tb.write_profile(self.workdir, host, profile)

    def fleet(self) -> Fleet:
        return tb.build_inventory(self.workdir)

    def copies(self, vm: str) -> list[tuple[str, bool, bool]]:
        """``(host, active, persistent)`` of every domain named ``vm``."""
        out = []
        for host in self.up().hosts:
            with connection(host.uri) as conn:
                for dom in conn.listAllDomains():
                    if dom.name() == vm:
                        out.append((host.name, bool(dom.isActive()),
                                    bool(dom.isPersistent())))
        return out

    def runs_once_on(self, vm: str) -> str:
        """The one host ``vm`` runs on; fails if it runs or is defined anywhere else."""
        found = self.copies(vm)
        assert len(found) == 1, (vm, found)
        host, active, persistent = found[0]
        assert active and persistent, (vm, found)
        return host

    def down_and_check(self) -> tb.DownReport:
        """Take the testbed down and check that nothing of it is left."""
        report = tb.down(self.workdir)
        assert not [ns for ns in netns_list() if ns.startswith(f"{self.prefix}-")]
        mine = f"{self.workdir}/"
        assert not pids_mentioning(mine), pids_mentioning(mine)
        for host in range(1, N_HOSTS + 1):
            sock = Layout(self.workdir, self.prefix).host(host).socket_path
            assert not sock.exists(), sock
        return report
