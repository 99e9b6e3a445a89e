"""Is a plan fit to run on this inventory? Checked before a campaign is created, so that a
plan made for another inventory, or edited by hand into an unsafe one, is refused with
nothing written.

A plan is replayed over the inventory, wave by wave, as the executor will run it:

- it was made for this inventory (its :func:`~hvroll.inventory.fingerprint`);
- every host, VM and profile it names exists (target profiles may come with the plan);
- no host step goes to a profile of lower rank than the host's (the one-way profile graph);
- every migration moves a VM from where it is at that point, to a host of the same cluster
  (the executor's limits and its choice of another destination are per cluster, and so is
  the lower bound: docs/planner.md);
- no migration sends a VM to a host whose profile at that point ranks lower than the VM's
  current host's;
- in a ``roll-forward`` plan, no migration sends a VM to a host while that host is being
  reinstalled: a host reinstalled in the wave of the move must be one of the wave's receivers,
  which are reinstalled before the others drain. (A move to a host upgraded in a *later* wave
  is the bootstrap of a cluster without a spare: the host keeps its profile, whose rank the
  previous rule has checked, until its own turn.)
- in a ``roll-forward`` plan, no VM leaves a host the plan has already upgraded: a host sends
  its VMs away before its own reinstall, never after (the lower bound under the policy rests
  on it: docs/planner.md).

As the executor runs a wave, the hosts that receive VMs in it (empty spares first) are
reinstalled before the other hosts of the wave start draining; so a host reinstalled in wave
*w* may receive from the non-receiving hosts of wave *w* and from any host of a later wave.
Returning moves of a wave (``evacuate-return``) run after its reinstalls.
"""

from __future__ import annotations

from hvroll.domain import Fleet
from hvroll.inventory import serialized
from hvroll.planner.model import Migration, Plan, Strategy

MAX_REPORTED = 20


def plan_problems(plan: Plan, fleet: Fleet) -> list[str]:
    """What makes ``plan`` unfit for ``fleet`` (the inventory as loaded, before target
    profiles are added), one line each; [] when it may run."""
    # serialized, not only hashed: the campaign run from the plan stores its JSON next
    digest = serialized(fleet).fingerprint if plan.inventory_fingerprint else ""
    if digest != plan.inventory_fingerprint:
        return [f"the plan was made for another inventory (expected the inventory it was "
                f"planned from, fingerprint {plan.inventory_fingerprint}, got "
                f"{digest}; plan again with 'hvroll plan')"]
    problems: list[str] = []
    profiles = {p.name: p for p in fleet.profiles}
    for p in plan.targets:
        profiles.setdefault(p.name, p)
    hosts = fleet.host_by_name
    rank = {name: p.rank for name, p in profiles.items()}
    profile_now = {h.name: h.profile for h in fleet.hosts}
    location = {vm.name: vm.host for vm in fleet.vms}
    cluster_of = {h.name: h.cluster for h in fleet.hosts}
    for wave in plan.waves:
        for step in wave.steps:
            if step.host not in hosts:
                problems.append(f"wave {wave.index}: host {step.host!r} is not in the "
                                f"inventory (expected one of its {len(hosts)} hosts)")
            elif step.target not in profiles:
                problems.append(f"wave {wave.index}: host {step.host!r} targets unknown "
                                f"profile {step.target!r} (expected one of: "
                                f"{', '.join(sorted(profiles))})")
            elif rank[step.target] < rank[profile_now[step.host]]:
                problems.append(f"wave {wave.index}: host {step.host!r} would go from profile "
                                f"{profile_now[step.host]!r} (rank "
                                f"{rank[profile_now[step.host]]}) to {step.target!r} (rank "
                                f"{rank[step.target]}) (expected a target of the same or a "
                                f"higher rank)")
    if problems:
        return problems[:MAX_REPORTED]
    upgraded: dict[str, int] = {}
    for wave in plan.waves:
        if plan.strategy is Strategy.ROLL_FORWARD:
            problems += [f"wave {wave.index}: host {step.host!r}, upgraded in wave "
                         f"{upgraded[step.host]}, would send {len(step.drain)} VM(s) away "
                         f"(expected a roll-forward plan to move VMs off a host only before "
                         f"its upgrade)" for step in wave.steps
                         if step.drain and step.host in upgraded]
        receivers = {m.dest for s in wave.steps for m in s.drain}
        first = {s.host for s in wave.steps if s.host in receivers and s.reinstall}
        # Receivers are reinstalled first: their target holds for the others' drains.
        after_receivers = dict(profile_now) | {s.host: s.target for s in wave.steps
                                               if s.host in first}
        for step in wave.steps:
            now = profile_now if step.host in receivers else after_receivers
            busy = {s.host for s in wave.steps if s.reinstall and not (
                s.host in first and step.host not in receivers)}
            for move in step.drain:
                problems += _move_problems(plan, wave.index, move, location, now, rank, busy,
                                           cluster_of)
        for step in wave.steps:
            if step.reinstall:
                profile_now[step.host] = step.target
                upgraded.setdefault(step.host, wave.index)
        for move in wave.returns:
            problems += _move_problems(plan, wave.index, move, location, profile_now, rank,
                                       set(), cluster_of)
        if len(problems) >= MAX_REPORTED:
            break
    return problems[:MAX_REPORTED]


def _move_problems(plan: Plan, wave: int, move: Migration, location: dict[str, str],
                   profile_now: dict[str, str], rank: dict[str, int],
                   reinstalling: set[str], cluster_of: dict[str, str]) -> list[str]:
    where = f"wave {wave}: vm {move.vm!r}"
    if move.vm not in location:
        return [f"{where} is not in the inventory (expected a VM of the inventory)"]
    for role, host in (("source", move.source), ("destination", move.dest)):
        if host not in profile_now:
            return [f"{where} has unknown {role} host {host!r} (expected a host of the "
                    f"inventory)"]
    if location[move.vm] != move.source:
        return [f"{where} is on host {location[move.vm]!r} at that point (expected the "
                f"plan to move it from there, got {move.source!r})"]
    if cluster_of[move.source] != cluster_of[move.dest]:
        return [f"{where} would go from cluster {cluster_of[move.source]!r} to "
                f"{cluster_of[move.dest]!r} on {move.dest!r} (expected a host of its own "
                f"cluster)"]
    have, want = profile_now[move.source], profile_now[move.dest]
    location[move.vm] = move.dest
    if rank[want] < rank[have]:
        return [f"{where} would go from profile {have!r} (rank {rank[have]}) on "
                f"{move.source!r} to {want!r} (rank {rank[want]}) on {move.dest!r} (expected "
                f"a destination of the same or a higher rank)"]
    if plan.strategy is Strategy.ROLL_FORWARD and move.dest in reinstalling:
        return [f"{where} would go to host {move.dest!r} while it is being reinstalled "
                f"(expected a roll-forward plan to send VMs only to a host of the wave that "
                f"is reinstalled before the others drain, or to one not reinstalled then)"]
    return []
