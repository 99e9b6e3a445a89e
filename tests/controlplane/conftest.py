"""A small catalogue for exact-value tests of the path search."""

from __future__ import annotations

import pytest

from hvroll.controlplane.catalogue import Catalogue, parse_catalogue

SMALL = """\
schema: 1
sources:
  - {id: s, name: "a test source"}
releases:
  - {name: alpha, released: 2020-01-01, sources: [s]}
  - {name: bravo, released: 2020-07-01, sources: [s]}
  - {name: charlie, released: 2021-01-01, sources: [s]}
  - {name: delta, series: "2023.1", slurp: true, released: 2023-03-01, sources: [s]}
  - {name: echo, series: "2023.2", released: 2023-10-01, sources: [s]}
  - {name: foxtrot, series: "2024.1", slurp: true, released: 2024-04-01, sources: [s]}
  - {name: golf, series: "2024.2", released: 2024-10-01, sources: [s]}
skip_level: {since: delta, sources: [s]}
stops:
  - {release: charlie, project: nova, why: "schema squashed", sources: [s]}
rolling:
  - {project: nova, since: charlie, skip_level: true, why: "RPC pinning", sources: [s]}
os:
  - {id: lin-1, family: lin, version: "1", lts: true}
  - {id: lin-2, family: lin, version: "2", lts: true}
  - {id: lin-3, family: lin, version: "3", lts: false}
  - {id: lin-4, family: lin, version: "4", lts: true}
  - {id: lin-5, family: lin, version: "5", lts: true}
  - {id: bsd-1, family: bsd, version: "1", lts: true}
  - {id: bsd-2, family: bsd, version: "2", lts: true}
support:
  - {os: lin-1, releases: [alpha, bravo], basis: packaged, sources: [s]}
  - {os: lin-2, releases: [bravo, charlie, delta], basis: packaged, sources: [s]}
  - {os: lin-3, releases: [delta, echo], basis: packaged, sources: [s]}
  - {os: lin-4, releases: [delta, echo], basis: tested, sources: [s]}
  - {os: lin-5, releases: [echo, foxtrot, golf], basis: packaged, sources: [s]}
  - {os: bsd-1, releases: [alpha, bravo, charlie], basis: packaged, sources: [s]}
  - {os: bsd-2, releases: [echo, foxtrot, golf], basis: inferred, verified: false, sources: [s]}
"""


@pytest.fixture
def small() -> Catalogue:
    return parse_catalogue(SMALL, "small.yaml")
