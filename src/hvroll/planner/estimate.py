"""How long migrations, drains and whole campaigns take: the pre-copy model and lower bounds.

Pre-copy live migration (QEMU's default) first sends all guest RAM, then, round after round,
the pages the guest dirtied meanwhile, until what is left can be sent within the allowed
downtime; then it pauses the guest and sends the rest. With RAM ``M`` MiB, bandwidth ``B``
MiB/s and dirty rate ``D`` MiB/s, round ``i`` sends ``M·(D/B)^i`` and takes ``(M/B)·(D/B)^i``
seconds, so the whole migration takes about

    total ≈ (M/B) / (1 − D/B)        when D < B,

and never converges when ``D ≥ B``: the guest dirties memory faster than the link carries it.

Worked example: an 8 GiB guest (M = 8192 MiB) dirtying D = 100 MiB/s over a shared 10 GbE link
giving it B = 590 MiB/s, with a 500 ms downtime limit (a budget of B × 0.5 s = 295 MiB).
Round 0 sends 8192 MiB in 13.885 s, while the guest dirties D/B = 16.9 % as much: 1388.5 MiB.
Round 1 sends those in 2.353 s; 235.3 MiB are dirty again, which fits the budget, so QEMU
pauses the guest and sends them in 0.399 s. Total 16.637 s (the closed form gives
(8192/590)/(1 − 100/590) = 16.71 s), 9815.8 MiB sent, downtime 399 ms:
``precopy(8192, 590, 100, 500)``. At D = 800 MiB/s > B it never converges.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

MAX_ROUNDS = 30
"""QEMU gives up on nothing by itself; hvroll's ladder escalates after this many rounds."""

ESCALATION_FACTOR = 1.5
"""A non-converging migration finished by auto-converge or post-copy is estimated to take this
many times its first round (throttled guest, then the remaining pages)."""

TURN_S = 5.0
"""The executor looks at its jobs once per turn (its poll interval, 5 s by default): a job that
ends is seen, and what waited for it starts, at the first turn after it ends."""

REINSTALL_SPREAD = 0.1
"""Standard deviation of one host's reinstall over the policy's mean ``reinstall_s`` (about
3 minutes of 30: the operators' hook runs the same playbook on the same hardware). A wave
waits for its slowest host, so k reinstalls side by side take longer than one."""


@dataclass(frozen=True, slots=True)
class Precopy:
    """The outcome of a pre-copy migration under the model."""

    converges: bool
    rounds: int
    total_s: float
    downtime_ms: float
    sent_mib: float


def precopy(ram_mib: float, bandwidth_mib_s: float, dirty_mib_s: float,
            downtime_limit_ms: float, max_rounds: int = MAX_ROUNDS) -> Precopy:
    """Pre-copy of ``ram_mib`` at ``bandwidth_mib_s`` with a guest dirtying ``dirty_mib_s``.

    Converges when what is left after a round fits in ``downtime_limit_ms``. A migration that
    does not within ``max_rounds`` (or whose dirty rate is at least the bandwidth) is reported
    as not converging, with the time an escalated migration takes (``ESCALATION_FACTOR`` × the
    first round) and the downtime of a post-copy switch-over (one round-trip, ~0 here).
    """
    if bandwidth_mib_s <= 0:
        raise ValueError(f"bandwidth must be > 0 MiB/s (got {bandwidth_mib_s})")
    first_s = ram_mib / bandwidth_mib_s
    ratio = dirty_mib_s / bandwidth_mib_s
    budget_mib = bandwidth_mib_s * downtime_limit_ms / 1000.0
    remaining = ram_mib
    total_s = sent = 0.0
    for rounds in range(max_rounds + 1):
        if remaining <= budget_mib:
            stop_s = remaining / bandwidth_mib_s
            return Precopy(True, rounds, total_s + stop_s, stop_s * 1000.0, sent + remaining)
        if ratio >= 1.0:
            break
        total_s += remaining / bandwidth_mib_s
        sent += remaining
        remaining *= ratio
    return Precopy(False, max_rounds, first_s * ESCALATION_FACTOR, 0.0,
                   ram_mib * ESCALATION_FACTOR)


@dataclass(frozen=True, slots=True)
class Transfer:
    """One migration as the drain estimate sees it."""

    source: str
    dest: str
    seconds: float
    sent_mib: float


def drain_time(transfers: Sequence[Transfer], link_mib_s: dict[str, float]) -> float:
    """Time to run ``transfers`` concurrently over fairly shared links.

    Migrations out of one host share its link, and a link with work left stays saturated
    (when one migration ends, the others speed up), so a source needs ``sent / link`` and a
    destination ``received / link``; the drain takes the largest of these, and at least its
    longest single migration.
    """
    sent: dict[str, float] = {}
    received: dict[str, float] = {}
    longest = 0.0
    for t in transfers:
        sent[t.source] = sent.get(t.source, 0.0) + t.sent_mib
        received[t.dest] = received.get(t.dest, 0.0) + t.sent_mib
        longest = max(longest, t.seconds)
    out = max((mib / link_mib_s[h] for h, mib in sent.items()), default=0.0)
    into = max((mib / link_mib_s[h] for h, mib in received.items()), default=0.0)
    return max(out, into, longest)


def reinstall_rounds(reinstalls: Sequence[float], hosts_per_wave: int) -> float:
    """The shortest time the ``reinstalls`` (each host's, in seconds) take with at most
    ``hosts_per_wave`` (k) at once, whatever their order: some place runs at least ⌈n/k⌉ of
    them (so at least the ⌈n/k⌉ shortest one after another), the k places together run them
    all (their sum over k), and none is split (the longest). With equal reinstalls:
    ⌈n/k⌉ rounds.

    >>> reinstall_rounds([1800.0] * 40, 4)
    18000.0
    >>> reinstall_rounds([100.0, 100.0, 100.0, 400.0], 2)
    400.0
    >>> reinstall_rounds([100.0, 200.0, 300.0], 2)
    300.0
    >>> reinstall_rounds([100.0, 100.0, 300.0, 300.0], 2)
    400.0
    """
    if not reinstalls:
        return 0.0
    k = max(1, hosts_per_wave)
    shortest = sum(sorted(reinstalls)[:math.ceil(len(reinstalls) / k)])
    return max(shortest, sum(reinstalls) / k, max(reinstalls))


def cluster_lower_bound(reinstalls: Sequence[float], hosts_per_wave: int, moved_mib: float,
                        link_mib_s: float, drain_ahead: int = 1) -> float:
    """The shortest time a cluster can be upgraded in, whatever the plan.

    It counts two things every plan must do: reinstall each of the hosts it upgrades (each
    as long as ``reinstalls`` gives: the policy's ``reinstall_s`` for a plan, or each host's
    own for a campaign that ran), and send the memory and local disks of their running VMs,
    ``moved_mib``, out of the hosts being drained, each host through its own link (at most
    ``link_mib_s``, the fastest link of the cluster). And two constraints of every plan: at
    most ``hosts_per_wave`` (k) hosts of the cluster reinstall at once, and a host is out of
    service from the start of its drain to the end of its reinstall, with at most k + a out
    at once (a: the policy's ``drain_ahead``; k in a wave and a of the next drained ahead;
    in the canary wave the canary's drain may run beside k spares' reinstalls).

    So with k reinstalls at a time the reinstalls alone take at least
    :func:`reinstall_rounds` (⌈hosts/k⌉ × reinstall_s when all are equal); and the
    out-of-service time summed over hosts, at least the reinstalls' sum + moved/link, spread
    over at most k + a hosts at a time, takes at least that over k + a. No schedule beats
    the larger of the two. It assumes nothing about the order of drains and reinstalls (they
    may overlap), and counts no time for the canary's hold or for VMs moving twice, which
    can only add.

    >>> cluster_lower_bound([1800.0] * 40, 4, 4 * 1024 * 1024, 1180.0)
    18000.0
    >>> round(cluster_lower_bound([100.0] * 4, 1, 1180.0 * 1000, 1180.0), 1)
    700.0
    >>> round(cluster_lower_bound([100.0] * 4, 1, 1180.0 * 1000, 1180.0, drain_ahead=2), 1)
    466.7
    """
    if not reinstalls:
        return 0.0
    k = max(1, hosts_per_wave)
    out_of_service = (sum(reinstalls) + moved_mib / link_mib_s) / (k + max(1, drain_ahead))
    return max(reinstall_rounds(reinstalls, k), out_of_service)


def cluster_policy_bound(reinstalls: Sequence[float], hosts_per_wave: int, moved_mib: float,
                         link_mib_s: float, drain_ahead: int = 1, *,
                         whole: bool, holds_vms: bool) -> float:
    """The shortest time a cluster can be upgraded in by any plan under the policy's rules,
    counting also how a cluster starts and ends: :func:`cluster_lower_bound`, and, for a
    ``whole`` cluster (every host of it is upgraded by a ``roll-forward`` plan) whose hosts
    hold VMs (``holds_vms``), the out-of-service term with the places that must stand idle
    at both ends::

        (Σ reinstalls + moved/link + 2 × (p − q) × shortest reinstall) / p

    with ``p = min(k + a, n)`` places out of service at once and ``q = min(k, n)``
    reinstalls at once. Useful work, summed over hosts: each reinstall and each VM's last
    move out of the host it leaves for good (its memory and local disks at most
    ``link_mib_s``, through that host's link, while the host is out of service; the caller
    passes in ``moved_mib`` only what must cross a link: see docs/planner.md). At any moment
    at most ``q`` hosts do the first and at most ``p`` hosts do either. A VM stays in its
    cluster (the plan's validation refuses a move to another), and the cluster's hosts are
    all upgraded, so each VM's last move goes to an upgraded host once its reinstall has
    ended: none starts before ``t1``, the end of the cluster's first reinstall (``t1`` at
    least the shortest reinstall), and until then only reinstalls are useful work (at most
    ``q``). The host that sends the last of these moves (ending at ``td > t1``) is
    reinstalled after it (a roll-forward plan moves no VM off a host it has upgraded: the
    plan's validation refuses it; ``evacuate-return``'s returns do, so its clusters are not
    ``whole`` here): the cluster ends no sooner than ``td`` plus that host's reinstall, and
    after ``td`` only reinstalls are left. So ``p × T ≥ work + (p − q) × (t1 + T − td)``,
    each of the two ends at least the shortest reinstall. It assumes nothing of the plan's
    waves, canary or order.

    Two hosts, one reinstalled at a time and one more out of service (k = a = 1), one
    empty and one holding 50 s of memory over the link: the empty one is reinstalled
    (100 s), the other drains into it (50 s) and is reinstalled (100 s): 250 s. Work 250 s
    and a place idle for at least 100 s at each end, over two places: 225 s, where
    :func:`cluster_lower_bound` gives 200 s:

    >>> cluster_policy_bound([100.0] * 2, 1, 1180.0 * 50, 1180.0, whole=True, holds_vms=True)
    225.0
    >>> cluster_lower_bound([100.0] * 2, 1, 1180.0 * 50, 1180.0)
    200.0
    """
    bound = cluster_lower_bound(reinstalls, hosts_per_wave, moved_mib, link_mib_s, drain_ahead)
    if not reinstalls or not whole or not holds_vms:
        return bound
    n, k = len(reinstalls), max(1, hosts_per_wave)
    places = min(k + max(1, drain_ahead), n)
    slots = min(k, n)
    work = sum(reinstalls) + moved_mib / link_mib_s
    return max(bound, (work + 2 * (places - slots) * min(reinstalls)) / places)


def fleet_lower_bound(cluster_bounds: Iterable[float], moved_mib: float,
                      aggregate_link_mib_s: float) -> float:
    """Clusters upgrade in parallel: the campaign takes at least its slowest cluster's bound,
    and at least all moved memory over the fleet's aggregate migration bandwidth."""
    wire = moved_mib / aggregate_link_mib_s if aggregate_link_mib_s > 0 else 0.0
    return max(max(cluster_bounds, default=0.0), wire)


@dataclass(frozen=True, slots=True)
class Limits:
    """Concurrent migrations the executor allows (the policy's limits)."""

    per_source: int
    per_dest: int
    per_cluster: int


def drain_ends(drains: Sequence[Sequence[Transfer]], limits: Limits,
               turn_s: float = TURN_S) -> list[float]:
    """When each host's drain ends, seconds after its first turn, as the executor runs it.

    ``drains`` are the hosts of one cluster's wave in the plan's order, each with its
    migrations in order. At every turn each host, in order, starts its waiting migrations in
    order while its source and the cluster have room under ``limits``; one whose destination
    has none waits and is passed over (the ones behind it, to other destinations, may start),
    as the executor's drain does (:func:`~hvroll.executor.migrations.held_beyond_destination`).
    A migration started at turn ``t`` that takes ``s`` seconds is seen ended, and frees its
    room, at the first turn at or after ``t + s`` (at least the next one). A host without
    migrations ends at 0.

    Two hosts of 3 and 2 migrations (s) into x, y, z, two at a time per host and per
    destination, three in the cluster: ``a`` starts 10 s to x and 20 s to y, ``b`` its 5 s to
    x (the cluster's third); at 5 ``b``'s ends and ``b`` starts its 5 s to z, ended at 10;
    at 10 ``a`` starts its 4 s to x, seen ended at 15; its 20 s one ends at 20.

    >>> a = [Transfer("a", "x", 10.0, 0), Transfer("a", "y", 20.0, 0),
    ...      Transfer("a", "x", 4.0, 0)]
    >>> b = [Transfer("b", "x", 5.0, 0), Transfer("b", "z", 5.0, 0)]
    >>> drain_ends([a, b, []], Limits(2, 2, 3))
    [20.0, 10.0, 0.0]

    One migration at a time per destination: ``b``'s first waits for x, and its two to z
    pass it, one after the other; at 10 x is free and ``b``'s first starts, ended at 20 (with
    the first held, the ones behind it waiting too, ``b`` would end at 30):

    >>> a = [Transfer("a", "x", 10.0, 0), Transfer("a", "y", 10.0, 0)]
    >>> b = [Transfer("b", "x", 10.0, 0), Transfer("b", "z", 10.0, 0),
    ...      Transfer("b", "z", 10.0, 0)]
    >>> drain_ends([a, b], Limits(2, 1, 4))
    [10.0, 20.0]
    """
    ends = [0.0] * len(drains)
    left = [list(d) for d in drains]
    open_ = [len(d) for d in drains]
    waiting = [i for i, d in enumerate(drains) if d]
    per_source, per_dest, per_cluster = limits.per_source, limits.per_dest, limits.per_cluster
    by_source: dict[str, int] = {}
    by_dest: dict[str, int] = {}
    running: list[tuple[float, int, str, str]] = []
    now = 0.0
    while True:
        for i in waiting:
            if len(running) >= per_cluster:
                break
            moves = left[i]
            passed = 0
            while passed < len(moves) and len(running) < per_cluster:
                m = moves[passed]
                if by_source.get(m.source, 0) >= per_source:
                    break
                if by_dest.get(m.dest, 0) >= per_dest:
                    passed += 1
                    continue
                seen = max(now + turn_s, math.ceil((now + m.seconds) / turn_s) * turn_s)
                heapq.heappush(running, (seen, i, m.source, m.dest))
                by_source[m.source] = by_source.get(m.source, 0) + 1
                by_dest[m.dest] = by_dest.get(m.dest, 0) + 1
                del moves[passed]
        waiting = [i for i in waiting if left[i]]
        if not running:
            return ends
        now = running[0][0]
        while running and running[0][0] == now:
            _, i, source, dest = heapq.heappop(running)
            by_source[source] -= 1
            by_dest[dest] -= 1
            open_[i] -= 1
            if open_[i] == 0:
                ends[i] = now


@cache
def expected_max_normal(n: int) -> float:
    """The expected largest of ``n`` independent standard normal draws (0 for one), by
    numerical integration of ``x · n φ(x) Φ(x)^(n−1)`` over ±8.

    >>> [round(expected_max_normal(n), 4) for n in (1, 2, 3, 4, 10)]
    [0.0, 0.5642, 0.8463, 1.0294, 1.5388]
    """
    if n <= 1:
        return 0.0
    step = 0.01
    total = 0.0
    for i in range(-800, 801):
        x = i * step
        pdf = math.exp(-x * x / 2) / math.sqrt(2 * math.pi)
        cdf = 0.5 * (1 + math.erf(x / math.sqrt(2)))
        total += x * n * pdf * cdf ** (n - 1)
    return total * step


def slowest_end(ends: Sequence[float], spread_s: float) -> float:
    """The expected end of the slowest of jobs that start at ``ends``-relative times and take
    a common mean with a standard deviation ``spread_s`` (each independent), mean excluded:
    the largest, over j, of the j-th latest start plus the expected maximum of j draws (the
    j latest jobs start no earlier than the j-th, so each term is reached on average; it
    keeps the estimate below the true expectation, never above).

    Two starting together end 56.4 s after them on average; one started 100 s (one standard
    deviation) before the other hardly matters, one started 500 s before not at all:

    >>> [round(slowest_end(e, 100.0), 2) for e in ([0.0, 0.0], [100.0, 0.0], [500.0, 0.0])]
    [56.42, 100.0, 500.0]
    """
    if not ends:
        return 0.0
    latest = sorted(ends, reverse=True)
    if spread_s <= 0:
        return latest[0]
    return max(t + spread_s * expected_max_normal(j + 1) for j, t in enumerate(latest))


def wave_time(drains: Sequence[float], reinstall: Sequence[bool], reinstall_s: float, *,
              receivers: int = 0, spread: float = REINSTALL_SPREAD,
              turn_s: float = TURN_S) -> float:
    """How long one cluster's wave takes as the executor runs it, to the turn the next starts.

    ``receivers`` empty hosts are reinstalled first (the others drain into them): the wave's
    other hosts start a turn after the first of them is done, each VM going when its
    destination is done; such a drain ends ``drains`` seconds after it starts, and no sooner
    than its share for one receiver (``drains`` over ``receivers``) after the last receiver
    is done (the expected first and last of the receivers' reinstalls). Without receivers,
    every host is disabled at the wave's first turn, its migrations start at the next turn,
    and its drain ends ``drains`` seconds later (:func:`drain_ends`); then it is reinstalled
    (when ``reinstall``), and the wave ends with its slowest host. A reinstall takes
    ``reinstall_s`` on average with a standard deviation of ``spread`` × that
    (:data:`REINSTALL_SPREAD`): k side by side take the expected slowest of k
    (:func:`slowest_end`). Each end is seen at a turn; the cluster's
    next wave starts a turn after this one ends.

    Four spares disabled at 0 start their reinstalls at the next turn (5 s); 1800 s ± 10 %
    each, the fastest of four takes 1,614.7 s on average, the slowest 1,985.3 s: done at
    1,619.7 and 1,990.3, seen at 1,620 and 1,995. The canary is disabled at the next turn
    after the first (1,625), its migrations start at 1,630 and take 300 s: 1,930; but the
    quarter of them bound for the last spare start a turn after it is seen (2,000) and end at
    2,075. It is not reinstalled in this wave, so the next starts at 2,080:

    >>> wave_time([300.0], [False], 1800.0, receivers=4)
    2080.0
    """
    spread_s = reinstall_s * spread
    start = 0.0
    drained = [start + turn_s + d for d in drains]
    if receivers:
        top = spread_s * expected_max_normal(receivers)
        first = math.ceil((turn_s + reinstall_s - top) / turn_s) * turn_s + turn_s
        start = math.ceil((turn_s + reinstall_s + top) / turn_s) * turn_s + turn_s
        drained = [max(first + turn_s + d, start + d / receivers) for d in drains]
    reinstalled = [t for t, r in zip(drained, reinstall, strict=True) if r]
    end = max(drained, default=start)
    if reinstalled:
        end = max(end, slowest_end(reinstalled, spread_s) + reinstall_s)
    return math.ceil(end / turn_s) * turn_s + turn_s


@dataclass(frozen=True, slots=True)
class Pending:
    """One host of a cluster's waves after the canary wave, as :func:`overlapped_time` sees
    it: its wave (1, 2, …), its drain's length from its first turn (:func:`drain_ends`),
    whether it is reinstalled, and the hosts (indexes into the same list) its drain sends
    VMs to: it may start beside the wave before its own only once those are done."""

    wave: int
    drain_s: float
    reinstall: bool = True
    into: tuple[int, ...] = ()


def overlapped_time(hosts: Sequence[Pending], k: int, reinstall_s: float,
                    turn_s: float = TURN_S, ahead: int = 1) -> float:
    """How long a cluster's waves after its canary wave take as the executor runs them
    under ``roll-forward``, from the turn its first wave starts to the turn its last host is
    done; hosts in wave order, each wave's in the plan's order.

    The executor's rules (``Executor._overlap``): the current wave's hosts are disabled at
    its first turn, each drains from the next turn for its ``drain_s``, is reinstalled as
    soon as its drain ends (``reinstall_s``; the end is seen at a turn, the host verified
    and done at it) and frees its place at the next turn. Once every host of the current
    wave has started, the next wave's hosts start, in order, while fewer than ``k + ahead``
    of the cluster's hosts are out of service (``ahead``: the policy's ``drain_ahead``) and
    only when the hosts they drain into are done; such a host, once drained, waits for every
    host of the current wave to have drained and fewer than ``k`` reinstalls. The next wave
    becomes current when every host of the current one is done. Reinstalls take their mean
    here; the caller adds the spread of the last ones.

    Two waves of two hosts, k = 2, drains of 100 s, reinstalls of 1,000 s: the first wave
    drains from 5 to 105 and is done at 1,105; the second wave's first host, draining into
    hosts done long before, starts with it (k + 1 out), drains from 5 to 105 and waits; at
    1,110 it is reinstalled and its neighbour starts (drained at 1,215, then reinstalled):
    done at 2,110 and 2,215:

    >>> w1 = [Pending(1, 100.0), Pending(1, 100.0)]
    >>> overlapped_time([*w1, Pending(2, 100.0), Pending(2, 100.0)], 2, 1000.0)
    2215.0
    >>> overlapped_time([*w1, Pending(2, 100.0, into=(0,)), Pending(2, 100.0, into=(1,))],
    ...                 2, 1000.0)
    2215.0

    Two ahead: the second wave's hosts both drain from 5 to 105 and wait; both are
    reinstalled at 1,110 and done at 2,110:

    >>> overlapped_time([*w1, Pending(2, 100.0), Pending(2, 100.0)], 2, 1000.0, ahead=2)
    2110.0
    """
    n = len(hosts)
    if n == 0:
        return 0.0
    inf = math.inf
    state = ["p"] * n  # pending, x draining, d drained, r reinstalling, v verified now, f done
    until = [inf] * n
    waves = sorted({h.wave for h in hosts})
    members = {w: [i for i, h in enumerate(hosts) if h.wave == w] for w in waves}
    out_states = {"x", "d", "r", "v"}
    t = 0.0
    last = 0.0

    def seen(at: float) -> float:
        return max(t + turn_s, math.ceil(at / turn_s - 1e-9) * turn_s)

    def start(i: int) -> None:
        state[i] = "x"
        until[i] = t + turn_s + hosts[i].drain_s

    def drained(i: int, room: bool) -> None:
        nonlocal last
        if not hosts[i].reinstall:
            state[i] = "f"
            last = t
        elif room:
            state[i] = "r"
            until[i] = seen(t + reinstall_s)

    while True:
        for i in range(n):
            if state[i] == "x" and until[i] <= t:
                state[i] = "d"
            elif state[i] == "r" and until[i] <= t:
                state[i] = "v"
        current = next((w for w in waves if any(state[i] != "f" for i in members[w])), None)
        if current is None:
            return last
        now = members[current]
        for i in now:
            if state[i] == "p":
                start(i)
            elif state[i] == "d":
                drained(i, True)
        later_wave = next((w for w in waves if w > current), None)
        if later_wave is not None:
            later = members[later_wave]
            both = [*now, *later]
            for i in later:
                if state[i] == "d":
                    drained(i, not any(state[j] in ("p", "x") for j in now)
                            and sum(state[j] in ("r", "v") for j in both) < k)
            if not any(state[i] in ("p", "x") for i in now):
                out = sum(state[j] in out_states for j in both)
                for i in later:
                    if out >= k + ahead:
                        break
                    if state[i] == "p" and all(state[j] == "f" for j in hosts[i].into):
                        start(i)
                        out += 1
        moved = False
        for i in range(n):
            if state[i] == "v":
                state[i] = "f"
                last = t
                moved = True
        pending_ends = [until[i] for i in range(n) if state[i] in ("x", "r")]
        following = min(pending_ends, default=inf)
        if moved:
            following = min(following, t + turn_s)
        if following == inf:
            if all(s == "f" for s in state):
                return last
            following = t + turn_s  # a drained host that waits, or a start next turn
        t = max(t + turn_s, math.ceil(following / turn_s - 1e-9) * turn_s)
