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

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAX_ROUNDS = 30
"""QEMU gives up on nothing by itself; hvroll's ladder escalates after this many rounds."""

ESCALATION_FACTOR = 1.5
"""A non-converging migration finished by auto-converge or post-copy is estimated to take this
many times its first round (throttled guest, then the remaining pages)."""


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


def cluster_lower_bound(targeted_hosts: int, hosts_per_wave: int, reinstall_s: float,
                        moved_mib: float, link_mib_s: float) -> float:
    """The shortest time a cluster can be upgraded in, whatever the plan.

    It counts two things every plan must do: reinstall each of the ``targeted_hosts`` (each
    ``reinstall_s``), and send the memory and local disks of their running VMs, ``moved_mib``,
    out of the hosts being drained, each host through its own link (at most ``link_mib_s``,
    the fastest link of the cluster). And two constraints of every plan: at most
    ``hosts_per_wave`` (k) hosts of the cluster reinstall at once, and a host is out of
    service from the start of its drain to the end of its reinstall, with at most k + 1 out
    at once (k in a wave; in the canary wave the canary's drain may run beside k spares'
    reinstalls).

    So with k reinstalls at a time the reinstalls alone take at least ⌈hosts/k⌉ ×
    reinstall_s; and the out-of-service time summed over hosts, at least hosts × reinstall_s
    + moved/link, spread over at most k + 1 hosts at a time, takes at least that over k + 1.
    No schedule beats the larger of the two. It assumes nothing about the order of drains and
    reinstalls (they may overlap), and counts no time for the canary's hold or for VMs moving
    twice, which can only add.

    >>> cluster_lower_bound(40, 4, 1800.0, 4 * 1024 * 1024, 1180.0)
    18000.0
    >>> round(cluster_lower_bound(4, 1, 100.0, 1180.0 * 1000, 1180.0), 1)
    700.0
    """
    if targeted_hosts == 0:
        return 0.0
    k = max(1, hosts_per_wave)
    reinstalls = math.ceil(targeted_hosts / k) * reinstall_s
    out_of_service = (targeted_hosts * reinstall_s + moved_mib / link_mib_s) / (k + 1)
    return max(reinstalls, out_of_service)


def fleet_lower_bound(cluster_bounds: Iterable[float], moved_mib: float,
                      aggregate_link_mib_s: float) -> float:
    """Clusters upgrade in parallel: the campaign takes at least its slowest cluster's bound,
    and at least all moved memory over the fleet's aggregate migration bandwidth."""
    wire = moved_mib / aggregate_link_mib_s if aggregate_link_mib_s > 0 else 0.0
    return max(max(cluster_bounds, default=0.0), wire)
