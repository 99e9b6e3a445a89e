"""Real libvirt hosts as a driver: the executor drives them exactly as it drives the simulator.

::

    cloud = LibvirtCloud(load_fleet("hosts.yaml"), reinstall_hook=CommandHook(
        "ansible-playbook reinstall.yml -l {host} -e profile={profile}"))
    cloud.migrate("m1", "vm-17", "hv-02", MigrationOptions(max_downtime_ms=300))
    while not cloud.job("m1").final:
        cloud.wait(5.0)
    cloud.job("m1").downtime_ms     # the real downtime, from libvirt's completed statistics

Every host is reached at its inventory ``libvirt_uri``. Live migrations are peer-to-peer
``migrateToURI3`` calls (flags in :mod:`hvroll.drivers.libvirt.stats`), one thread each; the
public methods read what those threads record and never block on a migration. Requests that
cannot start raise :class:`~hvroll.errors.DriverError` naming the host; reinstalling a host
that holds a domain raises :class:`~hvroll.errors.SafetyError`; both leave the cloud unchanged.
Operations that start and then fail end their job ``failed`` with libvirt's reason in
``error``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from hvroll.domain import Fleet, Host, PowerState, SchedulingState
from hvroll.domain.versions import upstream_version
from hvroll.drivers import checks
from hvroll.drivers.base import (
    WORKAROUND_CAPABILITY,
    Capability,
    Clock,
    HostState,
    JobKind,
    JobPhase,
    JobProgress,
    Lifecycle,
    MigrationOptions,
    RealClock,
    VmState,
)
from hvroll.drivers.libvirt import live, moves
from hvroll.drivers.libvirt.core import Core, Job, Settings
from hvroll.drivers.libvirt.discovery import discover
from hvroll.drivers.libvirt.hooks import ReinstallHook
from hvroll.drivers.libvirt.ledger import Ledger
from hvroll.drivers.libvirt.stats import flag_names, migration_flags, migration_params
from hvroll.errors import CapabilityError, ConnectionLostError, DriverError
from hvroll.virt import domxml
from hvroll.virt.binding import host_versions, qemu_module
from hvroll.virt.domxml import placement
from hvroll.virt.iface import InterfaceStats, normalize_iface_stats

ProfileSource = Callable[[Host, tuple[str, str]], str]
"""``source(host, (qemu_version, libvirt_version))``: the profile a host runs now."""
GuestProbe = Callable[[str], "bool | None"]
"""``probe(vm)``: does the guest answer; None if it cannot be known."""

WORKAROUNDS = ("remove_balloon", "copy_config_drive", "use_migrate_uri3")
"""Workarounds this driver applies. ``remove_balloon`` unplugs the guest's virtio balloon
through the QEMU monitor (``device_del balloon0``) until its next start; ``copy_config_drive``
is a no-op on shared storage and ``use_migrate_uri3`` one because every migration uses
``migrateToURI3``: both are only recorded."""


class LibvirtCloud(Lifecycle):
    """The libvirt hosts of ``fleet`` as a :class:`~hvroll.drivers.base.Driver`.

    ``reinstall_hook`` reinstalls an empty host (without one, reinstall is not a capability);
    ``journal`` is where hvroll records scheduling marks and its jobs (see
    :mod:`~hvroll.drivers.libvirt.ledger`; None: in memory); ``profile_source`` tells a host's
    profile (default: the inventory profile whose QEMU and libvirt versions the daemon
    reports); ``guest_probe`` tells whether a guest answers (default: unknown, so a running
    domain counts as reachable). ``poll_s`` (default 0.5 s), ``bandwidth_mib_s`` and
    ``shared_paths`` override ``settings``. The clock stamps jobs; waits are real time.
    """

    name = "libvirt"
    durable = True

    def __init__(self, fleet: Fleet, *, reinstall_hook: ReinstallHook | None = None,
                 clock: Clock | None = None, poll_s: float | None = None,
                 journal: Path | None = None, bandwidth_mib_s: float | None = None,
                 shared_paths: Sequence[Path] = (), profile_source: ProfileSource | None = None,
                 guest_probe: GuestProbe | None = None,
                 settings: Settings | None = None) -> None:
        base = settings or Settings()
        self.settings = replace(base, poll_s=poll_s if poll_s is not None else base.poll_s,
                                bandwidth_mib_s=bandwidth_mib_s if bandwidth_mib_s is not None
                                else base.bandwidth_mib_s,
                                shared_paths=tuple(Path(p) for p in shared_paths)
                                or base.shared_paths)
        self.clock: Clock = clock or RealClock()
        self.fleet = fleet
        self.capabilities = frozenset(Capability) - {Capability.POST_COPY_BLOCK} - (
            frozenset() if reinstall_hook else {Capability.REINSTALL})
        self._hook = reinstall_hook
        self._profile_source = profile_source or self._profile_by_versions
        self._guest_probe = guest_probe
        self._ledger = Ledger(journal)
        self._core = Core(fleet, self.settings, self.clock, self._ledger)
        replayed = self._ledger.state.scheduling
        self._scheduling = {h.name: replayed.get(h.name, h.scheduling
                                                 is SchedulingState.ENABLED)
                            for h in fleet.hosts}
        self._profiles: dict[str, str] = {}
        self._closed = False

    @property
    def poll_s(self) -> float:
        return self.settings.poll_s

    @property
    def reinstall_hook(self) -> ReinstallHook | None:
        return self._hook

    # --- what the cloud looks like ----------------------------------------------------------

    def hosts(self) -> list[HostState]:
        """Every host; one whose daemon does not answer is ``up=False`` with no VMs listed
        (unknown: :meth:`host` raises for it instead)."""
        out = []
        for name in self._core.hosts:
            try:
                out.append(self.host(name))
            except ConnectionLostError:
                out.append(self._down(name))
        return out

    def host(self, name: str) -> HostState:
        """A host's live state. Its ``vms`` are every domain its daemon lists, persistent or
        not (an incoming migration's too): a host is empty only when libvirt has nothing on
        it. Raises ``ConnectionLostError`` if the daemon does not answer, unless hvroll's own
        reinstall of the host is running or did not complete (``up=False``, no VMs)."""
        core = self._core
        core.link(name)
        with core.lock:
            if name in core.reinstalling:
                return self._down(name)
        try:
            seen = core.seen_on(name)
        except ConnectionLostError:
            if core.quiet(name):
                return self._down(name)
            raise
        return HostState(name=name, profile=self._profile_label(name),
                         scheduling=self._scheduling_state(name), up=True,
                         vms=tuple(sorted({s.name for s in seen})))

    def _down(self, name: str) -> HostState:
        return HostState(name=name, profile=self._profile_label(name),
                         scheduling=self._scheduling_state(name), up=False, vms=())

    def vms(self) -> list[VmState]:
        """Every domain of every host, one entry per name, where it is defined (see
        :func:`~hvroll.virt.domxml.placement`). Raises ``ConnectionLostError`` if
        a host that may hold VMs does not answer."""
        by_name: dict[str, list[domxml.Seen]] = {}
        for seen in self._core.scan():
            by_name.setdefault(seen.name, []).append(seen)
        out = []
        for name, copies in sorted(by_name.items()):
            hosts, power = placement(copies)
            out.append(VmState(name=name, hosts=hosts, power=power))
        return out

    def vm(self, name: str) -> VmState:
        """Where ``name`` is defined; a VM of the inventory that no host has is ``hosts=()``,
        a name neither the inventory nor any host knows is ``unknown VM``."""
        hosts, power, copies = self._core.locate(name)
        if not copies and name not in self.fleet.vm_by_name:
            raise checks.unknown("VM", name, "neither the inventory nor any host has it")
        return VmState(name=name, hosts=hosts, power=power)

    def job(self, job: str) -> JobProgress:
        self._adopt_pending()
        with self._core.lock:
            found = self._core.jobs.get(job)
            if found is None:
                raise checks.unknown("job", job, "this driver and its journal never started it")
            return found.progress(self.clock.now())

    def jobs(self) -> list[JobProgress]:
        """Every job of this driver and of its journal, running or ended."""
        self._adopt_pending()
        now = self.clock.now()
        with self._core.lock:
            return [j.progress(now) for j in self._core.jobs.values()]

    def host_profile(self, host: str) -> str:
        """The profile ``host`` runs now, asked of its daemon and the profile source (raises
        ``ConnectionLostError`` while the daemon does not answer)."""
        h = self._host(host)
        versions = self._core.link(host).call("ask its versions", host_versions)
        profile = self._profile_source(h, versions)
        self._profiles[host] = profile
        return profile

    def probe(self, vm: str) -> bool:
        """Running on exactly one host, and the guest probe (if any) says it answers. Without
        a guest probe a running domain counts as reachable: libvirt cannot see inside."""
        self._declared(Capability.PROBE)
        hosts, power, _ = self._core.locate(vm)
        if len(hosts) != 1 or power is not PowerState.RUNNING:
            return False
        if self._guest_probe is not None:
            answer = self._guest_probe(vm)
            if answer is not None:
                return answer
        return True

    # --- time -------------------------------------------------------------------------------

    def wait(self, timeout_s: float) -> list[str]:
        """Sleep until a job ends or a migration starts a new pass, at most ``min(timeout_s,
        poll_s)``; return the jobs that changed and every running one."""
        self._adopt_pending()
        limit = max(0.0, min(timeout_s, self.settings.poll_s))
        if limit > 0:
            self._core.wakeup.wait(limit)
        self._core.wakeup.clear()
        return self._core.take_changed()

    # --- changes ----------------------------------------------------------------------------

    def set_scheduling(self, host: str, enabled: bool) -> None:
        """Recorded by hvroll in its journal (plain libvirt has no scheduler): other tools
        placing VMs must read it there."""
        self._check_open()
        self._host(host)
        if self._scheduling.get(host) != enabled:
            self._scheduling[host] = enabled
            self._ledger.scheduling(host, enabled)

    def migrate(self, job: str, vm: str, dest: str, options: MigrationOptions) -> None:
        self._check_open()
        core = self._core
        if self._known(job, JobKind.LIVE_MIGRATION, vm, dest):
            return
        checks.migration(self.capabilities, self.name, vm, options)
        source = self._check_route(vm, dest)
        lv = core.lv
        xml = core.link(source).call("read the domain's definition",
                                     lambda c: c.lookupByName(vm).XMLDesc(0))
        shared = self.settings.shared_paths
        if options.block:
            on_shared = [d.path for d in domxml.disks(xml, shared)
                         if d.source_type == "file" and d.kind.value == "shared"]
            if on_shared:
                raise DriverError(f"cannot block-migrate {vm}: {on_shared[0]} is on shared "
                                  f"storage, and copying it would write it onto itself",
                                  host=source)
        flags = migration_flags(lv, options, unsafe=domxml.needs_unsafe(xml, shared))
        params = migration_params(lv, options, self.settings.bandwidth_mib_s)
        record = Job(id=job, kind=JobKind.LIVE_MIGRATION, started_s=self.clock.now(), vm=vm,
                     source=source, dest=dest, options=options,
                     flags=tuple(flag_names(lv, flags)))
        bandwidth = params.get(lv.VIR_MIGRATE_PARAM_BANDWIDTH)
        record.extra.update(max_downtime_ms=options.max_downtime_ms, bandwidth_mib_s=bandwidth)
        core.add(record, vm=vm, source=source, dest=dest, flags=list(record.flags),
                 options={"max_downtime_ms": options.max_downtime_ms,
                          "bandwidth_mib_s": options.bandwidth_mib_s,
                          "auto_converge": options.auto_converge,
                          "post_copy": options.post_copy, "block": options.block})
        live.start(core, record, core.link(dest).uri, params, flags)

    def cold_migrate(self, job: str, vm: str, dest: str) -> None:
        """Move a VM's definition (shared storage: disks are not copied); a running VM is shut
        down first (destroyed after ``shutdown_timeout_s``) and started on ``dest``."""
        self._check_open()
        self._declared(Capability.COLD_MIGRATION)
        core = self._core
        if self._known(job, JobKind.COLD_MIGRATION, vm, dest):
            return
        hosts, power, copies = core.locate(vm)
        if not copies:
            raise checks.unknown("VM", vm, "no host of the inventory has it")
        if len(hosts) != 1:
            raise DriverError(f"cannot cold-migrate {vm}: it is defined on {len(hosts)} hosts "
                              f"({', '.join(hosts) or 'none'})")
        source = self._check_route(vm, dest, source=hosts[0])
        was_running = power in (PowerState.RUNNING, PowerState.PAUSED)
        record = Job(id=job, kind=JobKind.COLD_MIGRATION, started_s=self.clock.now(), vm=vm,
                     source=source, dest=dest)
        core.add(record, vm=vm, source=source, dest=dest, was_running=was_running)
        moves.start(moves.run_cold, core, record, was_running, name=f"cold-{job}")

    def reinstall(self, job: str, host: str, profile: str) -> None:
        self._check_open()
        if self._hook is None:
            raise CapabilityError(Capability.REINSTALL.value, self.name,
                                  "no reinstall hook is configured (hvroll run --reinstall-cmd, "
                                  "or reinstall_hook=, e.g. a CommandHook running your "
                                  "playbook)")
        core = self._core
        if self._known(job, JobKind.REINSTALL, host, profile):
            return
        self._host(host)
        checks.profile(profile, self.fleet.profile_by_name, host=host)
        with core.lock:
            running = core.reinstalling.get(host)
        if running is not None:
            raise DriverError(f"reinstall {running} is still running", host=host)
        moving = core.moving_through(host)
        checks.empty_host(host, self.host(host).vms if moving is None else (),
                          moving=moving.id if moving is not None else None,
                          what="domain(s) in libvirt")
        record = Job(id=job, kind=JobKind.REINSTALL, started_s=self.clock.now(), source=host,
                     profile=profile)
        with core.lock:
            core.reinstalling[host] = job
            core.reinstall_pending.add(host)
        core.add(record, host=host, profile=profile)
        moves.start(moves.run_reinstall, core, record, self._hook, name=f"reinstall-{job}")

    def set_max_downtime(self, job: str, downtime_ms: int) -> None:
        j = self._live_job(job, "set the max downtime of")
        checks.downtime(job, downtime_ms, host=j.source)
        vm = j.vm
        self._core.link(j.source or "").call(
            f"set the max downtime of {job}",
            lambda c: c.lookupByName(vm).migrateSetMaxDowntime(downtime_ms))
        with self._core.lock:
            j.extra["max_downtime_ms"] = downtime_ms

    def start_post_copy(self, job: str) -> None:
        """Switch a migration started with ``post_copy`` to post-copy now (a no-op if it
        switched already or ended meanwhile)."""
        j = self._live_job(job, "switch to post-copy")
        if j.phase is JobPhase.POSTCOPY:
            return
        if j.options is None or not j.options.post_copy:
            raise DriverError(f"cannot switch {job} to post-copy: it was started without "
                              f"post_copy=True", host=j.source)
        vm = j.vm
        try:
            self._core.link(j.source or "").call(
                f"switch {job} to post-copy", lambda c: c.lookupByName(vm).migrateStartPostCopy(0))
        except DriverError:
            if j.ended:
                return
            raise
        with self._core.lock:
            if not j.ended:
                j.phase = JobPhase.POSTCOPY
        self._core.notify(j)

    def abort(self, job: str) -> None:
        """Cancel a running live migration; the VM keeps running on its source."""
        core, lv = self._core, self._core.lv
        j = self._live_job(job, "abort")
        if j.phase is JobPhase.POSTCOPY:
            raise DriverError(f"cannot abort {job}: it runs in post-copy, the guest already "
                              f"runs on {j.dest}", host=j.source)
        with core.lock:
            j.aborting = True
        vm = j.vm

        def cancel(conn: Any) -> bool:
            try:
                conn.lookupByName(vm).abortJob()
            except lv.libvirtError as exc:
                if exc.get_error_code() == lv.VIR_ERR_OPERATION_INVALID:
                    return False  # no job yet: the worker is about to start it
                raise
            return True

        deadline = self.clock.now() + self.settings.abort_grace_s
        while not j.done.is_set():
            if core.link(j.source or "").call(f"abort {job}", cancel):
                return
            if self.clock.now() >= deadline:
                raise DriverError(f"cannot abort {job}: libvirt shows no migration job on "
                                  f"{vm}", host=j.source, retryable=True)
            self.clock.sleep(0.05)

    def suspend(self, vm: str) -> None:
        self._set_power(vm, "suspend", lambda dom: dom.suspend(), PowerState.PAUSED)

    def resume(self, vm: str) -> None:
        self._set_power(vm, "resume", lambda dom: dom.resume(), PowerState.RUNNING)

    def _set_power(self, vm: str, op: str, act: Callable[[Any], Any],
                   after: PowerState) -> None:
        _, power, _ = self._core.locate(vm)
        if power is after:
            return
        host = self._core.active_host(vm)
        self._core.link(host).call(f"{op} {vm}", lambda c: act(c.lookupByName(vm)))

    def apply_workaround(self, vm: str, action: str) -> None:
        self._check_open()
        checks.workaround(action, WORKAROUNDS, vm, self.name)
        wanted = WORKAROUND_CAPABILITY.get(action)
        if wanted is not None:
            self._declared(wanted)
        if action == "remove_balloon":
            host = self._core.active_host(vm)
            reply = self._core.link(host).call(f"unplug {vm}'s balloon",
                                               lambda c: _hmp(c.lookupByName(vm),
                                                              "device_del balloon0"))
            if reply.strip() and "not found" not in reply:
                raise DriverError(f"cannot unplug {vm}'s balloon: QEMU says {reply.strip()!r}",
                                  host=host)
        self._ledger.workaround(vm, action)

    # --- beyond the protocol ------------------------------------------------------------------

    def discover(self) -> Fleet:
        """The inventory as the daemons describe it now (see
        :mod:`~hvroll.drivers.libvirt.discovery`)."""
        return discover(self.fleet, self._core.links, self._core.lv, self.settings.shared_paths)

    def placement(self) -> dict[str, tuple[str, ...]]:
        """Every VM and the hosts it is defined on."""
        return {v.name: v.hosts for v in self.vms()}

    def interface_stats(self, vm: str) -> dict[str, dict[str, int]]:
        """Traffic counters of each interface of a running VM, by MAC address (the tap's name
        changes at every start and migration), from the guest's point of view whatever the
        daemon's libvirt version and the interface type
        (:func:`hvroll.virt.iface.normalize_iface_stats`)."""
        host = self._core.active_host(vm)

        def read(conn: Any) -> tuple[str, dict[str, tuple[str, tuple[int, ...]]]]:
            dom = conn.lookupByName(vm)
            return (host_versions(conn)[1],
                    {mac: (kind, tuple(dom.interfaceStats(dev)))
                     for mac, dev, kind in domxml.interfaces(dom.XMLDesc(0))})

        libvirt_version, raw = self._core.link(host).call(f"read {vm}'s interface counters",
                                                          read)
        return {mac: dataclasses.asdict(normalize_iface_stats(
                    InterfaceStats.from_libvirt(counters), libvirt_version, kind))
                for mac, (kind, counters) in raw.items()}

    def close(self) -> None:
        """Close the connections and the journal; running migrations go on in libvirt (a
        driver opened on the same journal follows them)."""
        self._closed = True
        for link in self._core.links.values():
            link.reset()
        self._ledger.close()

    # --- helpers ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise DriverError("this libvirt driver was closed; open a new one (on the same "
                              "journal to follow its jobs)")

    def _adopt_pending(self) -> None:
        core = self._core
        with core.lock:
            pending = [j for j in core.jobs.values() if j.pending and not j.ended]
        for job in pending:
            try:
                if job.kind is JobKind.LIVE_MIGRATION:
                    live.adopt(core, job)
                else:
                    with core.lock:
                        job.pending = False
                    moves.start(moves.run_cold, core, job, bool(
                        self._ledger.state.jobs[job.id].fields.get("was_running")),
                        name=f"cold-{job.id}")
            except ConnectionLostError:
                continue  # its host does not answer yet: try again at the next call

    def _known(self, job: str, kind: JobKind, subject: str, target: str) -> bool:
        with self._core.lock:
            found = self._core.jobs.get(job)
        return checks.job_reused(job, found, kind, subject, target)

    def _declared(self, capability: Capability) -> None:
        if capability not in self.capabilities:
            raise CapabilityError(capability.value, self.name)

    def _check_route(self, vm: str, dest: str, *, source: str | None = None) -> str:
        core = self._core
        self._host(dest)
        running = core.running_on(vm)
        if running is not None:
            checks.route(vm, running.source or "", dest, running.id)
        source = source or core.active_host(vm)
        checks.route(vm, source, dest, None)
        with core.lock:
            busy = core.reinstalling.get(dest)
        if busy is not None:
            raise DriverError(f"cannot move {vm} there: the host is being reinstalled by "
                              f"{busy}", host=dest)
        core.link(dest).connection()  # raises ConnectionLostError naming the host
        return source

    def _host(self, name: str) -> Host:
        found = self._core.hosts.get(name)
        if found is None:
            raise checks.unknown("host", name, "not in the driver's inventory")
        return found

    def _live_job(self, job: str, what: str) -> Job:
        with self._core.lock:
            j = self._core.jobs.get(job)
        if j is None:
            raise checks.unknown("job", job)
        checks.live_job(job, j.kind, j.phase, what, host=j.source)
        return j

    def _scheduling_state(self, host: str) -> SchedulingState:
        return SchedulingState.ENABLED if self._scheduling.get(host, True) \
            else SchedulingState.DISABLED

    def _profile_label(self, host: str) -> str:
        """The profile last read from the host (cheap: for host lists)."""
        known = self._profiles.get(host)
        if known is None:
            try:
                known = self.host_profile(host)
            except DriverError:
                known = self._core.hosts[host].profile
        return known

    def _profile_by_versions(self, host: Host, versions: tuple[str, str]) -> str:
        """The inventory profile with these QEMU and libvirt versions (upstream versions: the
        inventory may write a distribution's ``3.2.0-14.el7_4.9``); when several have them,
        the one hvroll last reinstalled the host with, else the inventory's."""
        live = (upstream_version(versions[0]), upstream_version(versions[1]))
        matches = [p.name for p in self.fleet.profiles
                   if (p.qemu_upstream, p.libvirt_upstream) == live]
        if len(matches) == 1:
            return matches[0]
        with self._core.lock:
            done = [j for j in self._core.jobs.values() if j.kind is JobKind.REINSTALL
                    and j.source == host.name and j.phase is JobPhase.COMPLETED]
        last = max(done, key=lambda j: j.started_s).profile if done else None
        for choice in (last, host.profile):
            if choice in matches:
                return choice
        raise DriverError(f"reports QEMU {versions[0]} and libvirt {versions[1]}, which "
                          f"{'several' if matches else 'no'} profile(s) of the inventory "
                          f"have ({', '.join(matches) or 'none'}); pass profile_source= to "
                          f"tell them apart", host=host.name)

    def __repr__(self) -> str:
        core = getattr(self, "_core", None)
        if core is None:
            return "LibvirtCloud(<not initialised>)"
        running = sum(1 for j in core.jobs.values() if not j.ended)
        return f"LibvirtCloud(hosts={len(core.hosts)}, jobs={len(core.jobs)}, running={running})"


def _hmp(dom: Any, command: str) -> str:
    qemu = qemu_module()
    return str(qemu.qemuMonitorCommand(dom, command,
                                       qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP))
