"""The upgrade path: the "spiral" of OpenStack upgrades and host OS upgrades.

A state is (OpenStack release, controller OS, compute OS per group). A hop changes one thing:

* an **OpenStack hop** ``a → b`` follows a catalogue edge (adjacent, or skip-level between
  consecutive SLURP releases) and is allowed only if ``b`` runs on every current OS;
* an **OS hop** moves one role (the controllers, or one group of computes) to a newer
  release of the same OS family that the current OpenStack release runs on. Compute OS
  upgrades are hvroll campaigns (drain by live migration, reinstall, verify); controllers are
  rebuilt beside the old ones and the load balancer is switched (seed 002).

The search is Dijkstra over these states with a lexicographic cost: fewest upgrades first,
then least API downtime, then fewest stays on a non-LTS OS, then OS upgrades as late as the
OpenStack path allows (each OS moves once its next OpenStack release needs it).

Worked example (seed 000's spiral, controllers ``ubuntu-14.04:ubuntu-20.04``): Juno to Mitaka
stays on 14.04 (the cloud archive brings Kilo, Liberty and Mitaka to 14.04); Newton does not
run on 14.04 and Mitaka runs on 16.04, so the controllers move at Mitaka; the same happens
at Queens (16.04 → 18.04) and at Ussuri (18.04 → 20.04): 11 OpenStack upgrades and 3
controller OS upgrades, the fewest possible.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.version import Version

from hvroll.controlplane.catalogue import Catalogue, Edge, NoEdge, OsName, Release
from hvroll.errors import InputError

CONTROLLERS = "controllers"


@dataclass(frozen=True)
class Role:
    """Who runs an OS: the controllers, or one group of computes."""

    name: str
    start: OsName
    target: OsName

    @property
    def compute(self) -> bool:
        return self.name != CONTROLLERS


@dataclass(frozen=True)
class Options:
    """Planning assumptions (not facts): API downtime of a hop in seconds."""

    cold_api_downtime_s: float = 3600.0
    """A cold hop stops the API for backup, package upgrade and schema migrations."""
    rolling_api_downtime_s: float = 0.0
    """A rolling hop restarts API workers one at a time behind the load balancer."""
    projects: tuple[str, ...] | None = None
    """Projects whose rolling-upgrade facts decide rolling vs cold (None: all known)."""


@dataclass(frozen=True)
class State:
    release: Release
    os: tuple[OsName, ...]
    """One per role, in the order of the roles."""

    def data(self, roles: Sequence[Role]) -> dict[str, Any]:
        out: dict[str, Any] = {"release": self.release.key, "name": self.release.name}
        for role, name in zip(roles, self.os, strict=True):
            out[role.name] = str(name)
        return out


@dataclass(frozen=True)
class Hop:
    source: State
    target: State
    kind: str
    """rolling | cold | skip-level | os"""
    reason: str
    api_downtime_s: float = 0.0
    role: str | None = None
    """The role an OS hop moves."""
    campaign: bool = False
    """A compute OS upgrade: an hvroll campaign (hvroll plan / hvroll run)."""
    rolling: bool | None = None
    """For an OpenStack hop: whether services run mixed versions (no API stop)."""
    sources: tuple[str, ...] = ()

    def data(self, roles: Sequence[Role]) -> dict[str, Any]:
        out: dict[str, Any] = {"from": self.source.data(roles), "to": self.target.data(roles),
                               "kind": self.kind, "reason": self.reason,
                               "api_downtime_s": self.api_downtime_s}
        if self.role is not None:
            out["role"] = self.role
            out["campaign"] = self.campaign
        if self.rolling is not None:
            out["rolling"] = self.rolling
        out["sources"] = list(self.sources)
        return out


@dataclass(frozen=True)
class Path:
    roles: tuple[Role, ...]
    hops: tuple[Hop, ...]
    options: Options = field(default_factory=Options)

    @property
    def upgrades(self) -> int:
        return len(self.hops)

    @property
    def openstack_upgrades(self) -> int:
        return sum(1 for h in self.hops if h.kind != "os")

    @property
    def os_upgrades(self) -> int:
        return sum(1 for h in self.hops if h.kind == "os")

    @property
    def api_downtime_s(self) -> float:
        return sum(h.api_downtime_s for h in self.hops)

    def data(self) -> dict[str, Any]:
        return {"path": [h.data(self.roles) for h in self.hops], "upgrades": self.upgrades,
                "openstack_upgrades": self.openstack_upgrades,
                "os_upgrades": self.os_upgrades,
                "campaigns": sum(1 for h in self.hops if h.campaign),
                "api_downtime_s": self.api_downtime_s,
                "assumptions": {"cold_api_downtime_s": self.options.cold_api_downtime_s,
                                "rolling_api_downtime_s": self.options.rolling_api_downtime_s}}


class NoPathError(InputError):
    """The catalogue allows no path for the request; the message names the missing edge."""


Cost = tuple[int, float, int, int]


def plan_path(catalogue: Catalogue, source: Release, target: Release,
              roles: Sequence[Role] = (), options: Options | None = None) -> Path:
    """The best path from ``source`` to ``target`` moving each role from its start OS to its
    target OS; NoPathError with the missing edge and why when there is none."""
    opts = options or Options()
    roles = tuple(roles)
    _check_ends(catalogue, source, target, roles)
    found = _search(catalogue, source, target, roles, opts)
    if found is None:
        raise NoPathError(_explain(catalogue, source, target, roles, opts))
    return Path(roles, _with_reasons(catalogue, found, roles), opts)


def _check_ends(catalogue: Catalogue, source: Release, target: Release,
                roles: Sequence[Role]) -> None:
    for role in roles:
        for release, name, end in ((source, role.start, "start"), (target, role.target, "end")):
            if catalogue.supports(release, name) is None:
                known = ", ".join(catalogue.supported_os(release, name.family)) or "none"
                raise NoPathError(f"{release.label} does not run on {name} ({role.name} at the "
                                  f"{end}; {name.family} releases it runs on: {known})")
        if Version(role.target.version) < Version(role.start.version):
            raise NoPathError(f"{role.name}: {role.start} → {role.target} is a downgrade "
                              f"(expected a target OS at least as new as the start)")
    if catalogue.index(target) < catalogue.index(source):
        raise NoPathError(f"no upgrade path {source.label} → {target.label}: it is a "
                          f"downgrade (database migrations only go forward)")


def _search(catalogue: Catalogue, source: Release, target: Release, roles: tuple[Role, ...],
            opts: Options) -> list[Hop] | None:
    n = len(catalogue.releases)
    goal_i = catalogue.index(target)
    start = State(source, tuple(r.start for r in roles))
    goal_os = tuple(r.target for r in roles)
    candidates = [_candidates(catalogue, r) for r in roles]
    edges: dict[tuple[int, int], Edge | NoEdge] = {}
    zero: Cost = (0, 0.0, 0, 0)
    heap: list[tuple[Cost, int, State, tuple[Hop, ...]]] = [(zero, 0, start, ())]
    best: dict[tuple[str, tuple[OsName, ...]], Cost] = {}
    counter = 0
    while heap:
        cost, _, state, hops = heapq.heappop(heap)
        key = (state.release.name, state.os)
        if key in best:
            continue
        best[key] = cost
        i = catalogue.index(state.release)
        if i == goal_i and state.os == goal_os:
            return list(hops)
        moves: list[tuple[Cost, Hop]] = []
        for j in range(i + 1, goal_i + 1):
            edge = edges.get((i, j))
            if edge is None:
                edge = catalogue.edge(state.release, catalogue.releases[j], opts.projects)
                edges[(i, j)] = edge
            if isinstance(edge, NoEdge):
                continue
            if all(catalogue.supports(edge.target, os) is not None for os in state.os):
                down = opts.rolling_api_downtime_s if edge.rolling else opts.cold_api_downtime_s
                hop = Hop(state, State(edge.target, state.os), edge.kind.value, edge.reason,
                          down, rolling=edge.rolling, sources=edge.sources)
                moves.append(((1, down, 0, 0), hop))
        for k, role in enumerate(roles):
            current = state.os[k]
            for name in candidates[k]:
                if Version(name.version) <= Version(current.version):
                    continue
                fact = catalogue.supports(state.release, name)
                if fact is None:
                    continue
                new_os = (*state.os[:k], name, *state.os[k + 1:])
                hop = Hop(state, State(state.release, new_os), "os", "", 0.0, role=role.name,
                          campaign=role.compute, sources=fact.sources)
                moves.append(((1, 0.0, 0 if catalogue.lts(name) else 1, n - i), hop))
        for step, hop in moves:
            nxt = hop.target
            if (nxt.release.name, nxt.os) in best:
                continue
            counter += 1
            total: Cost = (cost[0] + step[0], cost[1] + step[1], cost[2] + step[2],
                           cost[3] + step[3])
            heapq.heappush(heap, (total, counter, nxt, (*hops, hop)))
    return None


def _candidates(catalogue: Catalogue, role: Role) -> list[OsName]:
    """OS releases a role may pass through: the catalogue's of its family, and its target."""
    names = [OsName(o.family, o.version) for o in catalogue.os_releases
             if o.family == role.start.family]
    if role.target not in names:
        names.append(role.target)
    return sorted(names, key=lambda o: Version(o.version))


def _with_reasons(catalogue: Catalogue, hops: list[Hop], roles: Sequence[Role]) -> tuple[Hop,
                                                                                          ...]:
    """OS hops get their reason: which next OpenStack release needs the move, or the target."""
    out: list[Hop] = []
    index = {r.name: k for k, r in enumerate(roles)}
    for n, hop in enumerate(hops):
        if hop.kind != "os" or hop.role is None:
            out.append(hop)
            continue
        k = index[hop.role]
        old, new = hop.source.os[k], hop.target.os[k]
        release = hop.source.release
        later = next((h for h in hops[n + 1:] if h.kind != "os"), None)
        old_fact = catalogue.supports(release, old)
        new_fact = catalogue.supports(release, new)
        both = (f"{release.label} runs on both ({old}: "
                f"{old_fact.basis.value if old_fact else '?'}, {new}: "
                f"{new_fact.basis.value if new_fact else '?'}"
                f"{'' if new_fact is None or new_fact.verified else ', unverified'})")
        if later is not None and catalogue.supports(later.target.release, old) is None:
            why = f"{later.target.release.label} does not run on {old}; {both}"
        elif new == roles[k].target:
            why = f"the requested {hop.role} OS; {both}"
        else:
            why = both
        if not catalogue.lts(new):
            why += f"; {new} is not a long-term release"
        how = ("hvroll campaign: drain each compute by live migration, reinstall, verify"
               if hop.campaign else
               "new controllers beside the old, then the load balancer is switched")
        out.append(Hop(hop.source, hop.target, "os", f"{why}; {how}", 0.0, role=hop.role,
                       campaign=hop.campaign, sources=hop.sources))
    return tuple(out)


def _explain(catalogue: Catalogue, source: Release, target: Release, roles: tuple[Role, ...],
             opts: Options) -> str:
    """Why no path exists: the OpenStack edge, or the role whose OS cannot follow."""
    if _search(catalogue, source, target, (), opts) is None:
        i, j = catalogue.index(source), catalogue.index(target)
        edge = catalogue.edge(source, target, opts.projects)
        why = edge.reason if isinstance(edge, NoEdge) else "no chain of supported edges"
        return (f"no upgrade path {source.label} → {target.label}: missing edge "
                f"{catalogue.releases[i].key} → {catalogue.releases[j].key} ({why})")
    for role in roles:
        if _search(catalogue, source, target, (role,), opts) is not None:
            continue
        reach = _furthest(catalogue, source, target, role, opts)
        nxt = catalogue.releases[catalogue.index(reach) + 1]
        family = role.start.family
        on_reach = catalogue.supported_os(reach, family)
        on_next = catalogue.supported_os(nxt, family)
        return (f"no upgrade path {source.label} → {target.label} for {role.name} "
                f"{role.start} → {role.target}: missing edge {reach.key} → {nxt.key} "
                f"(no {family} release runs both: {reach.label} on "
                f"{', '.join(on_reach) or 'none'}, {nxt.label} on {', '.join(on_next) or 'none'})")
    return f"no upgrade path {source.label} → {target.label} with these OS changes together"


def _furthest(catalogue: Catalogue, source: Release, target: Release, role: Role,
              opts: Options) -> Release:
    """The newest release a role can reach with some OS of its family."""
    reach = source
    for release in catalogue.releases[catalogue.index(source) + 1:catalogue.index(target) + 1]:
        for os_id in catalogue.supported_os(release, role.start.family):
            name = catalogue.parse_os(os_id)
            if Version(name.version) < Version(role.start.version):
                continue
            probe = Role(role.name, role.start, name)
            if _search(catalogue, source, release, (probe,), opts) is not None:
                reach = release
                break
        else:
            break
    return reach


def plan_document(path: Path, source: Release, target: Release) -> dict[str, Any]:
    """What ``hvroll controlplane plan -o FILE`` writes: the request and the path found.
    Loading re-plans the request and refuses a file whose path no longer matches."""
    return {"kind": "hvroll-controlplane-plan", "version": 1,
            "request": {"from": source.key, "to": target.key,
                        "roles": [{"name": r.name, "from": str(r.start), "to": str(r.target)}
                                  for r in path.roles],
                        "cold_api_downtime_s": path.options.cold_api_downtime_s,
                        "rolling_api_downtime_s": path.options.rolling_api_downtime_s,
                        "projects": (list(path.options.projects)
                                     if path.options.projects is not None else None)},
            **path.data()}


def load_plan_document(data: Any, catalogue: Catalogue, file: str) -> Path:
    """The path of a plan file, planned again from its request with ``catalogue``."""
    if not isinstance(data, dict) or data.get("kind") != "hvroll-controlplane-plan":
        raise InputError(f"{file}: not a control-plane plan (expected the output of "
                         f"'hvroll controlplane plan -o FILE')")
    try:
        req = data["request"]
        roles = [Role(r["name"], catalogue.parse_os(r["from"]), catalogue.parse_os(r["to"]))
                 for r in req["roles"]]
        projects = req.get("projects")
        opts = Options(cold_api_downtime_s=float(req["cold_api_downtime_s"]),
                       rolling_api_downtime_s=float(req["rolling_api_downtime_s"]),
                       projects=tuple(projects) if projects is not None else None)
        path = plan_path(catalogue, catalogue.release(req["from"]),
                         catalogue.release(req["to"]), roles, opts)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{file}: malformed control-plane plan ({exc!r})") from None
    if path.data()["path"] != data.get("path"):
        raise InputError(f"{file}: the catalogue now plans another path for this request "
                         f"(expected the same hops; plan again with 'hvroll controlplane "
                         f"plan')")
    return path
