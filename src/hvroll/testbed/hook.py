"""The testbed's reinstall hook: "reinstalling" a testbed host is changing the software profile
it reports and restarting its libvirtd, so that a campaign's reinstall → verify runs for real.

::

    hook = TestbedReinstallHook("/var/lib/hvroll-testbed")
    hook(host, "CPv2")      # host: an inventory Host of this testbed (hvtb-h2)

It refuses with :class:`~hvroll.errors.SafetyError` while libvirt lists any domain on the host,
running or only defined (a daemon that does not answer is asked through its persistent
definitions and its QEMU processes), then sets the host's profile marker
(:func:`~hvroll.testbed.profile.write_profile`), restarts its daemon
(:func:`~hvroll.testbed.hosts.restart_host`, which records the QEMU and libvirt versions the new
daemon reports in the marker) and returns once the daemon answers and reports ``profile``.
"""

from __future__ import annotations

from pathlib import Path

from hvroll.domain import Host
from hvroll.errors import OperationFailedError, SafetyError
from hvroll.testbed.hosts import restart_host
from hvroll.testbed.layout import HostLayout, workdir_from_uri
from hvroll.testbed.profile import read_profile, write_profile
from hvroll.testbed.state import absolute, load_layout
from hvroll.testbed.system import QEMU, pids_in_netns, read_proc
from hvroll.virt.binding import libvirt_module, try_open


class TestbedReinstallHook:
    """Reinstall hook for the hosts of the testbed at ``workdir``."""

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, workdir: Path | str) -> None:
        self.workdir = absolute(workdir)

    def host_layout(self, host: Host) -> HostLayout:
        """The testbed host behind an inventory host (by its URI's socket, else its name)."""
        layout, _ = load_layout(self.workdir)
        if host.libvirt_uri and "socket=" in host.libvirt_uri \
                and workdir_from_uri(host.libvirt_uri) == self.workdir:
            socket_dir = host.libvirt_uri.split("socket=", 1)[1].split("&", 1)[0]
            return layout.resolve_host(Path(socket_dir).parent.parent.name)
        return layout.resolve_host(host.name)

    def __call__(self, host: Host, profile: str) -> None:
        hl = self.host_layout(host)
        held = domains_on(hl)
        if held:
            raise SafetyError(f"{hl.hostname}: refusing to reinstall, it still has "
                              f"{len(held)} domain(s): {', '.join(held[:5])}")
        write_profile(self.workdir, hl.short_name, profile)
        restart_host(self.workdir, hl.short_name)
        now = read_profile(self.workdir, hl.short_name)
        if now.profile != profile:
            raise OperationFailedError(f"reports profile {now.profile!r} after its reinstall "
                                       f"(expected {profile!r})", host=hl.hostname)


def domains_on(host: HostLayout) -> list[str]:
    """Every domain of a testbed host, asked of its libvirtd; when the daemon does not answer,
    its persistent definitions and QEMU processes."""
    conn = try_open(host.uri)
    if conn is not None:
        try:
            return sorted(d.name() for d in conn.listAllDomains())
        except libvirt_module().libvirtError:
            pass
        finally:
            conn.close()
    held = {xml.stem for xml in (host.bind_dir("etc") / "qemu").glob("*.xml")}
    for pid in pids_in_netns(host.netns):
        proc = read_proc(pid)
        if proc is not None and proc.cmdline[:1] == (str(QEMU),):
            held.add(f"qemu pid {pid}")
    return sorted(held)
