"""Errors hvroll raises, and whether retrying can help.

::

    HvrollError                      base; ``retryable`` says if trying again may help
    ├── InputError                   bad operator input: fix the file or the option (not retryable)
    │   └── InventoryError           an inventory, plan or rule file is invalid; lists each Problem
    ├── CampaignCreatingError        the state file's campaign is being created right now: retryable
    ├── SafetyError                  an invariant would break (a non-empty host to reinstall, a full
    │                                host, an anti-affinity group on one host): never retried
    └── DriverError                  the cloud backend failed (libvirt, the simulator)
        ├── ConnectionLostError      a host cannot be reached: retryable
        ├── OperationFailedError     an operation failed on a reachable host: retryable only
        │                            when the backend said so
        └── CapabilityError          the backend, as configured, cannot do this at all (it does
                                     not declare the capability); also an InputError: choose
                                     another driver or configure it (e.g. a reinstall command)

Only the CLI turns these into exit codes and one readable line per problem.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in an input file, at a line (1-based; 0 when unknown)."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class HvrollError(Exception):
    """Base of every error hvroll raises on purpose."""

    retryable: bool = False


class InputError(HvrollError):
    """The operator's input is wrong; the message says how to fix it."""


class InventoryError(InputError):
    """An input file is invalid; ``problems`` lists each error with its file and line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class CampaignExistsError(InputError):
    """A campaign was to be created in a state file that already holds one (another ``hvroll
    run``, of another region, may have created it a moment before)."""


class CampaignCreatingError(HvrollError):
    """The state file's campaign is being created by a ``hvroll run`` that holds its lease and
    has not committed it yet: look again in a moment."""

    retryable = True


class SafetyError(HvrollError):
    """A safety invariant would be broken by the next step; the step was not taken."""


class DriverError(HvrollError):
    """The cloud backend failed; ``host`` names where, when known."""

    def __init__(self, message: str, *, host: str | None = None, retryable: bool = False) -> None:
        self.host = host
        self.retryable = retryable
        super().__init__(f"{host}: {message}" if host else message)


class ConnectionLostError(DriverError):
    """A host's management endpoint cannot be reached."""

    def __init__(self, message: str, *, host: str | None = None) -> None:
        super().__init__(message, host=host, retryable=True)


class OperationFailedError(DriverError):
    """An operation failed on a reachable host."""


class CapabilityError(DriverError, InputError):
    """A feature was asked of a backend that does not declare its capability."""

    def __init__(self, capability: str, driver: str, why: str = "") -> None:
        self.capability = capability
        super().__init__(f"the {driver} driver cannot do {capability}: "
                         f"{why or f'it does not declare the {capability!r} capability'}")
