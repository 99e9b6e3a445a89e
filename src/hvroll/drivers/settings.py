"""How real backends are configured: one validated object, from flags or the environment.

Every setting has a unit in its name, a default, a ``hvroll run`` flag and an environment
variable (``HVROLL_`` + its name in capitals); a flag wins over the variable. The table in
``docs/settings.md`` and the ``--help`` of ``hvroll run`` are written from :data:`SETTINGS`,
so the three cannot disagree::

    HVROLL_REINSTALL_TIMEOUT_S=600 hvroll run plan.json --driver libvirt \\
        --reinstall-cmd 'ansible-playbook reinstall.yml -l {host} -e profile={profile}'

A value that does not validate is one line naming the variable or flag, what was expected and
what was given (:class:`~hvroll.errors.InputError`, exit 2), before anything is opened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from hvroll.errors import InputError

ENV_PREFIX = "HVROLL_"


class DriverSettings(BaseSettings):
    """What ``hvroll run`` reads from its flags and the environment for the real backends."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    reinstall_cmd: str | None = Field(
        None, description="Command run to reinstall an empty host: split like a shell would "
        "(no shell runs it); {host}, {profile} and {uri} are replaced in each word. Without "
        "one, a real backend cannot reinstall (the testbed has its own hook).")
    reinstall_timeout_s: float = Field(
        3600.0, gt=0, allow_inf_nan=False, description="Seconds one run of the reinstall "
        "command may take before it is killed (and retried).")
    reinstall_retries: int = Field(
        0, ge=0, description="Times a reinstall command that failed or timed out is run "
        "again.")
    migration_bandwidth_mib_s: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="Bandwidth cap of every live migration "
        "whose options set none, MiB/s; 0: as fast as the link allows.")
    shared_paths: Annotated[tuple[Path, ...], NoDecode] = Field(
        (), description="Colon-separated directories every host sees as the same storage "
        "(their disks are not copied); default: none, or the testbed's shared directory.")
    libvirt_poll_s: float = Field(
        0.5, gt=0, allow_inf_nan=False, description="libvirt driver: longest wait and "
        "interval between two reads of a running migration's statistics, seconds.")

    @field_validator("reinstall_cmd", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("shared_paths", mode="before")
    @classmethod
    def _colon_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(Path(p) for p in value.split(":") if p)
        return value


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting as the operator sees it."""

    name: str
    flag: str
    env: str
    unit: str
    default: str
    help: str


def _unit(name: str) -> str:
    for suffix, unit in (("_mib_s", "MiB/s"), ("_s", "seconds"), ("_retries", "count"),
                         ("_cmd", "command"), ("_paths", "paths")):
        if name.endswith(suffix):
            return unit
    return ""


def _default(value: Any) -> str:
    if value is None or value == ():
        return "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


SETTINGS: Mapping[str, Setting] = {
    name: Setting(name=name, flag="--" + name.replace("_", "-"), env=ENV_PREFIX + name.upper(),
                  unit=_unit(name), default=_default(field.default),
                  help=field.description or "")
    for name, field in DriverSettings.model_fields.items()
}


def help_text(name: str) -> str:
    """The ``--help`` of a setting's flag: what it does, its unit, default and variable."""
    s = SETTINGS[name]
    return f"{s.help} (unit: {s.unit}; default: {s.default}; env: {s.env})"


def load(flags: Mapping[str, object] | None = None) -> DriverSettings:
    """The settings from ``flags`` (a setting's name → its value; None: not given) over the
    environment. Raises :class:`~hvroll.errors.InputError` with one line for a bad value."""
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    try:
        return DriverSettings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        setting = SETTINGS.get(name)
        if setting is None:
            raise InputError(f"settings: {error['msg']}") from None
        where = setting.flag if name in given else setting.env
        raw = given[name] if name in given else error.get("input")
        problem = error["msg"][0].lower() + error["msg"][1:]
        raise InputError(f"{where}: {problem} (expected {setting.unit}, default "
                         f"{setting.default}; got {raw!r})") from None


def markdown_table() -> str:
    """The settings as a Markdown table (``docs/settings.md`` holds its output)."""
    rows = ["| flag of `hvroll run` | environment variable | unit | default | what it does |",
            "|---|---|---|---|---|"]
    rows += [f"| `{s.flag}` | `{s.env}` | {s.unit} | {s.default} | {s.help} |"
             for s in SETTINGS.values()]
    return "\n".join(rows) + "\n"
