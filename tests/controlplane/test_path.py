"""The path search over (release, OS per role) states, against exact expected paths."""

from __future__ import annotations

import pytest

from hvroll.controlplane.catalogue import Catalogue, shipped_catalogue
from hvroll.controlplane.path import CONTROLLERS, NoPathError, Options, Path, Role, plan_path


def hops(path: Path) -> list[tuple[str, str, str, str | None, tuple[str, ...]]]:
    """(kind, from release, to release, role, OS after) per hop."""
    return [(h.kind, h.source.release.key, h.target.release.key, h.role,
             tuple(str(o) for o in h.target.os)) for h in path.hops]


def role(catalogue: Catalogue, name: str, start: str, end: str) -> Role:
    return Role(name, catalogue.parse_os(start), catalogue.parse_os(end))


def test_adjacent_hops_cold_before_the_rolling_release(small: Catalogue) -> None:
    path = plan_path(small, small.release("alpha"), small.release("2023.1"))
    assert hops(path) == [("cold", "alpha", "bravo", None, ()),
                          ("rolling", "bravo", "charlie", None, ()),
                          ("rolling", "charlie", "2023.1", None, ())]
    assert [h.api_downtime_s for h in path.hops] == [3600.0, 0.0, 0.0]


def test_skip_level_between_consecutive_slurps(small: Catalogue) -> None:
    path = plan_path(small, small.release("delta"), small.release("foxtrot"))
    assert hops(path) == [("skip-level", "2023.1", "2024.1", None, ())]
    assert path.hops[0].rolling is True


def test_no_skip_from_a_non_slurp_release(small: Catalogue) -> None:
    path = plan_path(small, small.release("echo"), small.release("golf"))
    assert hops(path) == [("rolling", "2023.2", "2024.1", None, ()),
                          ("rolling", "2024.1", "2024.2", None, ())]


def test_edge_refusals_say_why(small: Catalogue) -> None:
    r = small.release
    assert small.edge(r("bravo"), r("delta")).reason == \
        "it would skip charlie, where nova must stop: schema squashed"
    assert small.edge(r("echo"), r("golf")).reason == \
        "2023.2 (echo) is not a SLURP release: only adjacent upgrades start there"
    assert small.edge(r("2023.1"), r("2024.2")).reason == \
        "2024.2 (golf) is not a SLURP release: skip-level upgrades end on one"
    assert small.edge(r("golf"), r("echo")).reason == \
        "2023.2 (echo) is not newer than 2024.2 (golf): database migrations only go forward"


def test_a_required_stop_is_named_on_the_hop_that_reaches_it(small: Catalogue) -> None:
    path = plan_path(small, small.release("bravo"), small.release("charlie"))
    assert path.hops[0].reason == ("adjacent releases; charlie is a required stop for nova: "
                                   "schema squashed; rolling: nova: RPC pinning")


def test_os_upgrade_where_both_releases_overlap(small: Catalogue) -> None:
    roles = [role(small, CONTROLLERS, "lin-1", "lin-2")]
    path = plan_path(small, small.release("alpha"), small.release("delta"), roles)
    assert hops(path) == [("cold", "alpha", "bravo", None, ("lin-1",)),
                          ("os", "bravo", "bravo", "controllers", ("lin-2",)),
                          ("rolling", "bravo", "charlie", None, ("lin-2",)),
                          ("rolling", "charlie", "2023.1", None, ("lin-2",))]
    assert path.hops[1].reason == (
        "charlie does not run on lin-1; bravo runs on both (lin-1: packaged, lin-2: packaged); "
        "new controllers beside the old, then the load balancer is switched")


def test_long_term_os_preferred_at_equal_upgrades(small: Catalogue) -> None:
    roles = [role(small, "computes", "lin-2", "lin-5")]
    path = plan_path(small, small.release("delta"), small.release("golf"), roles)
    assert hops(path) == [("os", "2023.1", "2023.1", "computes", ("lin-4",)),
                          ("rolling", "2023.1", "2023.2", None, ("lin-4",)),
                          ("os", "2023.2", "2023.2", "computes", ("lin-5",)),
                          ("rolling", "2023.2", "2024.1", None, ("lin-5",)),
                          ("rolling", "2024.1", "2024.2", None, ("lin-5",))]
    assert [h.campaign for h in path.hops if h.kind == "os"] == [True, True]


def test_skip_level_taken_when_the_os_allows(small: Catalogue) -> None:
    roles = [role(small, "computes", "lin-5", "lin-5")]
    path = plan_path(small, small.release("echo"), small.release("golf"), roles)
    assert path.upgrades == 2
    roles = [role(small, "computes", "lin-4", "lin-5")]
    path = plan_path(small, small.release("delta"), small.release("foxtrot"), roles)
    assert hops(path) == [("rolling", "2023.1", "2023.2", None, ("lin-4",)),
                          ("os", "2023.2", "2023.2", "computes", ("lin-5",)),
                          ("rolling", "2023.2", "2024.1", None, ("lin-5",))]


def test_cold_downtime_is_an_option(small: Catalogue) -> None:
    path = plan_path(small, small.release("alpha"), small.release("bravo"),
                     options=Options(cold_api_downtime_s=120.0))
    assert path.api_downtime_s == 120.0


@pytest.mark.parametrize(("start", "end", "roles", "message"), [
    ("golf", "echo", [], "no upgrade path 2024.2 (golf) → 2023.2 (echo): it is a downgrade "
                         "(database migrations only go forward)"),
    ("alpha", "golf", [("controllers", "bsd-1", "bsd-2")],
     "no upgrade path alpha → 2024.2 (golf) for controllers bsd-1 → bsd-2: missing edge "
     "charlie → 2023.1 (no bsd release runs both: charlie on bsd-1, 2023.1 (delta) on none)"),
    ("alpha", "golf", [("controllers", "lin-1", "lin-1")],
     "2024.2 (golf) does not run on lin-1 (controllers at the end; lin releases it runs on: "
     "lin-5)"),
    ("delta", "golf", [("computes", "lin-5", "lin-5")],
     "2023.1 (delta) does not run on lin-5 (computes at the start; lin releases it runs on: "
     "lin-2, lin-3, lin-4)"),
])
def test_impossible_requests_name_the_missing_edge(small: Catalogue, start: str, end: str,
                                                   roles: list[tuple[str, str, str]],
                                                   message: str) -> None:
    with pytest.raises(NoPathError) as info:
        plan_path(small, small.release(start), small.release(end),
                  [role(small, *r) for r in roles])
    assert str(info.value) == message


def test_seed_000_spiral_on_the_shipped_catalogue() -> None:
    """Juno → Ussuri with Ubuntu 14.04 → 20.04 controllers, 14.04 → 18.04 and RHEL 7.1 →
    8.2 computes: 11 OpenStack upgrades and the fewest OS upgrades (3 + 2 + 1)."""
    cat = shipped_catalogue()
    roles = [role(cat, "controllers", "ubuntu-14.04", "ubuntu-20.04"),
             role(cat, "computes-ubuntu", "ubuntu-14.04", "ubuntu-18.04"),
             role(cat, "computes-rhel", "rhel-7.1", "rhel-8.2")]
    path = plan_path(cat, cat.release("juno"), cat.release("ussuri"), roles)
    os_hops = [(h.source.release.name, h.role, str(h.target.os[[r.name for r in roles]
                                                                .index(h.role or "")]))
               for h in path.hops if h.kind == "os"]
    assert os_hops == [("mitaka", "controllers", "ubuntu-16.04"),
                       ("mitaka", "computes-ubuntu", "ubuntu-16.04"),
                       ("queens", "controllers", "ubuntu-18.04"),
                       ("queens", "computes-ubuntu", "ubuntu-18.04"),
                       ("train", "computes-rhel", "rhel-8.2"),
                       ("ussuri", "controllers", "ubuntu-20.04")]
    assert [h.target.release.name for h in path.hops if h.kind != "os"] == [
        "kilo", "liberty", "mitaka", "newton", "ocata", "pike", "queens", "rocky", "stein",
        "train", "ussuri"]
    assert (path.upgrades, path.openstack_upgrades, path.os_upgrades) == (17, 11, 6)
    assert all(h.reason for h in path.hops)


@pytest.mark.parametrize(("start", "end", "expected"), [
    ("icehouse", "liberty", [("icehouse", "juno", "cold"), ("juno", "kilo", "cold"),
                             ("kilo", "liberty", "cold")]),
    ("2025.1", "2026.1", [("2025.1", "2026.1", "skip-level")]),
    ("2025.2", "2026.2", [("2025.2", "2026.1", "rolling"), ("2026.1", "2026.2", "rolling")]),
    ("2024.1", "2026.1", [("2024.1", "2025.1", "skip-level"),
                          ("2025.1", "2026.1", "skip-level")]),
])
def test_shipped_catalogue_paths(start: str, end: str,
                                 expected: list[tuple[str, str, str]]) -> None:
    cat = shipped_catalogue()
    path = plan_path(cat, cat.release(start), cat.release(end))
    assert [(h.source.release.key, h.target.release.key, h.kind) for h in path.hops] == expected
