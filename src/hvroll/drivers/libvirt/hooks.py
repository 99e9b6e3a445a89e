"""Reinstall hooks: what the libvirt driver calls to reinstall an empty host.

A hook is any callable ``hook(host, profile)`` that returns once the host runs ``profile`` and
its libvirtd answers again, and raises an :class:`~hvroll.errors.HvrollError` otherwise. The
driver runs it in a thread of its own (a reinstall *job*), after checking with libvirt that the
host holds no domain, and the executor then verifies the profile the host reports.

* :class:`CommandHook` runs an operator's command, e.g. an Ansible playbook::

      CommandHook("ansible-playbook reinstall.yml -l {host} -e profile={profile}",
                  timeout_s=3600, retries=1)

* ``hvroll.testbed.hook.TestbedReinstallHook`` "reinstalls" a testbed host: it changes the
  host's profile marker and restarts its libvirtd.
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass, field
from typing import Protocol

from hvroll.domain import Host
from hvroll.drivers.base import Clock, RealClock
from hvroll.errors import InputError, OperationFailedError

PLACEHOLDERS = ("{host}", "{profile}", "{uri}")


class ReinstallHook(Protocol):
    def __call__(self, host: Host, profile: str) -> None:
        """Reinstall ``host`` with ``profile``; raise an ``HvrollError`` if it did not work."""
        ...


@dataclass(frozen=True, slots=True)
class CommandHook:
    """Run ``command`` once per host to reinstall it.

    ``command`` is split like a shell would (no shell runs it), then ``{host}``, ``{profile}``
    and ``{uri}`` (the host's libvirt URI) are replaced in each word; other braces are left
    alone. A run that exits non-zero or outlasts ``timeout_s`` is retried ``retries`` times,
    ``retry_delay_s`` apart; the error then quotes the end of its output.
    """

    command: str
    timeout_s: float = 3600.0
    retries: int = 0
    retry_delay_s: float = 10.0
    clock: Clock = field(default_factory=RealClock, compare=False)

    def __post_init__(self) -> None:
        if not self.command.strip():
            raise InputError("the reinstall command is empty (expected e.g. "
                             "'ansible-playbook reinstall.yml -l {host} -e profile={profile}')")
        if not self.timeout_s > 0 or self.retries < 0:
            raise InputError(f"reinstall command: timeout_s must be > 0 and retries >= 0 (got "
                             f"{self.timeout_s}, {self.retries})")

    def argv(self, host: Host, profile: str) -> list[str]:
        values = {"{host}": host.name, "{profile}": profile, "{uri}": host.libvirt_uri or ""}
        out = []
        for word in shlex.split(self.command):
            for key, value in values.items():
                word = word.replace(key, value)
            out.append(word)
        return out

    def __call__(self, host: Host, profile: str) -> None:
        argv = self.argv(host, profile)
        failure = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.clock.sleep(self.retry_delay_s)
            failure = self._run(argv)
            if not failure:
                return
        tries = f" after {self.retries + 1} tries" if self.retries else ""
        raise OperationFailedError(f"reinstall command {shlex.join(argv)!r} failed{tries}: "
                                   f"{failure}", host=host.name)

    def _run(self, argv: list[str]) -> str:
        """``""`` on success, else why it failed."""
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, errors="replace", timeout=self.timeout_s,
                                  check=False)
        except FileNotFoundError:
            return f"{argv[0]}: command not found"
        except subprocess.TimeoutExpired:
            return f"still running after {self.timeout_s:g} s (killed)"
        if done.returncode == 0:
            return ""
        tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
        return f"exit status {done.returncode}" + (f": {tail}" if tail else "")
