"""What the dashboard, the report and the metrics show, computed from a :class:`Snapshot`.

Pure functions over plain rows: progress per region and wave, hosts per cluster, the
failures that need an operator, migrations per hour, distributions, failure reasons, the
verification matrix with the canary wave's observed cells, and the hosts' timeline.
Times are campaign seconds (the executor's clock: virtual under the simulator).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hvroll.compat.matrix import Column, Matrix, Row, build_matrix
from hvroll.compat.target import Targets
from hvroll.domain.states import TERMINAL_HOST, HostStepState, MigrationState
from hvroll.telemetry.snapshot import Migration, Snapshot, Static, Step

NOT_IN_PLAN = "not_in_plan"
"""A host of the fleet that the plan leaves alone (already on its target, or not upgraded)."""

_DONE_HOST = frozenset(s.value for s in TERMINAL_HOST)
_COMPLETED = MigrationState.COMPLETED.value
_FAILED = MigrationState.FAILED.value
_SKIPPED = MigrationState.SKIPPED.value


# -- progress ---------------------------------------------------------------------------------

@dataclass(slots=True)
class Tally:
    """Hosts and migrations of one region (or one region's wave)."""

    hosts: int = 0
    hosts_done: int = 0
    hosts_failed: int = 0
    hosts_skipped: int = 0
    hosts_active: int = 0
    migrations: int = 0
    migrations_done: int = 0
    migrations_failed: int = 0

    @property
    def state(self) -> str:
        """``failed``, ``done``, ``active`` or ``pending``."""
        if self.hosts_failed or self.migrations_failed:
            return "failed"
        finished = self.hosts_done + self.hosts_skipped
        if finished == self.hosts and self.migrations_done == self.migrations:
            return "done"
        if self.hosts_active or self.hosts_done or self.migrations_done:
            return "active"
        return "pending"

    @property
    def ratio(self) -> float:
        """Finished share of the work: migrations, or hosts when nothing moves."""
        if self.migrations:
            return self.migrations_done / self.migrations
        finished = self.hosts_done + self.hosts_failed + self.hosts_skipped
        return finished / self.hosts if self.hosts else 1.0

    def data(self) -> dict[str, Any]:
        return {"hosts": self.hosts, "hosts_done": self.hosts_done,
                "hosts_failed": self.hosts_failed, "hosts_skipped": self.hosts_skipped,
                "hosts_active": self.hosts_active,
                "migrations": self.migrations, "migrations_done": self.migrations_done,
                "migrations_failed": self.migrations_failed, "state": self.state,
                "ratio": round(self.ratio, 4)}


@dataclass(slots=True)
class RegionProgress:
    region: str
    total: Tally = field(default_factory=Tally)
    waves: dict[int, Tally] = field(default_factory=dict)

    def data(self) -> dict[str, Any]:
        return {"region": self.region, **self.total.data(),
                "waves": {str(w): t.data() for w, t in sorted(self.waves.items())}}


def progress(snap: Snapshot) -> list[RegionProgress]:
    """Per region, and per wave within it: host steps done, failed or skipped, migrations
    finished (completed, failed or skipped) and failed."""
    regions: dict[str, RegionProgress] = {}

    def tallies(region: str, wave: int) -> tuple[Tally, Tally]:
        rp = regions.setdefault(region, RegionProgress(region))
        return rp.total, rp.waves.setdefault(wave, Tally())

    for step in snap.steps:
        for t in tallies(step.region, step.wave):
            t.hosts += 1
            t.hosts_done += step.state == HostStepState.DONE.value
            t.hosts_failed += step.state == HostStepState.FAILED.value
            t.hosts_skipped += step.state == HostStepState.SKIPPED.value
            t.hosts_active += step.state not in _DONE_HOST and step.state != HostStepState.PENDING
    for m in snap.migrations:
        for t in tallies(m.region, m.wave):
            t.migrations += 1
            t.migrations_done += m.state in (_COMPLETED, _FAILED, _SKIPPED)
            t.migrations_failed += m.state == _FAILED
    return [regions[r] for r in sorted(regions)]


def waves(snap: Snapshot) -> list[int]:
    return sorted({s.wave for s in snap.steps} | {m.wave for m in snap.migrations})


# -- hosts ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class HostCell:
    name: str
    state: str
    profile: str
    """The profile the host ran when the campaign was planned."""
    target: str
    wave: int | None
    canary: bool
    error: str

    def data(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "profile": self.profile,
                "target": self.target, "wave": self.wave, "canary": self.canary,
                "error": self.error}


@dataclass(frozen=True, slots=True)
class ClusterHosts:
    cluster: str
    region: str
    hosts: tuple[HostCell, ...]

    def counts(self) -> dict[str, int]:
        return dict(Counter(h.state for h in self.hosts).most_common())


def hosts_by_cluster(snap: Snapshot) -> list[ClusterHosts]:
    """Every host of the fleet by cluster, in its state (latest step), plan order within."""
    latest: dict[str, Step] = {}
    for step in snap.steps:
        if step.host not in latest or step.state != HostStepState.PENDING.value:
            latest[step.host] = step
    fleet = snap.fleet
    out = []
    for cluster in sorted(fleet.clusters, key=lambda c: (c.region, c.name)):
        cells = []
        for host in sorted(fleet.hosts_by_cluster.get(cluster.name, ()), key=lambda h: h.name):
            found = latest.get(host.name)
            cells.append(HostCell(host.name, NOT_IN_PLAN, host.profile, host.profile, None,
                                  False, "") if found is None else HostCell(
                host.name, found.state, host.profile, found.target, found.wave, found.canary,
                found.error))
        out.append(ClusterHosts(cluster.name, cluster.region, tuple(cells)))
    return out


# -- failures ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Failure:
    """Something an operator must look at."""

    kind: str
    subject: str
    message: str
    t_s: float | None = None
    vm: str | None = None

    def data(self) -> dict[str, Any]:
        return {"kind": self.kind, "subject": self.subject, "message": self.message,
                "t_s": self.t_s, "vm": self.vm}


def failures(snap: Snapshot, limit: int = 200) -> list[Failure]:
    """Failed hosts (left disabled), failed migrations (VM left on its source), safety
    stops, invariant violations, lost VMs, VMs left crashed, hosts skipped (by the plan or
    the campaign, with why), and VMs the plan leaves to an operator."""
    out: list[Failure] = []
    for s in snap.steps:
        if s.state == HostStepState.FAILED.value:
            out.append(Failure("host_failed", s.host, s.error or "failed", s.finished_s))
    for m in snap.migrations:
        if m.state == _FAILED:
            out.append(Failure("migration_failed", f"{m.vm} ({m.source} → {m.dest})",
                               m.error or "failed", m.finished_s, vm=m.vm))
    named: set[str] = set()
    for e in reversed(snap.alerts):
        if e.kind in ("safety_stop", "invariant_violation", "vm_lost"):
            out.append(Failure(e.kind, e.vm or e.host or "campaign", e.message, e.t_s,
                               vm=e.vm))
            named.add(e.vm or "")
    for name in map(str, snap.campaign.audit.get("lost", [])):
        if name not in named:  # the end-of-campaign audit, when no event said it already
            out.append(Failure("vm_lost", name, "not running anywhere after the campaign",
                               vm=name))
    status = snap.status()
    for c in status["crashed_vms"]:
        out.append(Failure("vm_crashed", c["vm"], c["reason"], snap.campaign.finished_s,
                           vm=c["vm"]))
    for h in status["skipped_hosts"]:
        by = "the plan" if h["by"] == "plan" else "the campaign"
        out.append(Failure("host_skipped", h["host"], f"skipped by {by}: {h['reason']}"))
    for u in snap.plan.unmovable:
        if u.action.value == "operator":
            out.append(Failure("needs_operator", f"{u.vm} on {u.host}", u.reason, vm=u.vm))
    return out[:limit]


# -- migrations -------------------------------------------------------------------------------

def filter_migrations(migrations: Iterable[Migration], *, state: str | None = None,
                      region: str | None = None, rung: str | None = None,
                      vm: str | None = None) -> list[Migration]:
    """Migrations matching every given filter; ``vm`` matches a part of the name."""
    needle = (vm or "").strip().lower()
    return [m for m in migrations
            if (not state or m.state == state) and (not region or m.region == region)
            and (not rung or m.rung == rung) and (not needle or needle in m.vm.lower())]


def per_hour(migrations: Iterable[Migration], start_s: float) -> list[tuple[int, int, int]]:
    """``(hour, completed, failed)`` for every hour of the campaign up to the last finished
    migration (hour 0 starts at ``start_s``), empty hours included."""
    done: Counter[int] = Counter()
    failed: Counter[int] = Counter()
    for m in migrations:
        if m.finished_s is None:
            continue
        hour = max(0, int((m.finished_s - start_s) // 3600))
        if m.state == _COMPLETED:
            done[hour] += 1
        elif m.state == _FAILED:
            failed[hour] += 1
    last = max([*done, *failed], default=-1)
    return [(h, done[h], failed[h]) for h in range(last + 1)]


def histogram(values: Iterable[float], edges: Sequence[float]) -> list[int]:
    """Counts per bin: ``≤ edges[0]``, ``(edges[i-1], edges[i]]`` …, ``> edges[-1]``
    (``len(edges) + 1`` bins; Prometheus' ``le`` convention)."""
    counts = [0] * (len(edges) + 1)
    for v in values:
        counts[bisect_left(edges, v)] += 1
    return counts


def quantile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0–1) of ``values`` by nearest rank, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(q * len(ordered))
    return ordered[min(len(ordered), max(rank, 1)) - 1]


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def reason_of(error: str, names: Iterable[str] = ()) -> str:
    """A failure message as a reason class: object names and numbers taken out, so that the
    same failure of different VMs counts once. ``"migration of vm-7 to hv-2 failed in pass
    3 (injected fault)"`` with names ``vm-7, hv-2`` → ``"migration of VM to HOST failed in
    pass N (injected fault)"``."""
    text = error.strip() or "unknown"
    for i, name in enumerate(n for n in names if n):
        text = text.replace(name, "VM" if i == 0 else "HOST")
    text = _NUMBER.sub("N", text)
    return " ".join(text.split())[:120]


def failure_reasons(migrations: Iterable[Migration]) -> list[tuple[str, int, list[str]]]:
    """Failed migrations by reason class: ``(reason, count, example VMs)``, most first."""
    by: dict[str, list[str]] = defaultdict(list)
    for m in migrations:
        if m.state == _FAILED:
            by[reason_of(m.error, (m.vm, m.source, m.dest))].append(m.vm)
    return sorted(((r, len(vms), vms[:5]) for r, vms in by.items()), key=lambda x: -x[1])


# -- the verification matrix --------------------------------------------------------------------

def cluster_targets(static: Static) -> dict[str, str]:
    """The profile each cluster's hosts go to in the plan (the most common one if several)."""
    by_cluster: dict[str, Counter[str]] = defaultdict(Counter)
    for step in static.plan.host_steps():
        by_cluster[step.cluster][step.target] += 1
    return {cluster: c.most_common(1)[0][0] for cluster, c in sorted(by_cluster.items())}


def computed_matrix(static: Static) -> Matrix:
    """The matrix for the campaign's targets: the plan's first target as the default, and a
    cluster's own target where its hosts get another (e.g. a Broadwell cluster → CPv2n, a
    RHEL one → CPv2-rhel); a generation whose clusters go to different profiles gets a row
    per profile, naming its clusters."""
    plan, fleet = static.plan, static.fleet
    per_cluster = cluster_targets(static)
    overall = Counter(per_cluster.values())
    names = [n.strip() for n in plan.target.split(",") if n.strip()]
    if names and (names[0] in overall or not overall):
        default = names[0]  # the --target of 'hvroll plan'
    else:
        default = overall.most_common(1)[0][0]
    profiles = fleet.profile_by_name
    by_name = {cluster: profiles[name] for cluster, name in per_cluster.items()
               if name != default}
    return build_matrix(fleet, Targets(profiles[default], by_name))


def observed_matrix(matrix: Matrix, snap: Snapshot) -> Matrix:
    """``matrix`` with the cells the canary wave (wave 0) tried replaced by what happened:
    ✓ when every finished move of that kind completed, ✗ when one failed."""
    ok: Counter[tuple[str, Column]] = Counter()
    bad: Counter[tuple[str, Column]] = Counter()
    new_since = _upgraded_at(snap)
    targets = {p.name for p in snap.plan.targets} | {s.target for s in snap.steps}
    for m in snap.migrations:
        if m.wave != 0 or m.state not in (_COMPLETED, _FAILED) or m.started_s is None:
            continue
        gen = snap.static.generation_of.get(m.source)
        if gen is None:
            continue
        source_new = _runs_target(m.source, m.started_s, new_since, snap.static, targets)
        dest_new = _runs_target(m.dest, m.started_s, new_since, snap.static, targets)
        if m.kind == "cold":
            column = Column.SPAWN_NEW if dest_new else Column.SPAWN_OLD
        elif dest_new:
            column = Column.LM_NEW_NEW if source_new else Column.LM_OLD_NEW
        else:
            continue  # old → old is no column of the matrix
        (ok if m.state == _COMPLETED else bad)[(gen, column)] += 1
    for key in sorted(set(ok) | set(bad)):
        gen, column = key
        note = f"canary wave: {ok[key]} completed, {bad[key]} failed"
        matrix = matrix.observe(gen, column, bad[key] == 0, note)
    return matrix


def _upgraded_at(snap: Snapshot) -> dict[str, tuple[float, str]]:
    """Host → (when its reinstall finished, the profile it then runs)."""
    out = {}
    for s in snap.steps:
        if s.reinstall and s.state == HostStepState.DONE.value and s.finished_s is not None:
            out[s.host] = (s.finished_s, s.target)
    return out


def _runs_target(host: str, t_s: float, upgraded: dict[str, tuple[float, str]],
                 static: Static, targets: set[str]) -> bool:
    when = upgraded.get(host)
    if when is not None and when[0] <= t_s:
        return True
    return static.profile_of.get(host) in targets


# -- the hosts' timeline (report) ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Bar:
    host: str
    start_s: float
    end_s: float
    state: str
    wave: int


@dataclass(frozen=True, slots=True)
class Lane:
    cluster: str
    region: str
    lanes: tuple[tuple[Bar, ...], ...]
    """Bars packed into as few rows as do not overlap (hosts upgraded at once)."""


def timeline(snap: Snapshot) -> list[Lane]:
    """Each cluster's host steps as bars from start to end (``now`` if unfinished)."""
    now = snap.campaign.finished_s or snap.campaign.clock_s
    by_cluster: dict[tuple[str, str], list[Bar]] = defaultdict(list)
    for s in snap.steps:
        if s.started_s is None:
            continue
        end = s.finished_s if s.finished_s is not None else now
        by_cluster[(s.region, s.cluster)].append(Bar(s.host, s.started_s, max(end, s.started_s),
                                                     s.state, s.wave))
    out = []
    for (region, cluster), bars in sorted(by_cluster.items()):
        rows: list[list[Bar]] = []
        for bar in sorted(bars, key=lambda b: (b.start_s, b.end_s)):
            for row in rows:
                if row[-1].end_s <= bar.start_s:
                    row.append(bar)
                    break
            else:
                rows.append([bar])
        out.append(Lane(cluster, region, tuple(tuple(r) for r in rows)))
    return out


def row_target(row: Row, default: str) -> str:
    """The profile a matrix row's hosts are upgraded to."""
    profiles = row.cells[Column.SPAWN_NEW].profiles
    return profiles[0] if profiles else default
