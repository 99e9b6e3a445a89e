"""Where everything of a Nova lab lives, and the record of what it owns.

A lab's work directory holds its configuration (``etc/``), databases and broker state
(``mysql/``, ``rabbit/``), the computes' state (``state/computeN/``), logs (``logs/``), process
IDs (``run/``), ``clouds.yaml`` and ``lab.json`` — the record of every process it started and
every object it created. Nova's own virtual environment lives in a cache shared by labs of the
same release (:data:`DEFAULT_CACHE`), so its pins never touch hvroll's.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hvroll.errors import InputError

DEFAULT_WORKDIR = Path("/var/tmp/hvroll-nova-lab")
DEFAULT_CACHE = Path(os.environ.get("HVROLL_LAB_CACHE", "/var/cache/hvroll-lab"))
"""Shared cache of Nova virtual environments, one per release (``HVROLL_LAB_CACHE``)."""
CLOUD_NAME = "hvroll-lab"
HOST = "127.0.0.1"
ADMIN_TOKEN = "admin:admin"
"""``USER:PROJECT``: the lab's token for its admin user in project ``admin``."""
TENANT_TOKEN = "alice:tenant-a"
"""A second project's member, so servers of several projects exist."""
PLACEMENT_TOKEN = "admin"


@dataclass(frozen=True, slots=True)
class Ports:
    """Loopback TCP ports of one lab (all on 127.0.0.1)."""

    mysql: int = 3307
    amqp: int = 5682
    epmd: int = 4370
    erlang_dist: int = 25682
    nova_api: int = 8774
    placement: int = 8778
    glance: int = 9292
    neutron: int = 9696

    def items(self) -> list[tuple[str, int]]:
        return list(asdict(self).items())

    def shifted(self, offset: int) -> Ports:
        """The same ports moved by ``offset``, so two labs can run side by side."""
        return Ports(**{name: port + offset for name, port in self.items()})


MAX_PORT_OFFSET = 20000
PORT_OFFSET_ENV = "HVROLL_LAB_PORT_OFFSET"
KNOBS = ("lm_seconds", "lm_fail", "lm_stall")
"""Migration knobs of the lab's fake driver, one file each in the lab's state directory."""


def default_ports() -> Ports:
    """The default ports, moved by ``HVROLL_LAB_PORT_OFFSET`` when it is set."""
    raw = os.environ.get(PORT_OFFSET_ENV, "").strip()
    if not raw:
        return Ports()
    try:
        offset = int(raw)
    except ValueError:
        raise InputError(f"{PORT_OFFSET_ENV}: not a whole number "
                         f"(expected 0..{MAX_PORT_OFFSET}, got {raw!r})") from None
    if not 0 <= offset <= MAX_PORT_OFFSET:
        raise InputError(f"{PORT_OFFSET_ENV}: out of range "
                         f"(expected 0..{MAX_PORT_OFFSET}, got {offset})")
    return Ports().shifted(offset)


@dataclass(frozen=True, slots=True)
class Layout:
    """The paths of one lab at ``workdir``."""

    workdir: Path

    @property
    def etc(self) -> Path:
        return self.workdir / "etc"

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    @property
    def run(self) -> Path:
        return self.workdir / "run"

    @property
    def state(self) -> Path:
        return self.workdir / "state"

    @property
    def mysql(self) -> Path:
        return self.workdir / "mysql"

    @property
    def rabbit(self) -> Path:
        return self.workdir / "rabbit"

    @property
    def images(self) -> Path:
        return self.workdir / "images"

    @property
    def record_file(self) -> Path:
        return self.workdir / "lab.json"

    @property
    def clouds_yaml(self) -> Path:
        return self.workdir / "clouds.yaml"

    @property
    def facts_file(self) -> Path:
        return self.workdir / "host-facts.yaml"

    @property
    def testbed(self) -> Path:
        """``libvirt`` mode: the work directory of the lab's testbed."""
        return self.workdir / "tb"

    def compute_state(self, host: str) -> Path:
        return self.state / host

    def log(self, service: str) -> Path:
        return self.logs / f"{service}.log"


@dataclass(slots=True)
class ServiceRecord:
    """One process the lab started: its PID and the start time /proc gave it (so a recycled
    PID is never mistaken for it)."""

    name: str
    pid: int
    start_ticks: int
    argv: list[str]


@dataclass(slots=True)
class LabRecord:
    """``lab.json``: what one lab owns."""

    workdir: str
    release: str
    venv: str
    computes: list[str] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    services: dict[str, ServiceRecord] = field(default_factory=dict)
    profiles: dict[str, str] = field(default_factory=dict)
    """Compute host → the profile it runs now."""
    servers: list[str] = field(default_factory=list)
    """IDs of the servers ``up`` created."""
    server_group: str | None = None
    started_at: str = ""
    virt: str = "fake"
    """The computes' virt driver: ``fake`` or ``libvirt`` (one compute per testbed host)."""
    qemu_hosts: dict[str, dict[str, str]] = field(default_factory=dict)
    """``libvirt`` mode: compute host → its testbed host (``uri``, ``ip``)."""
    testbed_prefix: str | None = None
    canary_image: dict[str, str] = field(default_factory=dict)
    """``libvirt`` mode: the testbed's canary ``kernel`` and ``initrd`` files."""
    facts_yaml: str = ""
    """``libvirt`` mode: the host-facts file naming the testbed hosts' real versions."""

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LabRecord:
        data = json.loads(text)
        services = {k: ServiceRecord(**v) for k, v in data.pop("services", {}).items()}
        return cls(services=services, **data)


def load_record(layout: Layout) -> LabRecord:
    """The lab's record; ``InputError`` if ``layout.workdir`` holds no lab."""
    try:
        text = layout.record_file.read_text()
    except FileNotFoundError:
        raise InputError(f"{layout.workdir}: no Nova lab here (no lab.json): "
                         f"run 'hvroll lab nova up --workdir {layout.workdir}'") from None
    try:
        return LabRecord.from_json(text)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{layout.record_file}: unreadable lab record ({exc})") from exc


def save_record(layout: Layout, record: LabRecord) -> None:
    tmp = layout.record_file.with_suffix(".tmp")
    tmp.write_text(record.to_json())
    tmp.replace(layout.record_file)
