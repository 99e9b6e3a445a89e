"""Taking the testbed down leaves nothing running (real libvirtd and QEMU).

This module sorts last on purpose; the ``testbed`` fixture brings hosts back up if anything
runs after it.
"""

from __future__ import annotations

import pytest

from hvroll import testbed as tb
from hvroll.testbed.system import alive, netns_list, pids_in_netns, pids_mentioning, read_proc

from .conftest import Session

pytestmark = pytest.mark.libvirt


def test_down_leaves_no_daemon_qemu_or_namespace(session: Session) -> None:
    bed = session.up()
    tb.define_guest(bed.host("h1").uri, "teardown-canary", ram_mib=128)
    before = sorted({pid for h in bed.hosts for pid in pids_in_netns(h.netns)})
    programs = {p.cmdline[0] for pid in before if (p := read_proc(pid)) is not None}
    assert {"/usr/sbin/libvirtd", "/usr/bin/qemu-system-x86_64"} <= programs, programs

    report = tb.down(session.workdir)

    assert "teardown-canary" in " ".join(report.destroyed_domains)
    assert alive(before) == []
    assert pids_mentioning(f"{session.workdir}/") == []
    assert [ns for ns in netns_list() if ns.startswith(f"{session.prefix}-")] == []


def test_down_twice_is_harmless(session: Session) -> None:
    tb.down(session.workdir)
    report = tb.down(session.workdir)
    assert report.removed_netns == () and report.stopped_pids == ()
