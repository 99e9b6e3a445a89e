"""The release catalogue: shipped data is valid and cited; bad files get line-numbered errors."""

from __future__ import annotations

import pytest

from hvroll.controlplane.catalogue import Basis, parse_catalogue, shipped_catalogue
from hvroll.errors import InventoryError

from .conftest import SMALL


def test_shipped_catalogue_loads_and_every_fact_cites_a_source() -> None:
    cat = shipped_catalogue()
    data = cat.data
    cited = [*data.releases, *data.stops, *data.rolling, *data.support, data.skip_level]
    assert all(f.sources for f in cited)
    assert [r.key for r in cat.releases][:3] == ["icehouse", "juno", "kilo"]
    assert [r.key for r in cat.releases if r.slurp] == ["2023.1", "2024.1", "2025.1", "2026.1"]


@pytest.mark.parametrize(("release", "date"), [
    ("icehouse", "2014-04-17"), ("liberty", "2015-10-15"), ("ussuri", "2020-05-13"),
    ("2025.1", "2025-04-02"), ("2026.1", "2026-04-01"),
])
def test_release_dates_from_releases_openstack_org(release: str, date: str) -> None:
    assert shipped_catalogue().release(release).released.isoformat() == date


@pytest.mark.parametrize(("release", "os", "basis"), [
    ("icehouse", "ubuntu-14.04", Basis.PACKAGED), ("mitaka", "ubuntu-16.04", Basis.PACKAGED),
    ("mitaka", "ubuntu-14.04", Basis.PACKAGED), ("2025.1", "ubuntu-22.04", Basis.TESTED),
    ("train", "rhel-7.7", Basis.TESTED), ("kilo", "rhel-7.2", Basis.INFERRED),
    ("newton", "ubuntu-14.04", None), ("2026.2", "ubuntu-22.04", None),
])
def test_supported_os(release: str, os: str, basis: Basis | None) -> None:
    cat = shipped_catalogue()
    fact = cat.supports(cat.release(release), cat.parse_os(os))
    assert (fact.basis if fact else None) == basis


def test_inferred_facts_are_marked_unverified() -> None:
    inferred = [s for s in shipped_catalogue().data.support if s.basis is Basis.INFERRED]
    assert inferred and all(not s.verified and s.note for s in inferred)


@pytest.mark.parametrize(("edit", "message"), [
    (("{os: lin-1, releases: [alpha, bravo], basis: packaged, sources: [s]}",
      "{os: lin-1, releases: [alpha, zulu], basis: packaged, sources: [s]}"),
     "small.yaml:26: names unknown release 'zulu' (expected one of the releases list)"),
    (("{os: lin-1, releases: [alpha, bravo], basis: packaged, sources: [s]}",
      "{os: lin-1, releases: [alpha, bravo], basis: packaged, sources: [t]}"),
     "small.yaml:26: cites unknown source 't' (expected one of the sources list)"),
    (("verified: false, sources: [s]}", "sources: [s]}"),
     "small.yaml:32: an inferred fact must say verified: false (expected verified: false, "
     "got true)"),
])
def test_bad_catalogue_lines(edit: tuple[str, str], message: str) -> None:
    with pytest.raises(InventoryError) as info:
        parse_catalogue(SMALL.replace(*edit), "small.yaml")
    assert str(info.value) == message


def test_unknown_key_is_refused_with_its_line() -> None:
    text = SMALL.replace("skip_level: {since: delta, sources: [s]}",
                         "skip_level: {since: delta, sources: [s], jump: 2}")
    with pytest.raises(InventoryError) as info:
        parse_catalogue(text, "small.yaml")
    assert str(info.value).startswith("small.yaml:12: ")
    assert "jump" in str(info.value)
