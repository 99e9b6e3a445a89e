"""The Nova lab's operations: ``up``, ``status``, ``reinstall``, ``down`` and the migration
knobs, as the CLI and the tests call them."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hvroll.errors import DriverError, InputError
from hvroll.lab.nova import control, procs, qemu, seed
from hvroll.lab.nova.layout import DEFAULT_CACHE, KNOBS, Layout, Ports, load_record, save_record
from hvroll.lab.nova.profiles import check_profile, compute_profile
from hvroll.lab.nova.venv import DEFAULT_RELEASE

READY_TIMEOUT_S = 240.0
COMPUTE_STOP_GRACE_S = 20.0
QEMU_COMPUTE_STOP_GRACE_S = 5.0
"""A libvirt-mode compute logs "Graceful shutdown: no in-progress tasks" within a second of
SIGTERM and then does not exit (seen still running after 20 s); its host is empty when it is
reinstalled, so after this grace it is killed."""


@dataclass(frozen=True, slots=True)
class UpReport:
    workdir: Path
    clouds_yaml: Path
    computes: tuple[str, ...]
    servers: int
    elapsed_s: float


def up(workdir: Path, computes: int, servers: int, *, release: str = DEFAULT_RELEASE,
       cache: Path = DEFAULT_CACHE, ports: Ports | None = None,
       on_step: Callable[[str], None] | None = None, virt: str = "fake",
       testbed_prefix: str = "hvnl") -> UpReport:
    """Start a fresh lab with ``computes`` computes and ``servers`` ACTIVE servers (on the
    default ports, or ``ports``). ``virt="libvirt"``: the computes run Nova's libvirt driver
    on the hosts of a testbed (prefix ``testbed_prefix``) and the servers are canary guests."""
    if computes < 1:
        raise InputError(f"--computes must be at least 1 (got {computes})")
    if servers < 0:
        raise InputError(f"--servers must be at least 0 (got {servers})")
    t0 = time.monotonic()
    note = on_step or (lambda _s: None)
    lab = control.start(workdir, computes, release_name=release, cache=cache, ports=ports,
                        on_step=note, virt=virt, testbed_prefix=testbed_prefix)
    try:
        note(f"{computes} computes")
        admin = seed.connect(lab.layout)
        seed.wait_computes(admin, lab.record.computes, READY_TIMEOUT_S, lab.check_alive,
                           lambda: lab.run([lab.bin("nova-manage"),
                                            *lab.nova_args("nova-control.conf"), "cell_v2",
                                            "discover_hosts"],
                                           what="nova-manage cell_v2 discover_hosts"))
        if servers and lab.record.virt == "libvirt":
            note(f"{servers} canary servers")
            image = lab.record.canary_image
            lab.record.servers = seed.create_canary_servers(
                admin, lab.record.computes, servers, Path(image["kernel"]),
                Path(image["initrd"]), READY_TIMEOUT_S + 30.0 * servers)
            save_record(lab.layout, lab.record)
        elif servers:
            note(f"{servers} servers")
            tenant = seed.connect(lab.layout, "hvroll-lab-tenant")
            ids, group = seed.create_servers(admin, tenant, lab.record.computes, servers,
                                             READY_TIMEOUT_S + servers)
            lab.record.servers, lab.record.server_group = ids, group
            save_record(lab.layout, lab.record)
    except BaseException:
        control.stop_all(lab.layout, lab.record)
        raise
    return UpReport(workdir=lab.layout.workdir, clouds_yaml=lab.layout.clouds_yaml,
                    computes=tuple(lab.record.computes), servers=len(lab.record.servers),
                    elapsed_s=round(time.monotonic() - t0, 1))


@dataclass(frozen=True, slots=True)
class DownReport:
    workdir: Path
    stopped: tuple[str, ...]
    stubborn: tuple[str, ...]


def down(workdir: Path) -> DownReport:
    """Stop every process the lab started; keep its files (logs) in ``workdir``."""
    layout = Layout(workdir.resolve())
    record = load_record(layout)
    running = tuple(n for n, r in record.services.items() if procs.is_running(r))
    stubborn = control.stop_all(layout, record)
    record.services = {}
    save_record(layout, record)
    if stubborn:
        raise DriverError(f"the Nova lab in {layout.workdir}: could not stop "
                          f"{', '.join(stubborn)}")
    return DownReport(workdir=layout.workdir, stopped=running, stubborn=tuple(stubborn))


@dataclass(slots=True)
class LabStatus:
    workdir: str
    release: str
    services: dict[str, bool] = field(default_factory=dict)
    computes: list[dict[str, Any]] = field(default_factory=list)
    servers: dict[str, int] = field(default_factory=dict)
    api_error: str | None = None

    @property
    def healthy(self) -> bool:
        return (bool(self.services) and all(self.services.values()) and self.api_error is None
                and all(c.get("state") == "up" for c in self.computes))

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "healthy": self.healthy}


def status(workdir: Path) -> LabStatus:
    """Each recorded process, and Nova's own view of computes and servers."""
    layout = Layout(workdir.resolve())
    record = load_record(layout)
    st = LabStatus(workdir=str(layout.workdir), release=record.release,
                   services={n: procs.is_running(r) for n, r in record.services.items()})
    if not st.services or not st.services.get("nova-api"):
        st.api_error = "nova-api is not running"
        return st
    try:
        conn = seed.connect(layout)
        services = {s.host: s for s in conn.compute.services(binary="nova-compute")}
        hyps = {h.name: h for h in conn.compute.hypervisors(details=True)}
        for host in record.computes:
            svc, hyp = services.get(host), hyps.get(host)
            st.computes.append({
                "host": host, "profile": record.profiles.get(host),
                "state": svc.state if svc else "missing",
                "status": svc.status if svc else "missing",
                "hypervisor_version": hyp.hypervisor_version if hyp else None,
                "servers": 0})
        by_host: dict[str, int] = {}
        for server in conn.compute.servers(all_projects=True):
            st.servers[server.status] = st.servers.get(server.status, 0) + 1
            host = server.compute_host
            if host:
                by_host[host] = by_host.get(host, 0) + 1
        for c in st.computes:
            c["servers"] = by_host.get(c["host"], 0)
    except Exception as exc:
        st.api_error = f"{type(exc).__name__}: {exc}"
    return st


def reinstall(workdir: Path, host: str, profile: str, *,
              timeout_s: float = READY_TIMEOUT_S) -> dict[str, Any]:
    """The lab's reinstall hook: restart ``host``'s nova-compute reporting ``profile``'s
    versions, and wait until Nova shows the new hypervisor version with the service up.

    ``libvirt`` mode (profiles ``TB``, ``TB2``): every testbed host runs this machine's QEMU,
    so the profile shows as a placement trait instead: the hook writes the profile's provider
    config file, restarts the compute and waits until Nova reports the service up and
    placement lists the trait on the compute node (a reinstall back to ``TB`` takes the trait
    off through placement)."""
    layout = Layout(workdir.resolve())
    record = load_record(layout)
    if record.virt == "libvirt":
        if profile not in qemu.PROFILES:
            raise InputError(f"unknown profile {profile!r} of a libvirt-mode lab (expected one "
                             f"of: {', '.join(qemu.PROFILES)})")
    else:
        check_profile(profile)
    if host not in record.computes:
        raise InputError(f"the Nova lab in {layout.workdir} has no compute {host!r} "
                         f"(expected one of: {', '.join(record.computes)})")
    old = record.services.get(host)
    if old is None:
        raise InputError(f"the Nova lab in {layout.workdir} is down: run 'hvroll lab nova up'")
    lab = control.Lab(layout, record, Path(record.venv), control.ports_of(record))
    grace = QEMU_COMPUTE_STOP_GRACE_S if record.virt == "libvirt" else COMPUTE_STOP_GRACE_S
    stubborn = procs.stop([old], grace_s=grace)
    if stubborn:
        raise DriverError(f"{host}: nova-compute would not stop")
    lab.write_compute(host, profile)
    record.profiles[host] = profile
    restarted_at = time.time()
    lab.start_compute(host)
    conn = seed.connect(layout)
    if record.virt == "libvirt":
        return _reinstalled_qemu(conn, host, profile, restarted_at, timeout_s)
    want = compute_profile(profile).hypervisor_version

    def ready() -> bool:
        with contextlib.suppress(Exception):
            hyp = _up_since(conn, host, restarted_at)
            return hyp is not None and hyp.hypervisor_version == want
        return False
    seed.wait(f"{host} up on {profile}", ready, timeout_s, poll_s=1.0)
    return {"host": host, "profile": profile, "hypervisor_version": want}


def _up_since(conn: Any, host: str, restarted_at: float) -> Any:
    """``host``'s hypervisor once its nova-compute reports up after ``restarted_at``; else
    None."""
    hyp = next((h for h in conn.compute.hypervisors(details=True) if h.name == host), None)
    svc = next((s for s in conn.compute.services(binary="nova-compute", host=host)), None)
    if hyp is None or svc is None or svc.state != "up" \
            or not _after(svc.updated_at, restarted_at):
        return None
    return hyp


def _reinstalled_qemu(conn: Any, host: str, profile: str, restarted_at: float,
                      timeout_s: float) -> dict[str, Any]:
    """Wait until ``host``'s restarted compute reports up and placement lists exactly the
    profile traits of ``profile`` on its compute node."""
    from hvroll.drivers.nova.read import provider_traits

    want = qemu.profile_trait(profile)
    state: dict[str, Any] = {}

    def ready() -> bool:
        with contextlib.suppress(Exception):
            hyp = _up_since(conn, host, restarted_at)
            if hyp is None:
                return False
            traits = provider_traits(conn, str(hyp.id))
            stale = [t for t in traits if t.startswith(qemu.TRAIT_PREFIX) and t != want]
            if stale:  # a reinstall to another profile: its old trait goes
                _remove_traits(conn, str(hyp.id), stale)
                return False
            state.update(hypervisor_version=hyp.hypervisor_version, trait=want)
            return want is None or want in traits
        return False
    seed.wait(f"{host} up on {profile}", ready, timeout_s, poll_s=1.0)
    return {"host": host, "profile": profile, **state}


def _remove_traits(conn: Any, provider: str, traits: list[str]) -> None:
    url = f"/resource_providers/{provider}/traits"
    got = conn.placement.get(url, microversion="1.6")
    got.raise_for_status()
    body = got.json()
    keep = [t for t in body["traits"] if t not in traits]
    conn.placement.put(url, json={"traits": keep, "resource_provider_generation":
                                  body["resource_provider_generation"]},
                       microversion="1.6").raise_for_status()


def _after(stamp: str | None, epoch: float) -> bool:
    from datetime import UTC, datetime
    if not stamp:
        return False
    when = datetime.fromisoformat(stamp.rstrip("Z"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp() >= epoch - 1.0


def console_log(workdir: Path, host: str, server_id: str) -> Path:
    """``libvirt`` mode: the console log of server ``server_id`` on compute ``host`` (Nova
    writes it in the instance's directory on that host; a migration starts a new one on the
    destination, the guest's heartbeat counter going on from where it was)."""
    layout = Layout(workdir.resolve())
    record = load_record(layout)
    lab = control.Lab(layout, record, Path(record.venv), control.ports_of(record))
    qhost = lab.qemu_host(host)
    if qhost is None:
        raise InputError(f"the Nova lab in {layout.workdir} has no libvirt compute {host!r} "
                         f"(expected one of: {', '.join(record.qemu_hosts) or 'none'})")
    return qhost.instances_dir / server_id / "console.log"


def set_knob(workdir: Path, name: str, value: str | None) -> None:
    """Set (or clear, with None) a migration knob of the lab's fake driver."""
    if name not in KNOBS:
        raise InputError(f"unknown lab knob {name!r} (expected one of: {', '.join(KNOBS)})")
    path = Layout(workdir.resolve()).state / name
    if value is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(value + "\n")


def remove(workdir: Path) -> None:
    """Delete a stopped lab's work directory."""
    layout = Layout(workdir.resolve())
    if control.running_services(layout):
        raise InputError(f"the Nova lab in {layout.workdir} is up: run down first")
    shutil.rmtree(layout.workdir, ignore_errors=True)


def record_json(workdir: Path) -> str:
    return json.dumps(asdict(load_record(Layout(workdir.resolve()))), indent=2)
