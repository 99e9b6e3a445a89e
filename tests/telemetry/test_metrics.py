"""Prometheus metrics: names and types by convention, values equal to the store's rows.

Expected values come from plain SQL on the state file, not from the code under test.
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from hvroll.executor.status import status
from hvroll.store import Store
from hvroll.telemetry.metrics import METRICS, exported_names, render
from hvroll.telemetry.snapshot import StateSource
from telemetry.statefiles import Campaign

MIB = 1024 * 1024


def scrape(path: Path) -> list[Sample]:
    source = StateSource(path)
    try:
        text = render(source).decode()
    finally:
        source.close()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def total(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name
               and all(s.labels.get(k) == v for k, v in labels.items()))


@pytest.fixture(params=["finished", "holding"])
def made(request: pytest.FixtureRequest) -> Campaign:
    campaign: Campaign = request.getfixturevalue(request.param)
    return campaign


@pytest.fixture
def db(made: Campaign) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{made.state}?mode=ro", uri=True)
    yield conn
    conn.close()


def test_names_follow_prometheus_conventions() -> None:
    for spec in METRICS:
        assert spec.name.startswith("hvroll_")
        assert not spec.name.endswith("_total"), "counters are named without _total"
        assert spec.type in ("counter", "gauge", "histogram")
        assert not any(unit in spec.name for unit in ("_ms", "_mib", "_minutes", "_hours"))
        assert spec.help.endswith(".")


def test_every_sample_is_an_exported_name(made: Campaign) -> None:
    names = {s.name for s in scrape(made.state)}
    assert names <= exported_names()


def test_every_metric_is_exposed(made: Campaign) -> None:
    source = StateSource(made.state)
    text = render(source).decode()
    source.close()
    families = {f.name for f in text_string_to_metric_families(text)}
    assert families == {m.name for m in METRICS}


def test_migrations_by_result_and_rung_match_the_store(made: Campaign,
                                                       db: sqlite3.Connection) -> None:
    samples = scrape(made.state)
    for result, rung, region, kind, n in db.execute(
            "SELECT state, rung, region, kind, count(*) FROM migration "
            "WHERE state IN ('completed', 'failed', 'skipped') "
            "GROUP BY state, rung, region, kind"):
        assert total(samples, "hvroll_migrations_total", result=result, rung=rung,
                     region=region, kind=kind) == n
    (finished,) = db.execute("SELECT count(*) FROM migration WHERE state IN "
                             "('completed', 'failed', 'skipped')").fetchone()
    assert total(samples, "hvroll_migrations_total") == finished


def test_failures_by_reason_add_up_to_failed_migrations(made: Campaign,
                                                        db: sqlite3.Connection) -> None:
    (failed,) = db.execute("SELECT count(*) FROM migration WHERE state = 'failed'").fetchone()
    assert total(scrape(made.state), "hvroll_migration_failures_total") == failed


def test_finished_campaign_has_a_failure_to_show(finished: Campaign) -> None:
    """The fixture must contain a failed migration, or the failure displays are untested
    (if the simulator changed, pick another seed in statefiles.py)."""
    samples = scrape(finished.state)
    assert total(samples, "hvroll_migrations_total", result="failed") >= 1


def test_histograms_match_the_store(made: Campaign, db: sqlite3.Connection) -> None:
    samples = scrape(made.state)
    count, elapsed = db.execute("SELECT count(*), coalesce(sum(elapsed_s), 0) FROM migration "
                                "WHERE state = 'completed' AND elapsed_s IS NOT NULL").fetchone()
    assert total(samples, "hvroll_migration_duration_seconds_count") == count
    assert total(samples, "hvroll_migration_duration_seconds_sum") == pytest.approx(elapsed)
    count, down = db.execute("SELECT count(*), coalesce(sum(downtime_ms), 0) FROM migration "
                             "WHERE state = 'completed' AND downtime_ms IS NOT NULL "
                             "AND kind != 'cold'").fetchone()
    assert total(samples, "hvroll_migration_downtime_seconds_count") == count
    assert total(samples, "hvroll_migration_downtime_seconds_sum") == pytest.approx(down / 1000)
    count, sent = db.execute("SELECT count(*), coalesce(sum(sent_mib), 0) FROM migration "
                             "WHERE state = 'completed' AND sent_mib IS NOT NULL").fetchone()
    assert total(samples, "hvroll_migration_transferred_bytes_count") == count
    assert total(samples, "hvroll_migration_transferred_bytes_sum") == pytest.approx(sent * MIB)


def test_histogram_buckets_are_cumulative_and_end_at_the_count(made: Campaign) -> None:
    samples = scrape(made.state)
    for name in ("hvroll_migration_duration_seconds", "hvroll_migration_downtime_seconds",
                 "hvroll_migration_transferred_bytes"):
        series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
        for s in samples:
            if s.name == f"{name}_bucket":
                key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                series.setdefault(key, []).append((float(s.labels["le"]), s.value))
        for key, buckets in series.items():
            values = [v for _, v in sorted(buckets)]
            assert values == sorted(values)
            assert sorted(buckets)[-1][0] == math.inf
            assert values[-1] == total(samples, f"{name}_count", **dict(key))


def test_hosts_by_state_match_hvroll_status(made: Campaign) -> None:
    samples = scrape(made.state)
    store = Store(made.state)
    expected = status(store)["hosts_by_state"]
    hosts = len(store.fleet().hosts)
    store.close()
    for state, n in expected.items():
        assert total(samples, "hvroll_hosts", state=state) == n
    assert total(samples, "hvroll_hosts") == hosts
    assert total(samples, "hvroll_hosts", state="not_in_plan") == hosts - sum(expected.values())


def test_vms_remaining_match_the_store(made: Campaign, db: sqlite3.Connection) -> None:
    expected = Counter(dict(db.execute(
        "SELECT region, count(DISTINCT vm) FROM migration WHERE state NOT IN "
        "('completed', 'failed', 'skipped') GROUP BY region").fetchall()))
    samples = scrape(made.state)
    for region, n in expected.items():
        assert total(samples, "hvroll_vms_remaining", region=region) == n
    assert total(samples, "hvroll_vms_remaining") == sum(expected.values())


def test_campaign_state_progress_and_eta_match_hvroll_status(made: Campaign) -> None:
    samples = scrape(made.state)
    store = Store(made.state)
    expected = status(store)
    store.close()
    assert total(samples, "hvroll_campaign_state", state=expected["state"]) == 1
    assert total(samples, "hvroll_campaign_state") == 1
    assert total(samples, "hvroll_campaign_progress_ratio") == expected["progress"]
    assert total(samples, "hvroll_campaign_elapsed_seconds") == expected["makespan_s"]
    eta = [s for s in samples if s.name == "hvroll_campaign_eta_seconds"]
    assert [s.value for s in eta] == ([expected["eta_s"]] if expected["eta_s"] is not None
                                      else [])


def test_events_and_attempts_match_the_store(made: Campaign, db: sqlite3.Connection) -> None:
    samples = scrape(made.state)
    for kind, n in db.execute("SELECT kind, count(*) FROM event GROUP BY kind"):
        assert total(samples, "hvroll_events_total", kind=kind) == n
    for rung, phase, n in db.execute("SELECT rung, phase, count(*) FROM attempt "
                                     "GROUP BY rung, phase"):
        assert total(samples, "hvroll_migration_attempts_total", rung=rung, phase=phase) == n


def test_every_metric_is_documented() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "telemetry.md").read_text()
    for spec in METRICS:
        assert f"`{spec.exported()[0].removesuffix('_bucket')}`" in text, spec.name
