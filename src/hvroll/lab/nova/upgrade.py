"""Upgrading a running lab's control plane in place, as an operator's package hook and
service scripts would: switch the release the lab's services start from, stop and start a
group of its services (by their recorded PIDs).

``hvroll controlplane run`` drives these through its deployment file (``docs/controlplane.md``):
the hook switches the release, ``stop``/``start`` take the runbook's phase as the group. A
service keeps running the code it was started with until it is restarted, so between the
hook and the restarts the lab runs mixed releases, as a rolling upgrade does. The database
schema is never touched here: that is the projects' own ``nova-manage``/``placement-manage``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hvroll.errors import DriverError, InputError
from hvroll.lab.nova import procs, seed
from hvroll.lab.nova.api import _after
from hvroll.lab.nova.control import STOP_GRACE_S, Lab, ports_of
from hvroll.lab.nova.layout import LabRecord, Layout, load_record, save_record
from hvroll.lab.nova.venv import ensure_venv, release

START_TIMEOUT_S = 240.0
UPGRADED = ("placement", "nova-api", "nova-conductor", "nova-scheduler")
"""The control services an upgrade restarts (glance, the broker, the database and the Neutron
stub stay as they are)."""
GROUPS = ("all", "controllers", "api", "conductor", "scheduler", "placement", "computes")


def group_services(record: LabRecord, group: str) -> list[str]:
    """The lab's services in ``group``, in start order (pure). ``api`` is both APIs (placement
    first, as upgrades order them), so a runbook's API restart brings placement along.

    >>> r = LabRecord(workdir="/w", release="2025.1", venv="/v", computes=["compute1"])
    >>> group_services(r, "all")
    ['placement', 'nova-api', 'nova-conductor', 'nova-scheduler', 'compute1']
    >>> group_services(r, "api")
    ['placement', 'nova-api']
    """
    named = {"api": ["placement", "nova-api"], "conductor": ["nova-conductor"],
             "scheduler": ["nova-scheduler"], "placement": ["placement"],
             "controllers": list(UPGRADED), "computes": list(record.computes),
             "all": [*UPGRADED, *record.computes]}
    try:
        return named[group]
    except KeyError:
        raise InputError(f"unknown lab service group {group!r} (expected one of: "
                         f"{', '.join(GROUPS)})") from None


def _open(workdir: Path) -> Lab:
    layout = Layout(workdir.resolve())
    record = load_record(layout)
    if not record.services.get("mariadb"):
        raise InputError(f"the Nova lab in {layout.workdir} is down: run 'hvroll lab nova up'")
    return Lab(layout, record, Path(record.venv), ports_of(record))


def switch(workdir: Path, release_name: str) -> dict[str, str]:
    """Make ``release_name`` the release the lab's services start from (its Nova
    environment installed into the lab's cache if missing); running services are left
    alone. Idempotent."""
    lab = _open(workdir)
    rel = release(release_name)
    cache = Path(lab.record.venv).parent.parent
    venv = ensure_venv(rel, cache, log=lab.layout.log("install"))
    old = lab.record.release
    lab.record.release, lab.record.venv = rel.name, str(venv)
    save_record(lab.layout, lab.record)
    return {"from": old, "to": rel.name, "nova": rel.nova, "venv": str(venv)}


def stop(workdir: Path, group: str) -> list[str]:
    """Stop the group's running services (SIGTERM, then SIGKILL after a grace period); return
    the names stopped."""
    lab = _open(workdir)
    names = group_services(lab.record, group)
    records = [lab.record.services[n] for n in names if n in lab.record.services]
    running = [r.name for r in records if procs.is_running(r)]
    stubborn = procs.stop(records, grace_s=STOP_GRACE_S)
    if stubborn:
        raise DriverError(f"the Nova lab in {lab.layout.workdir}: could not stop "
                          f"{', '.join(stubborn)}")
    for name in names:
        lab.record.services.pop(name, None)
    save_record(lab.layout, lab.record)
    return running


def start(workdir: Path, group: str, *, timeout_s: float = START_TIMEOUT_S,
          wall: Callable[[], float] = time.time) -> list[str]:
    """Start the group's services that are not running, from the lab's current release, and
    wait until Nova reports each one up again (APIs: their port answers; conductor, scheduler
    and computes: their service record is up and was updated after the start)."""
    lab = _open(workdir)
    names = group_services(lab.record, group)
    started_at = wall()
    started: list[str] = []
    for name in names:
        rec = lab.record.services.get(name)
        if rec is not None and procs.is_running(rec):
            continue
        if name in lab.record.computes:
            lab.start_compute(name)
        else:
            rec, port = lab.start_service(name)
            if port is not None:
                procs.wait_port(port, rec, what=name, timeout_s=timeout_s,
                                log=lab.layout.log(name))
        started.append(name)
    binaries: dict[str, tuple[str, str | None]] = {
        n: ("nova-compute", n) for n in started if n in lab.record.computes}
    binaries |= {n: (n, None) for n in started if n in ("nova-conductor", "nova-scheduler")}
    if binaries:
        _wait_reported(lab, binaries, started_at, timeout_s)
    return started


def _wait_reported(lab: Lab, binaries: dict[str, tuple[str, str | None]], since: float,
                   timeout_s: float) -> None:
    """Until each (binary, host) service is up in Nova and reported after ``since``."""
    conn = seed.connect(lab.layout)

    def ready() -> bool:
        lab.check_alive()
        with contextlib.suppress(Exception):
            services: list[Any] = list(conn.compute.services())
            for binary, host in binaries.values():
                if not any(s.binary == binary and (host is None or s.host == host)
                           and s.state == "up" and _after(s.updated_at, since)
                           for s in services):
                    return False
            return True
        return False
    seed.wait(f"{', '.join(binaries)} reporting up", ready, timeout_s, poll_s=1.0)
