"""The data behind each page of the dashboard: plain dicts, served as they are under ``/api/…``
and rendered to HTML by the templates (so a page never shows a number its JSON lacks).

Each builder takes a :class:`~hvroll.telemetry.snapshot.Snapshot` (one read of the store).
What is expensive and never changes during a campaign — the computed verification matrix, the
compatibility checker — is cached per campaign.
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from dataclasses import asdict
from functools import lru_cache
from typing import Any

from hvroll.compat.matrix import COLUMN_TITLES, Column, Matrix
from hvroll.compat.verdict import Checker, Verdict
from hvroll.domain.states import HostStepState, MigrationState, Rung
from hvroll.executor.status import holder_view
from hvroll.telemetry.metrics import DOWNTIME_BUCKETS_S, DURATION_BUCKETS_S
from hvroll.telemetry.snapshot import Event, Migration, Snapshot, StateSource, Static
from hvroll.telemetry.views import (
    NOT_IN_PLAN,
    cluster_targets,
    computed_matrix,
    failure_reasons,
    failures,
    filter_migrations,
    histogram,
    hosts_by_cluster,
    observed_matrix,
    per_hour,
    progress,
    quantile,
    row_target,
    waves,
)

HOST_STATES = (*(s.value for s in HostStepState), NOT_IN_PLAN)
MIGRATION_STATES = tuple(s.value for s in MigrationState)
RUNGS = tuple(r.value for r in Rung)
MAX_ROWS = 5000
"""Most migrations one page (or ``/api/migrations`` call) lists."""


@lru_cache(maxsize=4)
def matrix_of(static: Static) -> Matrix:
    """The computed matrix of a campaign (seconds on a 35,000-VM fleet: computed once)."""
    return computed_matrix(static)


@lru_cache(maxsize=4)
def checker_of(static: Static) -> Checker:
    return Checker(static.fleet)


def event_data(e: Event) -> dict[str, Any]:
    return {"id": e.id, "t_s": e.t_s, "kind": e.kind, "host": e.host, "vm": e.vm,
            "message": e.message, "data": e.data}


def migration_data(m: Migration) -> dict[str, Any]:
    out = asdict(m)
    out["rungs"] = list(m.rungs)
    return out


# -- pages ----------------------------------------------------------------------------------

def overview(snap: Snapshot) -> dict[str, Any]:
    """Progress per region and wave, ETA, what needs an operator, the latest events."""
    plan = snap.plan
    return {
        "status": snap.status(),
        "regions": [r.data() for r in progress(snap)],
        "drivers": drivers(snap),
        "waves": waves(snap),
        "failures": [f.data() for f in failures(snap)],
        "pending_controls": list(snap.pending_controls),
        "events": [event_data(e) for e in snap.recent_events],
        "per_hour": [{"hour": h, "completed": c, "failed": f}
                     for h, c, f in per_hour(snap.migrations, snap.campaign.started_s or 0.0)],
        "plan": {"strategy": plan.strategy.value, "target": plan.target,
                 "waves": len(plan.waves), "hosts": plan.summary.hosts,
                 "skipped_hosts": [{"host": s.host, "reason": s.reason} for s in plan.skipped],
                 "unmovable": len(plan.unmovable)},
        "campaign": {"started_s": snap.campaign.started_s,
                     "finished_s": snap.campaign.finished_s,
                     "clock_s": snap.campaign.clock_s, "approved": snap.campaign.approved},
    }


def drivers(snap: Snapshot, *, now: float | None = None,
            here: str | None = None) -> dict[str, dict[str, Any]]:
    """Region → its executor's state and who drives it (``worker``: ``PID@HOST``, as a
    ``hvroll worker`` names itself by default; ``holder``: the region lease's row, as ``hvroll
    status`` shows it), for regions driven by their own executors (``hvroll run --region``,
    ``hvroll worker``). Empty when one process drives the whole campaign."""
    now = time.time() if now is None else now
    here = socket.gethostname() if here is None else here
    out: dict[str, dict[str, Any]] = {}
    for region in sorted(snap.region_runs.keys() | snap.region_leases.keys()):
        holder = holder_view(snap.region_leases.get(region), now=now, here=here)
        out[region] = {"state": snap.region_runs.get(region, "pending"), "holder": holder,
                       "worker": None if holder is None
                       else f"{holder['pid']}@{holder['host']}"}
    return out


def hosts(snap: Snapshot) -> dict[str, Any]:
    """Every host by cluster, in the state of its latest step."""
    clusters = hosts_by_cluster(snap)
    counts = Counter(h.state for c in clusters for h in c.hosts)
    return {
        "states": {s: counts[s] for s in HOST_STATES if counts[s]},
        "clusters": [{"cluster": c.cluster, "region": c.region, "counts": c.counts(),
                      "hosts": [h.data() for h in c.hosts]} for c in clusters],
    }


def matrix(snap: Snapshot) -> dict[str, Any]:
    """The verification matrix, with the canary wave's observed cells."""
    result = observed_matrix(matrix_of(snap.static), snap)
    data = result.data()
    for row, row_data in zip(result.rows, data["rows"], strict=True):
        row_data["target"] = row_target(row, result.target.name)
        for column in Column:
            row_data["cells"][column.value]["symbol"] = row.cells[column].symbol()
    data["clusters"] = cluster_targets(snap.static)
    data["column_order"] = [c.value for c in Column]
    data["column_titles"] = {c.value: COLUMN_TITLES[c] for c in Column}
    return data


def migrations(snap: Snapshot, *, state: str | None = None, region: str | None = None,
               rung: str | None = None, vm: str | None = None, limit: int = 200,
               offset: int = 0) -> dict[str, Any]:
    """Migrations matching the filters (a page of them), and distributions over all that
    match: per hour, elapsed time and downtime histograms, failure reasons."""
    matching = filter_migrations(snap.migrations, state=state, region=region, rung=rung, vm=vm)
    limit = max(1, min(limit, MAX_ROWS))
    offset = max(0, offset)
    done = [m for m in matching if m.state == MigrationState.COMPLETED.value]
    elapsed = [m.elapsed_s for m in done if m.elapsed_s is not None]
    downtime = [m.downtime_ms / 1000.0 for m in done
                if m.downtime_ms is not None and m.kind != "cold"]
    start = snap.campaign.started_s or 0.0
    return {
        "filters": {"state": state, "region": region, "rung": rung, "vm": vm},
        "options": {"state": list(MIGRATION_STATES),
                    "region": sorted({m.region for m in snap.migrations}),
                    "rung": list(RUNGS)},
        "total": len(snap.migrations),
        "matching": len(matching),
        "offset": offset,
        "limit": limit,
        "rows": [migration_data(m) for m in matching[offset:offset + limit]],
        "per_hour": [{"hour": h, "completed": c, "failed": f}
                     for h, c, f in per_hour(matching, start)],
        "duration": _distribution(elapsed, DURATION_BUCKETS_S),
        "downtime": _distribution(downtime, DOWNTIME_BUCKETS_S),
        "failure_reasons": [{"reason": r, "count": n, "examples": ex}
                            for r, n, ex in failure_reasons(matching)],
    }


def _distribution(values: list[float], edges: tuple[float, ...]) -> dict[str, Any]:
    return {"unit": "s", "edges": list(edges), "counts": histogram(values, edges),
            "count": len(values),
            "p50": quantile(values, 0.5), "p90": quantile(values, 0.9),
            "p99": quantile(values, 0.99), "max": max(values, default=None)}


def vm(source: StateSource, snap: Snapshot, name: str) -> dict[str, Any] | None:
    """One VM: what it is, its compatibility verdicts for its moves, and every migration of
    it with each attempt (rung, options, outcome). None when the fleet has no such VM."""
    fleet = snap.fleet
    found = fleet.vm_by_name.get(name)
    if found is None:
        return None
    history = source.vm_history(name)
    checker = checker_of(snap.static)
    targets = {s.host: s.target for s in snap.steps}
    verdicts = []
    for m, _attempts in history.migrations:
        src, dest = fleet.host_by_name.get(m.source), fleet.host_by_name.get(m.dest)
        if src is None or dest is None:
            continue
        profile = fleet.profile_by_name.get(targets.get(dest.name, dest.profile))
        move = (checker.cold_migration if m.kind == "cold" else checker.migration)(
            found, src, dest, dest_profile=profile)
        boot = checker.spawn(found, dest, profile=profile)
        verdicts.append({"move": f"{m.kind} {m.source} → {m.dest}",
                         "profile": profile.name if profile else dest.profile,
                         "migration": _verdict(move), "next_boot": _verdict(boot)})
    unmovable = [{"host": u.host, "reason": u.reason, "action": u.action.value}
                 for u in snap.plan.unmovable if u.vm == name]
    host = fleet.host_by_name.get(found.host)
    return {
        "vm": {
            "name": found.name, "uuid": found.uuid, "host": found.host,
            "cluster": host.cluster if host else None,
            "generation": host.generation if host else None,
            "profile": host.profile if host else None,
            "guest": found.guest.label, "smap_support": found.guest.smap_support,
            "vcpus": found.vcpus, "ram_mib": found.ram_mib, "power": found.power.value,
            "cpu_mode": found.cpu.mode.value, "cpu_model": found.cpu.model,
            "disks": [{"kind": d.kind.value, "size_gib": d.size_gib} for d in found.disks],
            "balloon": found.devices.balloon,
            "config_drive": found.devices.config_drive.value,
            "passthrough": [p.value for p in found.devices.passthrough],
            "server_group": found.server_group, "tenant": found.tenant,
            "internal": found.internal,
            "live_migrations_since_power_cycle":
                found.history.live_migrations_since_power_cycle,
        },
        "verdicts": verdicts,
        "unmovable": unmovable,
        "migrations": [{**migration_data(m), "attempts": [asdict(a) for a in attempts]}
                       for m, attempts in history.migrations],
        "events": [event_data(e) for e in history.events],
    }


def _verdict(v: Verdict) -> dict[str, Any]:
    return {"kind": v.kind.value, "workarounds": list(v.workarounds),
            "reasons": [{"code": r.code, "kind": r.kind.value, "message": r.message,
                         "action": r.action} for r in v.reasons]}
