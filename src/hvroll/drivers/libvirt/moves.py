"""Cold migrations and reinstalls: each a job run by a thread of its own.

A cold migration moves a domain's *definition*; its disks must be reachable from the
destination at the same paths (shared storage): nothing is copied. Its steps are idempotent,
so a cold migration found unfinished after a restart is simply run again from where it is:

1. if the domain runs on the source: ask its guest to shut down (ACPI), destroy it after
   ``shutdown_timeout_s``;
2. define it on the destination from the source's persistent XML (unless defined there);
3. undefine it on the source (so it is never defined nowhere, briefly on both);
4. start it on the destination if it was running.

A reinstall runs the configured hook (see :mod:`hvroll.drivers.libvirt.hooks`); the host's
connection is reopened afterwards, its daemon having restarted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from hvroll.drivers.base import JobPhase
from hvroll.drivers.libvirt.core import Core, Job
from hvroll.drivers.libvirt.hooks import ReinstallHook
from hvroll.errors import DriverError, HvrollError

SHUTDOWN_POLL_S = 0.25


def start(target: Callable[..., None], *args: Any, name: str) -> None:
    threading.Thread(target=target, args=args, name=name, daemon=True).start()


def run_cold(core: Core, job: Job, was_running: bool) -> None:
    assert job.vm is not None and job.source is not None and job.dest is not None
    lv, vm = core.lv, job.vm
    src, dst = core.link(job.source), core.link(job.dest)
    started = core.clock.now()

    def lookup(conn: Any) -> Any | None:
        try:
            return conn.lookupByName(vm)
        except lv.libvirtError as exc:
            if exc.get_error_code() == lv.VIR_ERR_NO_DOMAIN:
                return None
            raise

    try:
        here = src.call("find the domain", lookup)
        if here is not None and src.call("ask its state", lambda _c: here.isActive()):
            _stop(core, job, here)
        there = dst.call("find the domain", lookup)
        if there is None:
            if here is None:
                raise DriverError(f"{vm} is defined neither on {job.source} nor on {job.dest}")
            xml = src.call("read its definition", lambda _c: here.XMLDesc(
                lv.VIR_DOMAIN_XML_SECURE | lv.VIR_DOMAIN_XML_INACTIVE))
            there = dst.call("define it", lambda c: c.defineXML(xml))
        if here is not None and src.call("ask if it is persistent",
                                         lambda _c: here.isPersistent()):
            src.call("undefine it", lambda _c: here.undefineFlags(0))
        if was_running and not dst.call("ask its state", lambda _c: there.isActive()):
            dst.call("start it", lambda _c: there.create())
    except HvrollError as exc:
        core.finish(job, JobPhase.FAILED, f"cold migration of {vm}: {exc}")
        return
    with core.lock:
        job.extra["moved_s"] = core.clock.now() - started
    core.finish(job, JobPhase.COMPLETED)


def _stop(core: Core, job: Job, dom: Any) -> None:
    """Shut the guest down; destroy it if it does not stop within the timeout."""
    link = core.link(job.source or "")
    link.call("ask its guest to shut down", lambda _c: dom.shutdown())
    deadline = core.clock.now() + core.settings.shutdown_timeout_s
    while core.clock.now() < deadline:
        if not link.call("ask its state", lambda _c: dom.isActive()):
            return
        core.clock.sleep(SHUTDOWN_POLL_S)
    link.call("destroy it (its guest did not shut down in time)", lambda _c: dom.destroy())
    with core.lock:
        job.extra["destroyed"] = True


def run_reinstall(core: Core, job: Job, hook: ReinstallHook) -> None:
    assert job.source is not None and job.profile is not None
    host = core.hosts[job.source]
    try:
        hook(host, job.profile)
    except HvrollError as exc:
        core.finish(job, JobPhase.FAILED, str(exc))
        return
    except Exception as exc:  # an operator's hook: report whatever it raised
        core.finish(job, JobPhase.FAILED,
                    f"the reinstall hook raised {type(exc).__name__}: {exc}")
        return
    finally:
        core.link(host.name).reset()
    core.finish(job, JobPhase.COMPLETED)
