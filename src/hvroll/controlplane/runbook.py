"""The runbook of each hop: a pure function from the planned path and the operator's
deployment file to the ordered steps that upgrade, verify and, if needed, roll back.

A **cold** OpenStack hop (seed 002's Icehouse → Liberty)::

    snapshot-servers   the production data to verify against (API still up)
    stop-api           users see the API stop here
    backup-db          database dump, then
    backup-config      configuration archive
    hook               the operator's package/configuration hook (command or Ansible)
    migrate:<project>  each project's schema migration (nova-manage api_db sync, db sync, …)
    check:<project>    the project's upgrade check (nova-status upgrade check)
    start              start the new release
    online:<project>   online data migrations, repeated until none remain
    verify-api         the API answers
    verify-servers     every server of the snapshot is listed with its host, status, addresses
    verify-logs        the new log lines still match the operator's monitoring patterns
    point-of-no-return before it a failed gate rolls back; after it, only forward
    open-api           users see the API again (the load balancer points at the new release)

A **rolling** hop keeps the API up: snapshot and backups first, RPC pinned to the old
release while services are mixed, the hook and schema migrations on the controllers, the
services restarted in Nova's order (conductors, schedulers, API), verification, then past the
point of no return the computes, unpinning and the online data migrations.

**Rollback** (offered until the point of no return): stop the new services, restore the
dump, the hook again with the old release, start, verify the API and the servers again.

An **OS** hop is one step: the operator's controller rebuild, or for computes an hvroll
campaign (``hvroll plan`` + ``hvroll run``), followed by the API and server verification.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hvroll.controlplane.path import Hop
from hvroll.controlplane.path import Path as UpgradePath
from hvroll.errors import InputError, InventoryError, Problem
from hvroll.inventory.locate import LineIndex
from hvroll.inventory.messages import describe
from hvroll.inventory.reading import load_yaml, read_text


class Action(StrEnum):
    """What the runner does with a step."""

    RUN = "run"
    """Run ``command``; exit code 0 is success."""
    REPEAT = "repeat"
    """Run ``command`` until it exits ``done_exit`` (online data migrations: nova-manage exits
    1 while rows remain, 0 when none do)."""
    SNAPSHOT = "snapshot"
    """Run ``command`` (JSON list of servers on stdout) and keep its output."""
    VERIFY_SERVERS = "verify-servers"
    """Run ``command`` and compare with the snapshot: every server, same host/status/IPs."""
    VERIFY_LOGS = "verify-logs"
    """Every new line of the logs must match one of the operator's monitoring patterns."""
    MARK = "mark"
    """No effect: the point of no return, recorded."""


class Phase(StrEnum):
    UPGRADE = "upgrade"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class Step:
    id: str
    """Unique in the runbook: ``h2.migrate:nova``."""
    hop: int
    """1-based index of the hop in the path."""
    phase: Phase
    name: str
    title: str
    action: Action
    command: str = ""
    gate: bool = False
    """A verification: failing it (before the point of no return) starts the rollback."""
    done_exit: int = 0
    again_exit: int | None = None
    """For REPEAT: the exit code that means 'run me again'."""
    max_runs: int = 1
    after_point_of_no_return: bool = False

    def data(self) -> dict[str, Any]:
        return {"id": self.id, "hop": self.hop, "phase": self.phase.value, "name": self.name,
                "title": self.title, "action": self.action.value, "command": self.command,
                "gate": self.gate, "after_point_of_no_return": self.after_point_of_no_return,
                "done_exit": self.done_exit, "again_exit": self.again_exit,
                "max_runs": self.max_runs}


@dataclass(frozen=True)
class HopRunbook:
    hop: int
    kind: str
    title: str
    steps: tuple[Step, ...]
    rollback: tuple[Step, ...] = ()


@dataclass(frozen=True)
class Runbook:
    hops: tuple[HopRunbook, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(s for h in self.hops for s in (*h.steps, *h.rollback))

    def data(self) -> dict[str, Any]:
        return {"hops": [{"hop": h.hop, "kind": h.kind, "title": h.title,
                          "steps": [s.data() for s in h.steps],
                          "rollback": [s.data() for s in h.rollback]} for h in self.hops]}


# -- the operator's deployment file -----------------------------------------------------------

class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProjectCommands(_Model):
    """A project's own upgrade commands; ``{bin}`` is the new release's tool directory."""

    migrate: tuple[str, ...]
    online: str | None = None
    online_again_exit: int = 1
    check: str | None = None


PROJECTS: dict[str, ProjectCommands] = {
    # Nova: api_db sync before db sync; online_data_migrations exits 1 while rows remain,
    # 0 when complete; nova-status exits 0 (ok), 1 (warning), 2 (failure).
    # https://docs.openstack.org/nova/latest/cli/nova-manage.html
    # https://docs.openstack.org/nova/latest/cli/nova-status.html
    "nova": ProjectCommands(migrate=("{bin}nova-manage api_db sync", "{bin}nova-manage db sync"),
                            online="{bin}nova-manage db online_data_migrations",
                            check="{bin}nova-status upgrade check"),
    # https://docs.openstack.org/placement/latest/cli/placement-manage.html
    "placement": ProjectCommands(migrate=("{bin}placement-manage db sync",),
                                 online="{bin}placement-manage db online_data_migrations",
                                 check="{bin}placement-status upgrade check"),
    "keystone": ProjectCommands(migrate=("{bin}keystone-manage db_sync",),
                                check="{bin}keystone-status upgrade check"),
    "glance": ProjectCommands(migrate=("{bin}glance-manage db sync",),
                              check="{bin}glance-status upgrade check"),
    "cinder": ProjectCommands(migrate=("{bin}cinder-manage db sync",),
                              online="{bin}cinder-manage db online_data_migrations",
                              check="{bin}cinder-status upgrade check"),
    "neutron": ProjectCommands(migrate=("{bin}neutron-db-manage upgrade heads",),
                               check="{bin}neutron-status upgrade check"),
}
"""Default commands per project, overridable in the deployment file."""


class Commands(_Model):
    """Shell commands (run with ``bash -c``). Placeholders: ``{from}``/``{to}`` (release key,
    e.g. ``2025.1`` or ``kilo``), ``{from_name}``/``{to_name}``, ``{hop}``, ``{backup_dir}``,
    ``{bin}`` (the target release's tool directory), ``{phase}`` (hook phase)."""

    servers: str
    """Prints every server as JSON: ``[{"id", "host", "status", "addresses"}, …]``."""
    api_check: str
    """Exits 0 when the API answers."""
    backup_db: str
    restore_db: str
    backup_config: str
    hook: str
    """The operator's package/configuration hook: installs ``{to}`` (``{phase}`` says which
    services: controllers, conductor, scheduler, api, computes)."""
    rollback_hook: str | None = None
    """Puts ``{from}`` back (default: ``hook`` with ``{to}`` set to the old release)."""
    stop: str
    """Stops the control-plane services (``{phase}``: all, or one service on a rolling hop)."""
    start: str
    """Starts them, on the release the hook installed."""
    stop_api: str | None = None
    """Cold hops: users stop seeing the API (default: ``stop`` with phase api)."""
    open_api: str | None = None
    """Cold hops: users see the API again (load balancer; default: none)."""
    pin_rpc: str | None = None
    unpin_rpc: str | None = None
    controller_os: str | None = None
    """Rebuilds the controllers on ``{os}`` (OS hops)."""
    compute_os: str | None = None
    """Upgrades a group of computes to ``{os}``: typically an hvroll campaign."""


class Deployment(_Model):
    """The operator's description of how to act on the control plane."""

    projects: tuple[str, ...] = ("nova", "placement")
    """Projects upgraded, in migration order."""
    commands: Commands
    bin: str = ""
    """Directory (with trailing slash) of the target release's tools; may use ``{to}``."""
    backup_dir: str = "backups/{hop}-{from}"
    monitoring_patterns: str | None = None
    """File of regexes, one a line: every new log line must match one of them."""
    logs: tuple[str, ...] = ()
    """Globs of the control-plane log files checked against the patterns."""
    overrides: dict[str, ProjectCommands] = Field(default_factory=dict)
    online_max_runs: int = Field(20, ge=1)
    """At most this many runs of an online data migration command before the step fails."""


def _fmt(template: str, values: dict[str, str]) -> str:
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return out


def build_runbook(path: UpgradePath, deployment: Deployment) -> Runbook:
    """The steps of every hop of ``path`` for ``deployment`` (pure)."""
    hops: list[HopRunbook] = []
    for n, hop in enumerate(path.hops, 1):
        src, dst = hop.source.release, hop.target.release
        values = {"from": src.key, "to": dst.key, "from_name": src.name, "to_name": dst.name,
                  "hop": str(n)}
        values["backup_dir"] = _fmt(deployment.backup_dir, values)
        values["bin"] = _fmt(deployment.bin, values)
        if hop.kind == "os":
            hops.append(_os_hop(n, hop.role or "", _os_of(path, hop), deployment, values))
        elif hop.rolling:
            hops.append(_rolling_hop(n, hop.kind, f"{src.label} → {dst.label}", deployment,
                                     values))
        else:
            hops.append(_cold_hop(n, hop.kind, f"{src.label} → {dst.label}", deployment,
                                  values))
    return Runbook(tuple(hops))


def _os_of(path: UpgradePath, hop: Hop) -> str:
    k = [r.name for r in path.roles].index(hop.role or "")
    return str(hop.target.os[k])


class _Steps:
    """Builds one hop's steps with ids ``h<hop>.<name>``."""

    def __init__(self, hop: int, phase: Phase, values: dict[str, str]) -> None:
        self.hop, self.phase, self.values = hop, phase, values
        self.steps: list[Step] = []
        self.past = False

    def add(self, name: str, title: str, action: Action, command: str = "", *,
            gate: bool = False, again_exit: int | None = None, max_runs: int = 1,
            phase_word: str = "") -> None:
        values = dict(self.values, phase=phase_word) if phase_word else self.values
        prefix = "" if self.phase is Phase.UPGRADE else "rollback."
        self.steps.append(Step(f"h{self.hop}.{prefix}{name}", self.hop, self.phase, name,
                               title, action, _fmt(command, values), gate=gate,
                               again_exit=again_exit, max_runs=max_runs,
                               after_point_of_no_return=self.past))

    def point_of_no_return(self, why: str) -> None:
        self.add("point-of-no-return", why, Action.MARK)
        self.past = True


def _project_steps(s: _Steps, deployment: Deployment, *, migrate: bool, check: bool) -> None:
    for project in deployment.projects:
        cmds = deployment.overrides.get(project) or PROJECTS.get(project)
        if cmds is None:
            continue
        if migrate:
            for i, command in enumerate(cmds.migrate):
                suffix = "" if len(cmds.migrate) == 1 else f".{i + 1}"
                s.add(f"migrate:{project}{suffix}", f"{project} schema migration", Action.RUN,
                      command)
        if check and cmds.check:
            s.add(f"check:{project}", f"{project} upgrade check", Action.RUN, cmds.check,
                  gate=True)


def _online_steps(s: _Steps, deployment: Deployment) -> None:
    for project in deployment.projects:
        cmds = deployment.overrides.get(project) or PROJECTS.get(project)
        if cmds is None or cmds.online is None:
            continue
        s.add(f"online:{project}", f"{project} online data migrations until none remain",
              Action.REPEAT, cmds.online, again_exit=cmds.online_again_exit,
              max_runs=deployment.online_max_runs)


def _verify(s: _Steps, deployment: Deployment, *, logs: bool = True) -> None:
    c = deployment.commands
    s.add("verify-api", "the API answers", Action.RUN, c.api_check, gate=True)
    s.add("verify-servers", "every server of the snapshot is listed with its host, status "
          "and addresses", Action.VERIFY_SERVERS, c.servers, gate=True)
    if logs and deployment.monitoring_patterns and deployment.logs:
        s.add("verify-logs", "new log lines match the monitoring patterns", Action.VERIFY_LOGS,
              gate=True)


def _backups(s: _Steps, deployment: Deployment) -> None:
    c = deployment.commands
    s.add("backup-db", "database dump", Action.RUN, c.backup_db)
    s.add("backup-config", "configuration archive", Action.RUN, c.backup_config)


def _rollback(hop: int, deployment: Deployment, values: dict[str, str]) -> tuple[Step, ...]:
    c = deployment.commands
    back = dict(values, to=values["from"], to_name=values["from_name"],
                bin=_fmt(deployment.bin, dict(values, to=values["from"],
                                              to_name=values["from_name"])))
    r = _Steps(hop, Phase.ROLLBACK, back)
    r.add("stop", "stop the new release's services", Action.RUN, c.stop, phase_word="all")
    r.add("restore-db", "restore the database dump", Action.RUN, c.restore_db)
    r.add("hook", "the hook puts the old release back", Action.RUN, c.rollback_hook or c.hook,
          phase_word="controllers")
    r.add("start", "start the old release", Action.RUN, c.start, phase_word="all")
    _verify(r, deployment, logs=False)
    if c.open_api:
        r.add("open-api", "users see the API again (old release)", Action.RUN, c.open_api)
    return tuple(r.steps)


def _cold_hop(n: int, kind: str, title: str, deployment: Deployment,
              values: dict[str, str]) -> HopRunbook:
    c = deployment.commands
    s = _Steps(n, Phase.UPGRADE, values)
    s.add("snapshot-servers", "servers, hosts, status and addresses before the hop",
          Action.SNAPSHOT, c.servers)
    s.add("stop-api", "stop the API (cold hop)", Action.RUN, c.stop_api or c.stop,
          phase_word="api")
    s.add("stop", "stop the control-plane services", Action.RUN, c.stop, phase_word="all")
    _backups(s, deployment)
    s.add("hook", "the operator's package/configuration hook", Action.RUN, c.hook,
          phase_word="controllers")
    _project_steps(s, deployment, migrate=True, check=True)
    s.add("start", "start the new release", Action.RUN, c.start, phase_word="all")
    _online_steps(s, deployment)
    _verify(s, deployment)
    s.point_of_no_return("past here the API takes new writes on the new release: no rollback")
    if c.open_api:
        s.add("open-api", "users see the API again", Action.RUN, c.open_api)
    return HopRunbook(n, kind if kind != "skip-level" else "skip-level (cold)", title,
                      tuple(s.steps), _rollback(n, deployment, values))


def _rolling_hop(n: int, kind: str, title: str, deployment: Deployment,
                 values: dict[str, str]) -> HopRunbook:
    c = deployment.commands
    s = _Steps(n, Phase.UPGRADE, values)
    s.add("snapshot-servers", "servers, hosts, status and addresses before the hop",
          Action.SNAPSHOT, c.servers)
    _backups(s, deployment)
    if c.pin_rpc:
        s.add("pin-rpc", "pin RPC versions to the old release while services are mixed",
              Action.RUN, c.pin_rpc)
    s.add("hook", "the operator's package/configuration hook on the controllers", Action.RUN,
          c.hook, phase_word="controllers")
    _project_steps(s, deployment, migrate=True, check=True)
    for service in ("conductor", "scheduler", "api"):
        s.add(f"restart:{service}", f"restart the {service} services on the new release",
              Action.RUN, f"{c.stop} && {c.start}", phase_word=service)
    _verify(s, deployment)
    s.point_of_no_return("past here computes run the new release and data is migrated "
                         "online: no rollback")
    s.add("hook:computes", "the hook on the computes (last)", Action.RUN, c.hook,
          phase_word="computes")
    if c.unpin_rpc:
        s.add("unpin-rpc", "unpin RPC versions: every service runs the new release",
              Action.RUN, c.unpin_rpc)
    _online_steps(s, deployment)
    return HopRunbook(n, kind if kind != "skip-level" else "skip-level (rolling)", title,
                      tuple(s.steps), _rollback(n, deployment, values))


def _os_hop(n: int, role: str, os_name: str, deployment: Deployment,
            values: dict[str, str]) -> HopRunbook:
    c = deployment.commands
    s = _Steps(n, Phase.UPGRADE, dict(values, os=os_name, role=role))
    s.add("snapshot-servers", "servers before the OS upgrade", Action.SNAPSHOT, c.servers)
    compute = role != "controllers"
    command = c.compute_os if compute else c.controller_os
    if not command:
        key = "compute_os" if compute else "controller_os"
        raise InputError(f"deployment: commands.{key} is not set (expected a command for hop "
                         f"{n}: {role} → {os_name})")
    title = (f"{role} to {os_name}: hvroll campaign (drain by live migration, reinstall, "
             f"verify)" if compute else f"controllers rebuilt on {os_name}")
    s.add("os", title, Action.RUN, command)
    _verify(s, deployment, logs=False)
    return HopRunbook(n, "os", f"{role} → {os_name}", tuple(s.steps))


def parse_deployment(text: str, file: str) -> Deployment:
    """Validate a deployment file (YAML); problems raise InventoryError with lines."""
    data = load_yaml(text, file)
    if not isinstance(data, dict):
        raise InventoryError([Problem(file, 1, "a deployment must be a mapping (expected keys "
                                               "projects, commands, …)")])
    try:
        found = Deployment.model_validate(data)
    except ValidationError as exc:
        lines = LineIndex(text)
        raise InventoryError(sorted(
            (Problem(file, lines.line_of(tuple(e["loc"]), key=e["type"] == "extra_forbidden"),
                     describe(e, data, Deployment).replace("inventory ", "deployment ", 1))
             for e in exc.errors(include_url=False)), key=lambda p: p.line)) from None
    unknown = [p for p in found.projects if p not in PROJECTS and p not in found.overrides]
    if unknown:
        lines = LineIndex(text)
        raise InventoryError([Problem(file, lines.line_of(("projects",)),
                                      f"project {unknown[0]!r} has no known commands (expected "
                                      f"one of: {', '.join(PROJECTS)}, or an entry in "
                                      f"overrides)")])
    return found


def load_deployment(path: str | os.PathLike[str]) -> Deployment:
    name = os.fspath(path)
    return parse_deployment(read_text(name, "a deployment file (YAML)"), name)
