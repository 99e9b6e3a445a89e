"""Pure translations between hvroll's migration options and libvirt, and back from libvirt's
job statistics. No I/O: ``lv`` is the ``libvirt`` module, passed in for its constants.

Flags of every live migration (``migration_flags``):

* ``VIR_MIGRATE_LIVE``: the guest keeps running while its memory is copied.
* ``VIR_MIGRATE_PEER2PEER``: the source daemon drives the migration and dials the destination
  itself, so the migration goes on if hvroll's process dies (it is followed again on restart).
* ``VIR_MIGRATE_PERSIST_DEST`` + ``VIR_MIGRATE_UNDEFINE_SOURCE``: the domain's definition moves
  with it: afterwards it is defined on the destination only, as before on the source.
* ``VIR_MIGRATE_AUTO_CONVERGE`` when ``options.auto_converge``: QEMU throttles the guest's vCPUs
  while it dirties memory faster than it can be sent.
* ``VIR_MIGRATE_POSTCOPY`` when ``options.post_copy``: allows a later switch to post-copy
  (``migrateStartPostCopy``); the migration runs pre-copy until then.
* ``VIR_MIGRATE_NON_SHARED_DISK`` when ``options.block``: local disks are copied too.
* ``VIR_MIGRATE_UNSAFE`` only when every disk of the domain is a file under a directory the
  operator declared shared: libvirt 9 refuses a migration whose disk is a local file ("Migration
  without shared storage is unsafe") and cannot be told that a local path is shared storage
  (the testbed's ``<workdir>/shared`` is the same directory for every host).

Parameters: ``VIR_MIGRATE_PARAM_BANDWIDTH`` (MiB/s, whole numbers, at least 1) when a cap is
given. The downtime limit has no parameter: it is set with ``migrateSetMaxDowntime`` on the
source domain right before the migration starts, and again whenever the executor raises it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hvroll.drivers.base import MigrationOptions

MIB = 1024 * 1024


def migration_flags(lv: Any, options: MigrationOptions, *, unsafe: bool) -> int:
    flags = (lv.VIR_MIGRATE_LIVE | lv.VIR_MIGRATE_PEER2PEER | lv.VIR_MIGRATE_PERSIST_DEST
             | lv.VIR_MIGRATE_UNDEFINE_SOURCE)
    if options.auto_converge:
        flags |= lv.VIR_MIGRATE_AUTO_CONVERGE
    if options.post_copy:
        flags |= lv.VIR_MIGRATE_POSTCOPY
    if options.block:
        flags |= lv.VIR_MIGRATE_NON_SHARED_DISK
    if unsafe:
        flags |= lv.VIR_MIGRATE_UNSAFE
    return int(flags)


FLAG_NAMES = ("LIVE", "PEER2PEER", "PERSIST_DEST", "UNDEFINE_SOURCE", "AUTO_CONVERGE",
              "POSTCOPY", "NON_SHARED_DISK", "UNSAFE")


def flag_names(lv: Any, flags: int) -> list[str]:
    """The names of the ``VIR_MIGRATE_*`` flags hvroll sets that are in ``flags``."""
    return [name for name in FLAG_NAMES if flags & getattr(lv, f"VIR_MIGRATE_{name}")]


def migration_params(lv: Any, options: MigrationOptions,
                     default_bandwidth_mib_s: float | None) -> dict[str, Any]:
    """``migrateToURI3`` parameters: the bandwidth cap of the options, else the driver's."""
    cap = options.bandwidth_mib_s if options.bandwidth_mib_s is not None \
        else default_bandwidth_mib_s
    params: dict[str, Any] = {}
    if cap is not None:
        params[lv.VIR_MIGRATE_PARAM_BANDWIDTH] = max(1, round(cap))
    return params


@dataclass(frozen=True, slots=True)
class Figures:
    """A job's statistics in hvroll's units."""

    elapsed_s: float = 0.0
    total_mib: float = 0.0
    processed_mib: float = 0.0
    remaining_mib: float = 0.0
    iteration: int = 0
    dirty_rate_mib_s: float = 0.0
    downtime_ms: float | None = None
    """Expected downtime while running (QEMU's estimate), the real one once completed."""
    throttle_pct: int = 0
    postcopy_requests: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"elapsed_s": self.elapsed_s, "total_mib": self.total_mib,
                "processed_mib": self.processed_mib, "remaining_mib": self.remaining_mib,
                "iteration": self.iteration, "dirty_rate_mib_s": self.dirty_rate_mib_s,
                "downtime_ms": self.downtime_ms, "throttle_pct": self.throttle_pct,
                "postcopy_requests": self.postcopy_requests}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Figures:
        downtime = data.get("downtime_ms")
        return cls(elapsed_s=float(data.get("elapsed_s", 0.0)),
                   total_mib=float(data.get("total_mib", 0.0)),
                   processed_mib=float(data.get("processed_mib", 0.0)),
                   remaining_mib=float(data.get("remaining_mib", 0.0)),
                   iteration=int(data.get("iteration", 0)),
                   dirty_rate_mib_s=float(data.get("dirty_rate_mib_s", 0.0)),
                   downtime_ms=None if downtime is None else float(downtime),
                   throttle_pct=int(data.get("throttle_pct", 0)),
                   postcopy_requests=int(data.get("postcopy_requests", 0)))


def figures(stats: Mapping[str, Any]) -> Figures:
    """libvirt's ``jobStats()`` (running, on the source) or completed statistics (the
    destination's ``jobStats(COMPLETED)`` or the source's ``JOB_COMPLETED`` event) in MiB, s,
    ms. ``memory_dirty_rate`` is in pages per second; block migration adds ``disk_*``.

    >>> f = figures({"time_elapsed": 651, "memory_total": 269230080, "memory_processed":
    ...              136566477, "memory_remaining": 0, "memory_iteration": 3, "downtime": 59,
    ...              "memory_dirty_rate": 8100, "memory_page_size": 4096})
    >>> (f.elapsed_s, round(f.total_mib, 1), round(f.processed_mib, 1), f.iteration,
    ...  f.downtime_ms, round(f.dirty_rate_mib_s, 1))
    (0.651, 256.8, 130.2, 3, 59.0, 31.6)
    """
    def size(key: str) -> float:
        return float(stats.get(f"memory_{key}", stats.get(f"data_{key}", 0))
                     + stats.get(f"disk_{key}", 0)) / MIB

    page = int(stats.get("memory_page_size", 4096)) or 4096
    downtime = stats.get("downtime")
    return Figures(
        elapsed_s=float(stats.get("time_elapsed", 0)) / 1000.0,
        total_mib=size("total"),
        processed_mib=size("processed"),
        remaining_mib=size("remaining"),
        iteration=int(stats.get("memory_iteration", 0)),
        dirty_rate_mib_s=float(stats.get("memory_dirty_rate", 0)) * page / MIB,
        downtime_ms=None if downtime is None else float(downtime),
        throttle_pct=int(stats.get("auto_converge_throttle", 0)),
        postcopy_requests=int(stats.get("memory_postcopy_requests", 0)),
    )


RUNNING_JOB_TYPES = frozenset({1, 2})
"""``type`` of ``jobStats()`` for a job that runs: ``VIR_DOMAIN_JOB_BOUNDED``,
``VIR_DOMAIN_JOB_UNBOUNDED`` (0 is none, 3 completed, 4 failed, 5 cancelled)."""


def is_running(stats: Mapping[str, Any]) -> bool:
    """Whether ``jobStats()`` describes a migration that is copying memory now. While a
    cancelled migration winds down, libvirt still answers for it with ``type`` 5 (cancelled)
    and every figure zeroed; read as progress, that record would say the job made no pass.

    >>> is_running({"type": 2, "memory_total": 268967936, "memory_iteration": 6})
    True
    >>> is_running({"type": 5, "memory_total": 0, "memory_iteration": 0, "time_elapsed": 0})
    False
    """
    return int(stats.get("type", 0)) in RUNNING_JOB_TYPES and "memory_total" in stats


def has_figures(stats: Mapping[str, Any]) -> bool:
    """Whether completed statistics carry anything (post-copy leaves the destination's empty:
    ``{"type": 0}``; the ``JOB_COMPLETED`` event's have no ``type``)."""
    return int(stats.get("type", -1)) != 0 and "time_elapsed" in stats
