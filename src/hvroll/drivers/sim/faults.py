"""What can go wrong in the simulated cloud, and the seeded randomness every draw comes from.

Every random choice the simulator makes is a pure function of the seed and the name of what it
is about (a VM, a job, a host) and of what is being drawn, never of a shared random stream. So a
run is repeatable, and a run resumed from its journal draws exactly what the uninterrupted run
would have drawn, whatever order the executor's calls came in.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import asdict, dataclass

from hvroll.errors import InputError


class SimulatedCrash(BaseException):
    """The simulated orchestrator "crashed": raised from ``wait``/``sleep`` after
    ``Faults.crash_after_events`` events.

    A ``BaseException`` so that the executor's ``except Exception`` cannot swallow it, exactly as
    it could not survive a real SIGKILL. Reopen the cloud from its journal to resume.
    """


@dataclass(frozen=True, slots=True)
class Faults:
    """Faults to inject; every one is off by default.

    Rates are probabilities in [0, 1] drawn per job from the seed and the job's id.
    """

    migration_failure_rate: float = 0.0
    """Share of live and cold migrations that fail. A failing live migration ends ``failed`` at
    the end of one of its first four pre-copy iterations (or when it would have converged, if
    sooner); a cold migration just before the VM starts on the destination. The VM stays on
    its source, in its previous power state."""
    reinstall_failure_rate: float = 0.0
    """Share of reinstalls whose hook fails partway; the host keeps its old profile."""
    host_crashes: tuple[tuple[str, float], ...] = ()
    """``(host, virtual time in s)``: the host goes down then. HA restarts its VMs on other up,
    schedulable hosts of its cluster with room; its migrations fail."""
    host_crash_rate_per_h: float = 0.0
    """Each host also crashes at an exponentially distributed time with this rate per hour
    (at most once; a reinstall brings a crashed host back)."""
    crash_after_events: int | None = None
    """Raise :class:`SimulatedCrash` from ``wait``/``sleep`` after this many events processed by
    this object (events replayed from a journal do not count)."""
    known_issues: bool = False
    """Reproduce the known migration failures the compatibility rules describe: a live migration
    fails at once for a VM with a local disk without block migration, with a passed-through
    device, or with a read-only iso9660 config drive not copied first (``copy_config_drive``);
    and at switch-over for a Windows VM with a balloon, live-migrated before and not
    power-cycled since, leaving a QEMU older than 2.11 (the balloon bug)."""

    def __post_init__(self) -> None:
        for name in ("migration_failure_rate", "reinstall_failure_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InputError(f"Faults.{name} must be within [0, 1] (got {value})")
        if self.host_crash_rate_per_h < 0:
            raise InputError(
                f"Faults.host_crash_rate_per_h must be >= 0 (got {self.host_crash_rate_per_h})")
        for host, at_s in self.host_crashes:
            if not at_s >= 0 or math.isinf(at_s):
                raise InputError(f"Faults.host_crashes: crash time of {host!r} must be a finite "
                                 f"number of seconds >= 0 (got {at_s})")
        if self.crash_after_events is not None and self.crash_after_events < 1:
            raise InputError(
                f"Faults.crash_after_events must be >= 1 or None (got {self.crash_after_events})")

    def identity(self) -> dict[str, object]:
        """The faults that shape the simulated world, as JSON data (a journal records them).

        ``crash_after_events`` is left out: it is about the orchestrator, not the cloud, so a
        run resumed from a journal may set it differently.
        """
        data = asdict(self)
        del data["crash_after_events"]
        data["host_crashes"] = [[host, at_s] for host, at_s in self.host_crashes]
        return data


def _digest(seed: int, keys: tuple[object, ...]) -> int:
    text = "\x1f".join([str(seed), *(str(k) for k in keys)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def unit(seed: int, *keys: object) -> float:
    """A uniform number in [0, 1) determined by the seed and ``keys`` alone."""
    return _digest(seed, keys) / 2.0**64


def rng(seed: int, *keys: object) -> random.Random:
    """A private random generator determined by the seed and ``keys`` alone."""
    return random.Random(_digest(seed, keys))
