"""Prometheus metrics of a campaign, computed from its state file on every scrape.

:class:`StoreCollector` is a custom collector: each scrape takes one read-only snapshot of the
store and turns it into metric families, so the values always match what ``hvroll status``
and the dashboard show — there is no second bookkeeping that could drift. Counters are
monotonic as long as the campaign's state file is (it only ever records more).

Names follow Prometheus conventions: ``hvroll_`` prefix, base units (seconds, bytes, ratios),
``_total`` on counters. :data:`METRICS` lists them all with their type and labels; the docs
and the Grafana dashboards are checked against it.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from hvroll.domain.states import CampaignState, HostStepState, MigrationState
from hvroll.telemetry.snapshot import Snapshot, StateSource
from hvroll.telemetry.views import NOT_IN_PLAN, histogram, progress, reason_of

MIB = 1024 * 1024

DURATION_BUCKETS_S = (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0,
                      5000.0, 10000.0)
"""Live migration elapsed time, seconds (seed 003 saw 942 s for a loaded VM)."""
DOWNTIME_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                      60.0)
"""Guest downtime at the switch-over, seconds (the ladder starts at 50–500 ms)."""
BYTES_BUCKETS = tuple(float(MIB * 4**k) for k in range(4, 12))
"""Bytes sent per migration: 256 MiB … 4 TiB, ×4 per bucket."""
MAX_REASONS = 20
"""Distinct failure reasons exported; the rest are counted as ``other``."""


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    """Without the ``_total`` of a counter."""
    type: str
    labels: tuple[str, ...]
    help: str

    def exported(self) -> tuple[str, ...]:
        """The sample names Prometheus stores for it."""
        if self.type == "counter":
            return (f"{self.name}_total",)
        if self.type == "histogram":
            return tuple(f"{self.name}{s}" for s in ("_bucket", "_sum", "_count"))
        return (self.name,)


METRICS = (
    MetricSpec("hvroll_campaign_info", "gauge", ("strategy", "target", "driver"),
               "The campaign being run (always 1)."),
    MetricSpec("hvroll_campaign_state", "gauge", ("state",),
               "1 for the campaign's current state, 0 for the others."),
    MetricSpec("hvroll_campaign_progress_ratio", "gauge", (),
               "Share of the campaign's migrations that are finished (0-1)."),
    MetricSpec("hvroll_campaign_elapsed_seconds", "gauge", (),
               "Campaign time since the start, seconds (virtual under the simulator)."),
    MetricSpec("hvroll_campaign_estimated_duration_seconds", "gauge", (),
               "The plan's estimate of the whole campaign, seconds."),
    MetricSpec("hvroll_campaign_eta_seconds", "gauge", (),
               "Estimated campaign time left, seconds (absent until a host is upgraded)."),
    MetricSpec("hvroll_region_progress_ratio", "gauge", ("region",),
               "Share of the region's migrations (or hosts) that are finished (0-1)."),
    MetricSpec("hvroll_hosts", "gauge", ("region", "cluster", "state"),
               "Hosts by the state of their latest step; not_in_plan: left alone."),
    MetricSpec("hvroll_vms_remaining", "gauge", ("region",),
               "VMs with a move still to finish."),
    MetricSpec("hvroll_vms_lost", "gauge", (),
               "VMs not running anywhere after the campaign (should be 0)."),
    MetricSpec("hvroll_vms_crashed", "gauge", ("region", "cluster"),
               "VMs left crashed at the end of the campaign (defined on a host, not running): "
               "their host went down and HA found no room; should be 0."),
    MetricSpec("hvroll_hosts_skipped", "gauge", ("region", "cluster", "by", "reason"),
               "Hosts left as they were, by who skipped them (plan: could not be emptied; "
               "campaign: e.g. too many failed hosts) and why (names and numbers taken out)."),
    MetricSpec("hvroll_migrations", "counter", ("region", "result", "rung", "kind"),
               "Finished migrations by result (completed, failed, skipped), the ladder rung "
               "they finished on, and kind (live, cold)."),
    MetricSpec("hvroll_migrations_running", "gauge", ("region",),
               "Migrations started and not finished."),
    MetricSpec("hvroll_migrations_pending", "gauge", ("region",),
               "Migrations not started yet."),
    MetricSpec("hvroll_migration_failures", "counter", ("region", "reason"),
               "Failed migrations by reason (the error with names and numbers taken out)."),
    MetricSpec("hvroll_migration_attempts", "counter", ("rung", "phase"),
               "Tries of migrations on each rung of the ladder, retries included, by how "
               "they ended (completed, failed, cancelled; running while in progress)."),
    MetricSpec("hvroll_migration_duration_seconds", "histogram", ("region", "rung"),
               "Elapsed time of completed migrations, seconds."),
    MetricSpec("hvroll_migration_downtime_seconds", "histogram", ("region", "rung"),
               "Guest downtime of completed live migrations, seconds."),
    MetricSpec("hvroll_migration_transferred_bytes", "histogram", ("region",),
               "Data sent by completed migrations (RAM, plus disks when block), bytes."),
    MetricSpec("hvroll_events", "counter", ("kind",),
               "Campaign events recorded, by kind."),
    MetricSpec("hvroll_invariant_violations", "counter", (),
               "Safety invariants found broken (should be 0)."),
    MetricSpec("hvroll_safety_stops", "counter", (),
               "Irreversible steps refused by a safety check."),
    MetricSpec("hvroll_store_read_seconds", "gauge", (),
               "Time this scrape took to read the state file, seconds."),
)
SPEC = {m.name: m for m in METRICS}

_Add = Callable[[str, Sequence[str], float], None]
"""``add(metric name, label values, value)``."""


def exported_names() -> frozenset[str]:
    """Every sample name a scrape can contain (``_total``, ``_bucket``, ``_sum``, ``_count``)."""
    return frozenset(n for m in METRICS for n in m.exported())


class StoreCollector(Collector):
    """A Prometheus collector that reads a campaign's state file on each scrape."""

    def __init__(self, source: StateSource) -> None:
        self.source = source

    def describe(self) -> Iterable[Metric]:
        return [_family(spec) for spec in METRICS]

    def collect(self) -> Iterable[Metric]:
        started = time.perf_counter()
        snap = self.source.snapshot(recent_events=0)
        families = list(families_of(snap))
        read = _family(SPEC["hvroll_store_read_seconds"])
        assert isinstance(read, GaugeMetricFamily)
        read.add_metric([], time.perf_counter() - started)
        return [*families, read]


def registry_for(source: StateSource) -> CollectorRegistry:
    """A registry holding only the campaign's metrics (served at ``/metrics``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(source))
    return registry


def render(source: StateSource) -> bytes:
    """The text exposition format of the campaign's metrics."""
    return generate_latest(registry_for(source))


def families_of(snap: Snapshot) -> Iterator[Metric]:
    """Every metric family but the read time, from one snapshot."""
    status = snap.status()
    fam = {spec.name: _family(spec) for spec in METRICS}

    def add(name: str, labels: Sequence[str], value: float) -> None:
        fam[name].add_metric(list(labels), value)  # type: ignore[attr-defined]

    plan = snap.plan
    add("hvroll_campaign_info", (plan.strategy.value, plan.target, snap.campaign.driver), 1)
    for state in CampaignState:
        add("hvroll_campaign_state", (state.value,), float(state.value == status["state"]))
    add("hvroll_campaign_progress_ratio", (), status["progress"])
    add("hvroll_campaign_elapsed_seconds", (), status["makespan_s"])
    add("hvroll_campaign_estimated_duration_seconds", (), status["estimated_makespan_s"])
    if status["eta_s"] is not None:
        add("hvroll_campaign_eta_seconds", (), status["eta_s"])
    for region in progress(snap):
        add("hvroll_region_progress_ratio", (region.region,), region.total.ratio)
    _hosts(snap, add)
    _migrations(snap, add, fam)
    for kind, n in sorted(snap.event_counts.items()):
        add("hvroll_events", (kind,), n)
    for (rung, phase), n in sorted(snap.attempt_counts.items()):
        add("hvroll_migration_attempts", (rung, phase), n)
    add("hvroll_vms_lost", (), status["vms_lost"])
    _accounts(snap, status, add)
    add("hvroll_invariant_violations", (), status["invariant_violations"])
    add("hvroll_safety_stops", (), status["safety_stops"])
    yield from (f for name, f in fam.items() if name != "hvroll_store_read_seconds")


def _accounts(snap: Snapshot, status: dict[str, Any], add: _Add) -> None:
    """Skipped hosts and crashed VMs, by cluster (and for hosts by who skipped and why)."""
    cluster_of = {h.name: h.cluster for h in snap.fleet.hosts}
    region_of = snap.static.region_of
    skipped: Counter[tuple[str, str, str, str]] = Counter()
    for h in status["skipped_hosts"]:
        cluster = cluster_of.get(h["host"], "")
        reason = reason_of(_QUOTED.sub("'VM'", h["reason"]), (h["host"],))
        skipped[(region_of.get(cluster, ""), cluster, h["by"], reason)] += 1
    for labels, n in sorted(skipped.items()):
        add("hvroll_hosts_skipped", labels, n)
    crashed: Counter[tuple[str, str]] = Counter()
    for c in status["crashed_vms"]:
        cluster = cluster_of.get(c["host"], "")
        crashed[(region_of.get(cluster, ""), cluster)] += 1
    for cl in sorted(snap.fleet.clusters, key=lambda c: (c.region, c.name)):
        add("hvroll_vms_crashed", (cl.region, cl.name), crashed[(cl.region, cl.name)])


_QUOTED = re.compile(r"'[^']*'")


def _hosts(snap: Snapshot, add: _Add) -> None:
    states = [s.value for s in HostStepState] + [NOT_IN_PLAN]
    latest = snap.host_states
    counts: Counter[tuple[str, str, str]] = Counter()
    for host in snap.fleet.hosts:
        region = snap.static.region_of.get(host.cluster, "")
        counts[(region, host.cluster, latest.get(host.name, NOT_IN_PLAN))] += 1
    for cluster in sorted(snap.fleet.clusters, key=lambda c: (c.region, c.name)):
        for state in states:
            add("hvroll_hosts", (cluster.region, cluster.name, state),
                counts[(cluster.region, cluster.name, state)])


def _migrations(snap: Snapshot, add: _Add, fam: dict[str, Metric]) -> None:
    finished: Counter[tuple[str, str, str, str]] = Counter()
    running: Counter[str] = Counter()
    pending: Counter[str] = Counter()
    remaining: dict[str, set[str]] = defaultdict(set)
    reasons: Counter[tuple[str, str]] = Counter()
    durations: dict[tuple[str, ...], list[float]] = defaultdict(list)
    downtimes: dict[tuple[str, ...], list[float]] = defaultdict(list)
    sent: dict[str, list[float]] = defaultdict(list)
    regions = sorted({m.region for m in snap.migrations})
    for m in snap.migrations:
        if m.state in (MigrationState.COMPLETED, MigrationState.FAILED, MigrationState.SKIPPED):
            finished[(m.region, m.state, m.rung, m.kind)] += 1
        else:
            remaining[m.region].add(m.vm)
            if m.state == MigrationState.PENDING:
                pending[m.region] += 1
            else:
                running[m.region] += 1
        if m.state == MigrationState.FAILED:
            reasons[(m.region, reason_of(m.error, (m.vm, m.source, m.dest)))] += 1
        if m.state == MigrationState.COMPLETED:
            if m.elapsed_s is not None:
                durations[(m.region, m.rung)].append(m.elapsed_s)
            if m.downtime_ms is not None and m.kind != "cold":
                downtimes[(m.region, m.rung)].append(m.downtime_ms / 1000.0)
            if m.sent_mib is not None:
                sent[m.region].append(m.sent_mib * MIB)
    for key, n in sorted(finished.items()):
        add("hvroll_migrations", key, n)
    for region in regions:
        add("hvroll_migrations_running", (region,), running[region])
        add("hvroll_migrations_pending", (region,), pending[region])
        add("hvroll_vms_remaining", (region,), len(remaining[region]))
    totals: Counter[str] = Counter()
    for (_region, reason), n in reasons.items():
        totals[reason] += n
    top = {r for r, _n in totals.most_common(MAX_REASONS)}
    folded: Counter[tuple[str, str]] = Counter()
    for (region, reason), n in reasons.items():
        folded[(region, reason if reason in top else "other")] += n
    for labels, n in sorted(folded.items()):
        add("hvroll_migration_failures", labels, n)
    _histograms(fam["hvroll_migration_duration_seconds"], durations, DURATION_BUCKETS_S)
    _histograms(fam["hvroll_migration_downtime_seconds"], downtimes, DOWNTIME_BUCKETS_S)
    _histograms(fam["hvroll_migration_transferred_bytes"],
                {(r,): v for r, v in sent.items()}, BYTES_BUCKETS)


def _histograms(family: Metric, values: Mapping[tuple[str, ...], list[float]],
                edges: Sequence[float]) -> None:
    assert isinstance(family, HistogramMetricFamily)
    for labels, vs in sorted(values.items()):
        counts = histogram(vs, edges)
        cumulative, buckets = 0, []
        for edge, n in zip((*(_le(e) for e in edges), "+Inf"), counts, strict=True):
            cumulative += n
            buckets.append((edge, float(cumulative)))
        family.add_metric(list(labels), buckets, sum(vs))


def _le(edge: float) -> str:
    return repr(float(edge))


def _family(spec: MetricSpec) -> Metric:
    if spec.type == "counter":
        return CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
    if spec.type == "histogram":
        return HistogramMetricFamily(spec.name, spec.help, labels=spec.labels)
    return GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)
