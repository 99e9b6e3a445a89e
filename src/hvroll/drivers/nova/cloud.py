"""The ``nova`` driver: an OpenStack cloud driven through Nova's API, never behind its back.

- scheduling: the host's nova-compute service is disabled with a reason (``hvroll: …``) and
  enabled again;
- live migration: ``os-migrateLive`` to the planned host (never ``force``: Nova's conductor
  still checks the destination), followed through the migration record (memory and disk
  processed/remaining) so the ladder sees convergence; ``abort`` and force-complete
  (:meth:`start_post_copy`) are the ladder's rungs;
- a migration is *completed* only when Nova's record says ``completed`` and the server is
  ACTIVE on the destination with no task (the server's host flips earlier);
- cold migration: ``migrate`` to the host, then ``confirmResize`` once Nova asks for it;
- "is this host empty" is asked of Nova: servers of all projects in every status, and
  migrations still running to or from it;
- reinstall: the operator's hook, in a thread; verification from the hypervisor version
  reported to Nova and, when the host-facts file matches on them, the compute node's placement
  traits (named by the host-facts file).

Jobs and their Nova migrations are remembered in a journal, so after a crash a running Nova
migration is adopted and never started twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hvroll.domain import Fleet, PowerState, SchedulingState
from hvroll.drivers import checks
from hvroll.drivers.base import (
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
from hvroll.drivers.nova.connect import (
    COLD_MIGRATION_MICROVERSION,
    DRIVER_MICROVERSION,
    Microversion,
    negotiate,
    offered_microversions,
    quiet_sdk,
    translate,
)
from hvroll.drivers.nova.facts import HostFacts
from hvroll.drivers.nova.journal import Journal, NovaJob
from hvroll.drivers.nova.read import provider_traits
from hvroll.errors import ConnectionLostError, DriverError, HvrollError, OperationFailedError

MIB = 1024 * 1024
DISABLED_REASON = "hvroll: draining for upgrade"
READ_RETRIES = 2
"""Times a read is asked again at once when Nova's API drops the connection
(:meth:`NovaCloud._read`)."""
RUNNING_STATUSES = frozenset({"queued", "accepted", "pre-migrating", "preparing", "running",
                              "post-migrating", "migrating", "finished", "confirming"})
FAILED_STATUSES = frozenset({"error", "failed"})
SERVER_STATUSES = frozenset({"completed", "confirmed", "finished"})
"""Migration statuses after which the server tells the rest (where it runs, a confirmation
Nova waits for); before them the record alone is the progress."""
CANCELLED_STATUSES = frozenset({"cancelled"})
_POWER = {1: PowerState.RUNNING, 3: PowerState.PAUSED, 4: PowerState.SHUTOFF,
          6: PowerState.CRASHED, 7: PowerState.PAUSED}
ReinstallHook = Callable[[str, str], None]
"""``hook(host, profile)``: returns once the host runs ``profile``, raises otherwise."""


def capabilities_for(microversion: Microversion, *, reinstall: bool) -> frozenset[Capability]:
    """What the driver can do with a Nova whose newest microversion is ``microversion`` (at
    least :data:`DRIVER_MICROVERSION`): live and block migration, force-complete as
    ``post_copy`` (of block migrations too: Nova's libvirt driver switches them to post-copy
    once the disks are mirrored), ``copy_config_drive`` (Nova's own, see
    :meth:`NovaCloud.apply_workaround`); a cold migration to a named host from 2.56;
    ``reinstall`` with a hook.
    Nova's API neither caps a migration's bandwidth nor reports its downtime, nor unplugs a
    guest's balloon (``remove_balloon``)."""
    caps = {Capability.LIVE_MIGRATION, Capability.BLOCK_MIGRATION, Capability.POST_COPY,
            Capability.POST_COPY_BLOCK, Capability.COPY_CONFIG_DRIVE}
    if microversion >= COLD_MIGRATION_MICROVERSION:
        caps.add(Capability.COLD_MIGRATION)
    if reinstall:
        caps.add(Capability.REINSTALL)
    return frozenset(caps)


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _iso(stamp: str | None) -> str:
    return (stamp or "").replace("Z", "").split(".")[0].split("+")[0]


def _figures(sm: Any) -> dict[str, Any]:
    """A server migration's memory and disk progress, in MiB."""
    total = (sm.memory_total_bytes or 0) + (sm.disk_total_bytes or 0)
    processed = (sm.memory_processed_bytes or 0) + (sm.disk_processed_bytes or 0)
    remaining = (sm.memory_remaining_bytes or 0) + (sm.disk_remaining_bytes or 0)
    return {"total_mib": total / MIB, "processed_mib": processed / MIB,
            "remaining_mib": remaining / MIB}


class NovaCloud(Lifecycle):
    """A cloud behind one openstacksdk connection, for the campaign of ``fleet``; its
    capabilities follow the newest microversion the cloud offers (asked once, here)."""

    name = "nova"
    durable = True

    def __init__(self, conn: Any, fleet: Fleet, facts: HostFacts, *,
                 journal: Path | None = None, reinstall_hook: ReinstallHook | None = None,
                 clock: Clock | None = None, poll_s: float = 1.0) -> None:
        cloud = getattr(conn.config, "name", None) or "(unnamed)"
        self.microversion = negotiate(cloud, offered_microversions(conn, cloud),
                                      DRIVER_MICROVERSION, "hvroll's nova driver")
        self.conn = conn
        self.fleet = fleet
        self.facts = facts
        self.clock = clock or RealClock()
        self.poll_s = poll_s
        self.journal = Journal(journal)
        self.hook = reinstall_hook
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._ended: dict[str, None] = {}
        """Jobs that ended in the journal since the last :meth:`wait` (a refused call, a
        hook's outcome): reported once more, so the executor sees how they ended."""
        self._compute_hosts: set[str] = set()
        self._uuid = {v.name: v.uuid for v in fleet.vms}
        self._name = {v.uuid: v.name for v in fleet.vms}
        self.capabilities = capabilities_for(self.microversion,
                                             reinstall=reinstall_hook is not None)

    # --- helpers -------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, at: str | None = None,
              **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` with openstacksdk's errors translated; ``at`` names the
        host an error is about."""
        with quiet_sdk():
            try:
                return fn(*args, **kwargs)
            except HvrollError:
                raise
            except Exception as exc:
                raise translate(exc, what, host=at) from exc

    def _vm_name(self, server: Any) -> str:
        return self._name.get(server.id) or server.name or server.id

    def _server_uuid(self, vm: str) -> str:
        uuid = self._uuid.get(vm)
        if uuid is None:
            raise checks.unknown("VM", vm)
        return uuid

    def _read(self, what: str, fn: Callable[..., Any], *args: Any, at: str | None = None,
              **kwargs: Any) -> Any:
        """:meth:`_call` for a read (a GET: asking again changes nothing), asked again at
        once, up to :data:`READ_RETRIES` times, when Nova's API drops the connection: a
        keep-alive connection nova-api closed between two requests ("Remote end closed
        connection without response", "Connection reset by peer") fails the request sent on
        it, and the next one opens a new connection. A write is never sent twice here."""
        for _ in range(READ_RETRIES):
            try:
                return self._call(what, fn, *args, at=at, **kwargs)
            except ConnectionLostError:
                pass
        return self._call(what, fn, *args, at=at, **kwargs)

    def _server(self, uuid: str, name: str) -> Any:
        """The server, or None if Nova no longer has it (a read: :meth:`_read`)."""
        from openstack import exceptions as sdk_exc

        def get() -> Any:
            try:
                return self.conn.compute.get_server(uuid)
            except sdk_exc.NotFoundException:
                return None
        return self._read(f"reading server {name}", get)

    def _known_host(self, host: str) -> None:
        """``unknown host`` unless Nova has a nova-compute service on ``host`` (the list is
        read once, and again on a name it does not hold)."""
        if host not in self._compute_hosts:
            self._compute_hosts = {s.host for s in self._read(
                "listing compute services", lambda: list(
                    self.conn.compute.services(binary="nova-compute")))}
            if host not in self._compute_hosts:
                raise checks.unknown("host", host)

    def _service(self, host: str) -> Any:
        found = self._read("listing compute services", lambda: list(
            self.conn.compute.services(binary="nova-compute", host=host)))
        if not found:
            raise checks.unknown("host", host)
        return found[0]

    def _servers_on(self, host: str) -> list[Any]:
        servers: list[Any] = self._read(f"listing servers of {host}", lambda: list(
            self.conn.compute.servers(details=True, all_projects=True, compute_host=host)),
            at=host)
        return servers

    # --- live view -----------------------------------------------------------------------

    def host(self, name: str) -> HostState:
        svc = self._service(name)
        servers = self._servers_on(name)
        return HostState(
            name=name, profile=self.host_profile(name),
            scheduling=(SchedulingState.DISABLED if svc.status == "disabled"
                        else SchedulingState.ENABLED),
            up=svc.state == "up", vms=tuple(sorted(self._vm_name(s) for s in servers)))

    def hosts(self) -> list[HostState]:
        return [self.host(h.name) for h in self.fleet.hosts]

    def vm(self, name: str) -> VmState:
        uuid = self._server_uuid(name)
        server = self._server(uuid, name)
        if server is None:
            return VmState(name=name, hosts=(), power=PowerState.SHUTOFF)
        return VmState(name=name, hosts=(server.compute_host,) if server.compute_host else (),
                       power=_POWER.get(server.power_state or 0, PowerState.SHUTOFF))

    def vms(self) -> list[VmState]:
        servers = self._read("listing servers", lambda: list(
            self.conn.compute.servers(details=True, all_projects=True)))
        return [VmState(name=self._vm_name(s),
                        hosts=(s.compute_host,) if s.compute_host else (),
                        power=_POWER.get(s.power_state or 0, PowerState.SHUTOFF))
                for s in servers]

    def host_profile(self, host: str) -> str:
        hyps = self._read("listing hypervisors", lambda: list(
            self.conn.compute.hypervisors(details=True)), at=host)
        hyp = next((h for h in hyps if ((h.service_details or {}).get("host") or h.name)
                    == host), None)
        if hyp is None:
            raise checks.unknown("host", host)
        traits: tuple[str, ...] = ()
        if self.facts.uses_traits:
            traits = self._read(f"reading the placement traits of {host}", provider_traits,
                                self.conn, str(hyp.id), at=host)
        profile = self.facts.profile_for(hyp.hypervisor_type, int(hyp.hypervisor_version or 0),
                                         traits)
        if profile is None:
            raise DriverError(f"hypervisor {hyp.hypervisor_type} {hyp.hypervisor_version} "
                              f"(traits {', '.join(traits) or 'none'}) matches no profile of "
                              "the host-facts file", host=host)
        return profile.name

    def apply_workaround(self, vm: str, action: str) -> None:
        """``copy_config_drive``: nothing to do here, it is Nova's. A read-only iso9660 config
        drive on a local disk goes with Nova's block migration (libvirt 1.2.17 and later copy
        it); a Nova on an older libvirt refuses the move instead of losing the drive
        (``NoBlockMigrationForConfigDriveInLibVirt``, Nova bug 1246201), and the refusal
        ends the attempt with Nova's reason. Nova's API cannot unplug a balloon, so
        ``remove_balloon`` is not declared."""
        checks.workaround(action, (Capability.COPY_CONFIG_DRIVE.value,), vm, self.name)

    def set_scheduling(self, host: str, enabled: bool) -> None:
        svc = self._service(host)
        if enabled and svc.status != "enabled":
            self._call(f"enabling {host}", self.conn.compute.enable_service, svc, at=host)
        elif not enabled and svc.status != "disabled":
            self._call(f"disabling {host}", self.conn.compute.disable_service, svc,
                       disabled_reason=DISABLED_REASON, at=host)

    # --- jobs ----------------------------------------------------------------------------

    def _start(self, job: str, kind: JobKind, vm: str | None, source: str | None,
               dest: str | None, profile: str | None) -> NovaJob | None:
        """The journal record of a new job, or None if ``job`` was started already."""
        found = self.journal.jobs.get(job)
        subject, target = (source or "", profile or "") if kind is JobKind.REINSTALL \
            else (vm or "", dest or "")
        if checks.job_reused(job, found, kind, subject, target):
            return None
        rec = NovaJob(job=job, kind=kind, vm=vm, uuid=self._uuid.get(vm or ""), source=source,
                      dest=dest, profile=profile, started_at=_now_iso(),
                      started_s=self.clock.now())
        self.journal.save(rec)
        return rec

    def _end(self, rec: NovaJob, phase: JobPhase, error: str | None = None) -> None:
        """``rec`` ended: journalled (Nova's outcome as first seen, or one Nova does not
        remember: a refused call, a hook's outcome), and reported by the next :meth:`wait`
        (which otherwise lists only jobs still open)."""
        rec.phase, rec.error = phase.value, error
        with self._lock:
            self.journal.save(rec)
            self._ended[rec.job] = None

    def _running_job_of(self, vm: str) -> str | None:
        for rec in list(self.journal.jobs.values()):
            if rec.vm == vm and rec.kind is not JobKind.REINSTALL and rec.phase is None \
                    and not self.job(rec.job).final:
                return rec.job
        return None

    def migrate(self, job: str, vm: str, dest: str, options: MigrationOptions) -> None:
        checks.migration(self.capabilities, self.name, vm, options)
        if job in self.journal.jobs:
            self._start(job, JobKind.LIVE_MIGRATION, vm, None, dest, None)
            return
        state = self.vm(vm)
        self._known_host(dest)
        source = state.hosts[0] if state.hosts else None
        checks.route(vm, source or "", dest, self._running_job_of(vm))
        rec = self._start(job, JobKind.LIVE_MIGRATION, vm, source, dest, None)
        assert rec is not None
        try:
            self._call(f"live-migrating {vm} to {dest}", self.conn.compute.live_migrate_server,
                       rec.uuid, host=dest, block_migration=options.block)
        except DriverError as exc:
            self._end(rec, JobPhase.FAILED, str(exc))

    def cold_migrate(self, job: str, vm: str, dest: str) -> None:
        if job in self.journal.jobs:
            self._start(job, JobKind.COLD_MIGRATION, vm, None, dest, None)
            return
        state = self.vm(vm)
        self._known_host(dest)
        source = state.hosts[0] if state.hosts else None
        checks.route(vm, source or "", dest, self._running_job_of(vm))
        rec = self._start(job, JobKind.COLD_MIGRATION, vm, source, dest, None)
        assert rec is not None
        try:
            self._call(f"cold-migrating {vm} to {dest}", self.conn.compute.migrate_server,
                       rec.uuid, host=dest)
        except DriverError as exc:
            self._end(rec, JobPhase.FAILED, str(exc))

    def reinstall(self, job: str, host: str, profile: str) -> None:
        if self.hook is None:
            raise DriverError("no reinstall hook configured (--reinstall-cmd)", host=host)
        checks.profile(profile, {m.profile.name for m in self.facts.profiles}, host=host)
        if job in self.journal.jobs:
            self._start(job, JobKind.REINSTALL, None, host, None, profile)
            return
        self._service(host)
        moving = next((m for m in self._read("listing migrations", lambda: list(
            self.conn.compute.migrations(host=host)))
            if m.status in RUNNING_STATUSES), None)
        checks.empty_host(host, [self._vm_name(s) for s in self._servers_on(host)],
                          moving=str(moving.id) if moving is not None else None)
        rec = self._start(job, JobKind.REINSTALL, None, host, None, profile)
        assert rec is not None
        hook = self.hook

        def run() -> None:
            try:
                hook(host, profile)
            except Exception as exc:  # the hook's failure is the job's outcome
                self._end(rec, JobPhase.FAILED, str(exc))
            else:
                self._end(rec, JobPhase.COMPLETED)

        thread = threading.Thread(target=run, name=f"reinstall-{host}", daemon=True)
        self._threads[job] = thread
        thread.start()

    def _migration_of(self, rec: NovaJob) -> Any:
        """The Nova migration of a migration job: its recorded one, else the first of the
        server created at or after the job started (found again after a crash)."""
        kind = "live-migration" if rec.kind is JobKind.LIVE_MIGRATION else "migration"
        migs = self._read("listing migrations", lambda: list(
            self.conn.compute.migrations(server_id=rec.uuid, migration_type=kind)))
        if rec.migration_id is not None:
            return next((m for m in migs if str(m.id) == rec.migration_id), None)
        candidates = sorted((m for m in migs if _iso(m.created_at) >= rec.started_at[:19]),
                            key=lambda m: (_iso(m.created_at), int(m.id)))
        if not candidates:
            return None
        rec.migration_id = str(candidates[0].id)
        self.journal.save(rec)
        return candidates[0]

    def job(self, job: str) -> JobProgress:
        rec = self.journal.jobs.get(job)
        if rec is None:
            raise checks.unknown("job", job)
        base: dict[str, Any] = {"job": job, "kind": rec.kind, "vm": rec.vm,
                                "source": rec.source, "dest": rec.dest,
                                "started_s": rec.started_s,
                                "elapsed_s": max(0.0, (rec.ended_s if rec.ended_s is not None
                                                       else self.clock.now()) - rec.started_s)}
        if rec.kind is JobKind.REINSTALL:
            return self._reinstall_progress(rec, base)
        if rec.phase is not None:
            return JobProgress(phase=JobPhase(rec.phase), error=rec.error,
                               extra=self._extra(rec), total_mib=rec.total_mib,
                               processed_mib=rec.processed_mib,
                               remaining_mib=rec.remaining_mib, **base)
        progress = self._nova_progress(rec, base)
        if progress.total_mib:  # the last figures Nova gave: its record drops them at the end
            rec.total_mib, rec.processed_mib, rec.remaining_mib = \
                progress.total_mib, progress.processed_mib, progress.remaining_mib
        if progress.final:  # Nova's outcome is final: remembered, never asked again
            rec.ended_s = self.clock.now()
            self._end(rec, progress.phase, progress.error)
            return progress._replace(total_mib=rec.total_mib, processed_mib=rec.processed_mib,
                                     remaining_mib=rec.remaining_mib)
        return progress

    @staticmethod
    def _extra(rec: NovaJob) -> dict[str, object]:
        return {"nova_migration": rec.migration_id} if rec.migration_id else {}

    def _nova_progress(self, rec: NovaJob, base: dict[str, Any]) -> JobProgress:
        """A migration job's progress as Nova reports it now: its migration record, and the
        server only once the record says the move is done (or awaits confirmation)."""
        moving = self._moving(rec)
        if moving is not None:
            return JobProgress(phase=JobPhase.RUNNING, **base, **_figures(moving),
                               extra={"nova_migration": str(moving.id),
                                      "nova_status": moving.status})
        mig = self._migration_of(rec)
        if mig is None:
            return JobProgress(phase=JobPhase.RUNNING, **base)
        extra = {"nova_migration": str(mig.id), "nova_status": mig.status}
        if mig.status in FAILED_STATUSES:
            return JobProgress(phase=JobPhase.FAILED, extra=extra,
                               error=self._failure(rec, mig), **base)
        if mig.status in CANCELLED_STATUSES:
            return JobProgress(phase=JobPhase.CANCELLED, extra=extra, **base)
        if mig.status not in SERVER_STATUSES:
            progress = self._progress(rec, mig) if rec.kind is JobKind.LIVE_MIGRATION else {}
            return JobProgress(phase=JobPhase.RUNNING, extra=extra, **base, **progress)
        server = self._read(f"reading server {rec.vm}", self.conn.compute.get_server, rec.uuid)
        if rec.kind is JobKind.COLD_MIGRATION and server.status == "VERIFY_RESIZE" \
                and not rec.confirmed:
            self._call(f"confirming the move of {rec.vm}",
                       self.conn.compute.confirm_server_resize, rec.uuid)
            rec.confirmed = True
            self.journal.save(rec)
        done = mig.status in ("completed", "confirmed") and server.compute_host == rec.dest \
            and server.status == "ACTIVE" and not server.task_state
        if rec.kind is JobKind.COLD_MIGRATION:
            done = mig.status == "confirmed" and server.compute_host == rec.dest
        if done:
            return JobProgress(phase=JobPhase.COMPLETED, extra=extra, **base)
        if mig.status in ("completed", "confirmed") and server.compute_host \
                and server.compute_host != rec.dest and not server.task_state:
            return JobProgress(phase=JobPhase.FAILED, extra=extra, **base,
                               error=f"Nova moved {rec.vm} to {server.compute_host}, not to "
                                     f"the planned {rec.dest}")
        progress = self._progress(rec, mig) if rec.kind is JobKind.LIVE_MIGRATION else {}
        return JobProgress(phase=JobPhase.RUNNING, extra=extra, **base, **progress)

    def _moving(self, rec: NovaJob) -> Any:
        """A live migration job's Nova migration while Nova still runs it, with its progress,
        in one request (the server's migrations in progress); None once it ended, or before
        its id is known (then the migration records tell)."""
        if rec.kind is not JobKind.LIVE_MIGRATION or rec.migration_id is None:
            return None
        with quiet_sdk():
            try:
                running = list(self.conn.compute.server_migrations(rec.uuid))
            except Exception:  # the migration records tell, and translate the error
                return None
        return next((m for m in running if str(m.id) == rec.migration_id), None)

    def _progress(self, rec: NovaJob, mig: Any) -> dict[str, Any]:
        if mig.status != "running":
            return {}
        with quiet_sdk():
            try:
                sm = self.conn.compute.get_server_migration(mig.id, rec.uuid,
                                                            ignore_missing=True)
            except Exception:  # the migration may just have ended: no progress to show
                return {}
        return {} if sm is None else _figures(sm)

    def _failure(self, rec: NovaJob, mig: Any) -> str:
        """Why Nova failed a migration: the error of the server's last action event."""
        reason = f"Nova migration {mig.id} ended {mig.status}"
        with quiet_sdk():
            try:
                actions = [a for a in self.conn.compute.server_actions(rec.uuid)
                           if a.action in ("live-migration", "migrate")]
                if actions:
                    last = max(actions, key=lambda a: a.start_time or "")
                    full = self.conn.compute.get_server_action(last.request_id, rec.uuid)
                    for event in full.events or ():
                        text = (event.get("traceback") if isinstance(event, Mapping)
                                else getattr(event, "traceback", None)) or ""
                        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
                        if lines:
                            return f"{reason}: {lines[-1].strip()}"
                    if full.message:
                        return f"{reason}: {full.message}"
            except Exception:  # the reason is a courtesy: the failure itself is known
                pass
        return reason

    def _reinstall_progress(self, rec: NovaJob, base: dict[str, Any]) -> JobProgress:
        if rec.phase is not None:
            return JobProgress(phase=JobPhase(rec.phase), error=rec.error, **base)
        if rec.job in self._threads:
            return JobProgress(phase=JobPhase.RUNNING, **base)
        # started by an earlier process that stopped: the hook's outcome is lost
        assert rec.source is not None
        if self.host_profile(rec.source) == rec.profile:
            return JobProgress(phase=JobPhase.COMPLETED, **base)
        return JobProgress(phase=JobPhase.FAILED, error="the reinstall hook was interrupted "
                           "(hvroll stopped while it ran)", **base)

    def jobs(self) -> list[JobProgress]:
        return [self.job(j) for j in list(self.journal.jobs)]

    def wait(self, timeout_s: float) -> list[str]:
        """Sleep a poll interval (at most ``timeout_s``); return the jobs that ended in the
        journal meanwhile, then every job still open (Nova is asked by :meth:`job`)."""
        self.clock.sleep(min(timeout_s, self.poll_s))
        with self._lock:
            out, self._ended = self._ended, {}
            out.update((j, None) for j, r in self.journal.jobs.items() if r.phase is None)
        return list(out)

    def _nova_migration(self, job: str, what: str) -> tuple[NovaJob, Any]:
        rec = self.journal.jobs.get(job)
        if rec is None:
            raise checks.unknown("job", job)
        progress = self.job(job)
        checks.live_job(job, rec.kind, progress.phase, what)
        mig = self._migration_of(rec)
        if mig is None:
            raise OperationFailedError(f"cannot {what} {job}: Nova has not started its "
                                       "migration yet", host=rec.source)
        return rec, mig

    def abort(self, job: str) -> None:
        rec, mig = self._nova_migration(job, "abort")
        self._call(f"aborting the migration of {rec.vm}",
                   self.conn.compute.abort_server_migration, mig.id, rec.uuid,
                   at=rec.source)

    def start_post_copy(self, job: str) -> None:
        """Force-complete: Nova switches to post-copy where permitted, else pauses the guest
        until the copy ends."""
        rec, mig = self._nova_migration(job, "force-complete")
        self._call(f"force-completing the migration of {rec.vm}",
                   self.conn.compute.force_complete_server_migration, mig.id, rec.uuid,
                   at=rec.source)

    def close(self) -> None:
        self.journal.close()


def open_cloud(cloud: str | None) -> tuple[Any, HostFacts]:
    """The connection and host-facts file ``hvroll run --driver nova --cloud NAME`` uses,
    checked before anything is written: the cloud in clouds.yaml with its
    ``hvroll_host_facts`` key (``InputError``), a Nova that answers, takes the credentials
    and offers :data:`DRIVER_MICROVERSION` (``DriverError``)."""
    from hvroll.drivers.nova.connect import cloud_extra, connect
    from hvroll.drivers.nova.facts import load_facts
    from hvroll.errors import InputError

    conn = connect(cloud)
    name = getattr(conn.config, "name", None) or cloud or "OS_CLOUD"
    facts_file = cloud_extra(conn, "hvroll_host_facts")
    if not facts_file:
        raise InputError(f"cloud {name}: no 'hvroll_host_facts' key in its clouds.yaml entry "
                         "(the host-facts file naming profiles; docs/nova.md)")
    facts = load_facts(Path(str(facts_file)))
    negotiate(name, offered_microversions(conn, name), DRIVER_MICROVERSION,
              "hvroll's nova driver")
    with quiet_sdk():
        try:  # the first call that needs the credentials
            next(iter(conn.compute.services(binary="nova-compute")), None)
        except Exception as exc:
            raise translate(exc, f"cloud {name}: listing compute services") from exc
    return conn, facts


def nova_cloud(fleet: Fleet, cloud: str | None, *, journal: Path | None,
               settings: Any = None) -> NovaCloud:
    """The driver ``hvroll run --driver nova --cloud NAME`` uses: the cloud from clouds.yaml,
    its host-facts file from the cloud's ``hvroll_host_facts`` key, and the operator's
    reinstall command (``--reinstall-cmd``, with ``{host}`` and ``{profile}``) as hook."""
    from hvroll.drivers.libvirt.hooks import CommandHook

    conn, facts = open_cloud(cloud)
    hook: ReinstallHook | None = None
    command = getattr(settings, "reinstall_cmd", None)
    if command:
        run_hook = CommandHook(command, timeout_s=settings.reinstall_timeout_s,
                               retries=settings.reinstall_retries)
        hosts = fleet.host_by_name

        def hook(host: str, profile: str) -> None:
            run_hook(hosts[host], profile)
    return NovaCloud(conn, fleet, facts, journal=journal, reinstall_hook=hook)
