"""The simulated world's journal records: every call that changed it, one JSON line each, so
that the world survives the death of the process that simulates it (the file itself is a
:class:`hvroll.drivers.journal.Journal`, as every backend's).

The journal records inputs, not outcomes: the header names the fleet (a digest), the seed and
the faults; each later line is one call that changed something (a migration started, a
downtime raised, a host's scheduling switched, …) or an advance of virtual time (``{"w": t}``
for a ``wait`` that returned at ``t``, ``{"s": t}`` for a ``sleep``). Since the simulator is
deterministic, replaying those lines in order rebuilds exactly the world that wrote them, at
the same virtual time and with its migrations still in flight.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from hvroll.domain import Fleet
from hvroll.drivers.base import MigrationOptions
from hvroll.drivers.journal import Journal, Record
from hvroll.errors import HvrollError, InputError

FORMAT = "hvroll-sim-journal"
VERSION = 1


def fleet_digest(fleet: Fleet) -> str:
    """A digest of everything in the fleet (any change to the inventory changes it)."""
    return hashlib.sha256(fleet.model_dump_json().encode()).hexdigest()[:32]


def open_journal(path: Path, fleet: Fleet, seed: int, faults: dict[str, object]) -> Journal:
    return Journal(path, format=FORMAT, version=VERSION,
                   identity={"fleet": fleet_digest(fleet), "seed": seed, "faults": faults},
                   what="a simulated cloud journal",
                   hint="use the same inventory, seed and faults, or another journal path")


class Replaying(Protocol):
    """What :func:`replay` asks of the simulated cloud (:class:`~hvroll.drivers.sim.SimCloud`)."""

    def set_scheduling(self, host: str, enabled: bool) -> None: ...
    def migrate(self, job: str, vm: str, dest: str, options: MigrationOptions) -> None: ...
    def cold_migrate(self, job: str, vm: str, dest: str) -> None: ...
    def reinstall(self, job: str, host: str, profile: str) -> None: ...
    def set_max_downtime(self, job: str, downtime_ms: int) -> None: ...
    def start_post_copy(self, job: str) -> None: ...
    def abort(self, job: str) -> None: ...
    def suspend(self, vm: str) -> None: ...
    def resume(self, vm: str) -> None: ...
    def apply_workaround(self, vm: str, action: str) -> None: ...


def replay(records: list[tuple[int, Record]], driver: Replaying,
           advance_to: Callable[[float, bool], None]) -> None:
    """Apply ``records`` again, in order: each change through ``driver`` (which must not
    journal it again), each advance through ``advance_to(time_s, waited)``."""
    ops: dict[str, Callable[[Record], None]] = {
        "scheduling": lambda r: driver.set_scheduling(r["host"], r["enabled"]),
        "migrate": lambda r: driver.migrate(r["job"], r["vm"], r["dest"],
                                            MigrationOptions(**r["options"])),
        "cold": lambda r: driver.cold_migrate(r["job"], r["vm"], r["dest"]),
        "reinstall": lambda r: driver.reinstall(r["job"], r["host"], r["profile"]),
        "downtime": lambda r: driver.set_max_downtime(r["job"], r["ms"]),
        "postcopy": lambda r: driver.start_post_copy(r["job"]),
        "abort": lambda r: driver.abort(r["job"]),
        "suspend": lambda r: driver.suspend(r["vm"]),
        "resume": lambda r: driver.resume(r["vm"]),
        "workaround": lambda r: driver.apply_workaround(r["vm"], r["action"]),
    }
    for number, record in records:
        try:
            if "w" in record:
                advance_to(record["w"], True)
            elif "s" in record:
                advance_to(record["s"], False)
            else:
                ops[record["op"]](record)
        except (HvrollError, KeyError, TypeError, ValueError) as exc:
            raise InputError(f"journal line {number} does not replay ({exc!r}): it was not "
                             f"written by this version of the simulator for this fleet") \
                from exc
