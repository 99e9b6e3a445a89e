"""The simulator's numbers and the pure rules of its migration model.

Every random choice is a pure function of the seed and of the names of what it is about (a VM,
a job, a host) and of what is drawn (:func:`unit`, :func:`rng`), never of a shared random
stream: a run is repeatable, and a run resumed from its journal draws exactly what the
uninterrupted run would have drawn, whatever order the executor's calls came in.

Pre-copy live migration, as QEMU runs it: the first pass sends all guest RAM while the guest
keeps running; each later pass sends the pages dirtied during the previous one; once what is
dirty fits in the allowed downtime at the current bandwidth (``remaining ≤ bandwidth ×
max_downtime``), the guest is paused and the rest is sent (stop-and-copy), so the downtime is
``remaining / bandwidth`` plus a small fixed switch-over cost.

Worked example (the one ``hvroll.planner.estimate`` gives, and a test reproduces): an 8 GiB
guest dirtying 100 MiB/s, sharing a 1180 MiB/s link with one other migration (590 MiB/s each),
500 ms allowed. Pass 0 sends 8192 MiB in 13.885 s and 1388.5 MiB are dirty again; pass 1 sends
those in 2.353 s, 235.3 MiB are dirty, under the 295 MiB budget: the guest pauses, the rest
takes 398.8 ms, plus 5 ms switch-over: downtime 403.8 ms, completed after 16.642 s at
iteration 2.

Auto-converge, as QEMU's ``migration_trigger_throttle``: at the end of each pass, if the guest
dirtied more than 50 % of what the pass sent, a counter goes up; when it reaches two, it is
reset and the guest's vCPUs are throttled: 20 % at first, then 10 points more each time, at
most 99 %. A throttled guest dirties ``rate × (1 − throttle)``. So the throttle steps up every
second "too dirty" pass.
"""

from __future__ import annotations

import hashlib
import math
import random

MIB_PER_GIB = 1024

SWITCHOVER_FIXED_MS = 5.0
"""Added to every stop-and-copy: device state and the hand-over to the destination."""
POSTCOPY_SWITCH_MS = 30.0
"""Downtime of a switch to post-copy: the guest stops on the source and resumes on the
destination with its pages still on the source (QEMU reports tens of ms)."""

THROTTLE_TRIGGER = 0.5
"""QEMU's ``throttle-trigger-threshold`` (50 %): dirtied / sent above this counts as too dirty."""
THROTTLE_HIGH_PASSES = 2
"""Too-dirty passes that trigger one throttle step (QEMU resets its counter after each step)."""
THROTTLE_INITIAL_PCT = 20
"""QEMU's ``cpu-throttle-initial``."""
THROTTLE_INCREMENT_PCT = 10
"""QEMU's ``cpu-throttle-increment``."""
THROTTLE_MAX_PCT = 99
"""QEMU's ``max-cpu-throttle``."""

COLD_OVERHEAD_S = 60.0
"""A cold migration: shut down, define on the destination, boot; plus copying local disks."""

REINSTALL_MEAN_S = 1800.0
"""The operators' reinstall hook (OS to application config) takes about 30 minutes."""
REINSTALL_SIGMA_S = 180.0
REINSTALL_MIN_S = 1200.0

NOISY_SHARE = 0.03
"""Share of VMs without a known dirty rate that dirty memory faster than a link share."""
NOISY_RANGE_MIB_S = (400.0, 1600.0)
QUIET_MEDIAN_MIB_S = 8.0
"""Other VMs dirty a few MiB/s: log-normal around this median, σ = 1 (in log space)."""
QUIET_MAX_MIB_S = 300.0

UNREACHABLE_SHARE = 0.01
"""Share of VMs that do not answer probes from the start (firewalled, no network)."""

def drawn_dirty_rate_mib_s(seed: int, vm: str) -> float:
    """The dirty rate of a VM whose inventory does not give one, drawn from the seed."""
    r = rng(seed, "dirty-rate", vm)
    if r.random() < NOISY_SHARE:
        return round(r.uniform(*NOISY_RANGE_MIB_S), 1)
    return round(min(QUIET_MAX_MIB_S, r.lognormvariate(math.log(QUIET_MEDIAN_MIB_S), 1.0)), 1)


def unreachable(seed: int, vm: str) -> bool:
    """Whether the VM is among the few that never answer a probe."""
    return unit(seed, "unreachable", vm) < UNREACHABLE_SHARE


def shared_rate_mib_s(source_link: float, outgoing: int, dest_link: float, incoming: int,
                      cap_mib_s: float | None) -> float:
    """A migration's bandwidth: an equal share of its source's outgoing link and of its
    destination's incoming link, whichever is smaller, within its own cap.

    >>> shared_rate_mib_s(1180.0, 2, 1180.0, 1, None)
    590.0
    """
    rate = min(source_link / max(1, outgoing), dest_link / max(1, incoming))
    return rate if cap_mib_s is None else min(rate, cap_mib_s)


def fits_downtime(remaining_mib: float, rate_mib_s: float, max_downtime_ms: float) -> bool:
    """Can the rest be sent with the guest paused no longer than ``max_downtime_ms``?"""
    return remaining_mib <= rate_mib_s * max_downtime_ms / 1000.0


def stop_and_copy_ms(remaining_mib: float, rate_mib_s: float) -> float:
    """Downtime of the final pass: the rest at the current bandwidth plus the fixed cost."""
    return remaining_mib / rate_mib_s * 1000.0 + SWITCHOVER_FIXED_MS


def throttle_step(throttle_pct: int, high_passes: int, dirtied_mib: float,
                  sent_mib: float) -> tuple[int, int]:
    """Auto-converge after one pass: the new ``(throttle %, too-dirty pass counter)``.

    >>> throttle_step(0, 0, 600.0, 1000.0), throttle_step(0, 1, 600.0, 1000.0)
    ((0, 1), (20, 0))
    >>> throttle_step(20, 1, 600.0, 1000.0), throttle_step(95, 1, 600.0, 1000.0)
    ((30, 0), (99, 0))
    """
    if dirtied_mib <= sent_mib * THROTTLE_TRIGGER:
        return throttle_pct, high_passes
    high_passes += 1
    if high_passes < THROTTLE_HIGH_PASSES:
        return throttle_pct, high_passes
    if throttle_pct == 0:
        return THROTTLE_INITIAL_PCT, 0
    return min(THROTTLE_MAX_PCT, throttle_pct + THROTTLE_INCREMENT_PCT), 0


def reinstall_duration_s(seed: int, job: str) -> float:
    """How long a reinstall takes: normal around 30 min, σ 3 min, never under 20 min."""
    return max(REINSTALL_MIN_S, rng(seed, "reinstall", job).gauss(REINSTALL_MEAN_S,
                                                                 REINSTALL_SIGMA_S))


def _digest(seed: int, keys: tuple[object, ...]) -> int:
    text = "\x1f".join([str(seed), *(str(k) for k in keys)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def unit(seed: int, *keys: object) -> float:
    """A uniform number in [0, 1) determined by the seed and ``keys`` alone."""
    return _digest(seed, keys) / 2.0**64


def rng(seed: int, *keys: object) -> random.Random:
    """A private random generator determined by the seed and ``keys`` alone."""
    return random.Random(_digest(seed, keys))
