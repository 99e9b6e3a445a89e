"""Start and stop a Nova lab: MariaDB, RabbitMQ, a Neutron stub, placement, glance, nova-api,
conductor, scheduler and N fake-virt computes, all on loopback, all recorded in ``lab.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from hvroll import testbed
from hvroll.errors import DriverError, InputError
from hvroll.inventory import write_atomic
from hvroll.lab.nova import configs, procs, qemu
from hvroll.lab.nova.layout import (
    DEFAULT_CACHE,
    LabRecord,
    Layout,
    Ports,
    ServiceRecord,
    default_ports,
    load_record,
    save_record,
)
from hvroll.lab.nova.profiles import DEFAULT_PROFILE, compute_profile, host_facts_yaml
from hvroll.lab.nova.venv import (
    DEFAULT_RELEASE,
    ensure_libvirt_binding,
    ensure_venv,
    fingerprint,
    release,
)
from hvroll.testbed.layout import Layout as TestbedLayout
from hvroll.testbed.layout import check_prefix

MARIADBD = Path("/usr/sbin/mariadbd")
MARIADB_INSTALL_DB = Path("/usr/bin/mariadb-install-db")
MARIADB = Path("/usr/bin/mariadb")
MARIADB_DUMP = Path("/usr/bin/mariadb-dump")
RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
EPMD = Path("/usr/bin/epmd")
VIRTS = ("fake", "libvirt")
DEFAULT_BANDWIDTH_MIB_S = 32
"""``libvirt`` mode: each live migration's bandwidth cap (``[libvirt]
live_migration_bandwidth``), low enough that a guest rewriting 64 MiB flat out never converges
on pre-copy alone."""
START_TIMEOUT_S = 180.0
STOP_GRACE_S = 10.0
WIPED = ("etc", "mysql", "rabbit", "state", "logs", "run", "images")


def require_prerequisites() -> None:
    """Root, and the Debian packages the lab runs by hand; one line naming what is missing."""
    if os.geteuid() != 0:
        raise InputError("the Nova lab needs root (it runs MariaDB and RabbitMQ itself): "
                         "run it as root")
    missing = []
    for path, pkg in ((MARIADBD, "mariadb-server"), (MARIADB_INSTALL_DB, "mariadb-server"),
                      (MARIADB, "mariadb-client"), (MARIADB_DUMP, "mariadb-client"),
                      (RABBITMQ_SERVER, "rabbitmq-server"),
                      (EPMD, "erlang-base")):
        if not os.access(path, os.X_OK):
            missing.append(pkg)
    if missing:
        raise InputError("the Nova lab needs missing packages: run apt-get install -y "
                         f"--no-install-recommends {' '.join(sorted(set(missing)))} "
                         "(or bash scripts/install.sh --test)")


def require_free_ports(ports: Ports) -> None:
    busy = [f"{name} {port}" for name, port in ports.items() if procs.port_busy(port)]
    if busy:
        raise InputError(f"the Nova lab's loopback ports are in use: {', '.join(busy)} "
                         "(another lab is up? run 'hvroll lab nova down --workdir DIR')")


class Lab:
    """One lab being started: its layout, record and Nova environment."""

    def __init__(self, layout: Layout, record: LabRecord, venv: Path, ports: Ports) -> None:
        self.layout = layout
        self.record = record
        self.venv = venv
        self.ports = ports

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OS_", "VIRTUAL_ENV", "PYTHON"))}
        env.update({"PATH": f"{self.venv / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin",
                    "HVLAB_KNOBS": str(self.layout.state), **extra})
        return env

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None
              ) -> ServiceRecord:
        rec = procs.spawn(name, argv, log=self.layout.log(name), env=env or self.env())
        self.record.services[name] = rec
        save_record(self.layout, self.record)
        return rec

    def run(self, argv: list[str], *, what: str, env: dict[str, str] | None = None,
            timeout_s: float = 300.0, stdin: str | None = None, log_stdout: bool = True) -> str:
        log = self.layout.log("setup")
        try:
            proc = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                                  env=env or self.env(), timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise DriverError(f"{what} did not finish within {timeout_s:.0f} s") from exc
        with log.open("a") as out:
            out.write(f"$ {' '.join(argv)}\n{proc.stdout if log_stdout else ''}{proc.stderr}")
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            raise DriverError(f"{what} failed: {lines[-1] if lines else proc.returncode} "
                              f"(see {log})")
        return proc.stdout

    # --- configuration -------------------------------------------------------------------

    def write_configs(self) -> None:
        lay, ports = self.layout, self.ports
        for d in (lay.etc / "glance", lay.etc / "placement", lay.logs, lay.run,
                  lay.state / "locks", lay.mysql / "data", lay.rabbit / "mnesia",
                  lay.rabbit / "log", lay.images / "staging", lay.images / "tasks"):
            d.mkdir(parents=True, exist_ok=True)
        files = {
            lay.mysql / "my.cnf": configs.my_cnf(lay, ports),
            lay.rabbit / "rabbitmq.conf": configs.rabbit_conf(ports),
            lay.rabbit / "advanced.config": "[].\n",
            lay.rabbit / "rabbitmq-env.conf": "",
            lay.rabbit / "enabled_plugins": "[].\n",
            lay.etc / "nova.conf": configs.nova_conf(lay, ports),
            lay.etc / "nova-control.conf": configs.nova_control_conf(ports),
            lay.etc / "api-paste.ini": configs.api_paste_ini(),
            lay.etc / "placement" / "placement.conf": configs.placement_conf(lay, ports),
            lay.etc / "glance" / "glance-api.conf": configs.glance_api_conf(lay, ports),
            lay.etc / "glance" / "glance-api-paste.ini": configs.glance_paste_ini(),
            lay.facts_file: host_facts_yaml(),
            lay.clouds_yaml: configs.clouds_yaml(ports, str(lay.facts_file)),
        }
        if self.record.virt == "libvirt":
            files[lay.facts_file] = self.record.facts_yaml
        for path, text in files.items():
            path.write_text(text)
        for host in self.record.computes:
            self.write_compute(host, self.record.profiles.get(host, DEFAULT_PROFILE))

    def write_compute(self, host: str, profile: str) -> None:
        state = self.layout.compute_state(host)
        state.mkdir(parents=True, exist_ok=True)
        qhost = self.qemu_host(host)
        if qhost is None:
            (self.layout.etc / f"nova-{host}.conf").write_text(
                configs.compute_conf(self.layout, host))
            (state / "profile.json").write_text(
                json.dumps(compute_profile(profile).as_json(), indent=2) + "\n")
            return
        qhost.instances_dir.mkdir(parents=True, exist_ok=True)
        (self.layout.etc / f"nova-{host}.conf").write_text(qemu.compute_conf(
            self.layout, qhost, self.venv, bandwidth_mib_s=DEFAULT_BANDWIDTH_MIB_S))
        provider_dir = qemu.provider_config_dir(self.layout, host)
        provider_dir.mkdir(parents=True, exist_ok=True)
        provider = provider_dir / "hvlab-profile.yaml"
        text = qemu.provider_yaml(profile)
        if text is None:
            provider.unlink(missing_ok=True)
        else:
            provider.write_text(text)

    def qemu_host(self, host: str) -> qemu.QemuHost | None:
        """``libvirt`` mode: the testbed host behind compute ``host``."""
        data = self.record.qemu_hosts.get(host)
        if data is None:
            return None
        return qemu.QemuHost(name=host, uri=data["uri"], ip=data["ip"],
                             lib_dir=Path(data["lib"]))

    def nova_args(self, *files: str) -> list[str]:
        out = []
        for f in ("nova.conf", *files):
            out += ["--config-file", str(self.layout.etc / f)]
        return out

    # --- services ------------------------------------------------------------------------

    def start_backends(self) -> None:
        lay, ports = self.layout, self.ports
        epmd = self.start("epmd", [str(EPMD), "-address", "127.0.0.1", "-port", str(ports.epmd)])
        neutron = self.start("neutron", [self.bin("python3"), str(
            self.venv_file("hvlab_fake_neutron.py")), str(ports.neutron)])
        cnf = str(lay.mysql / "my.cnf")
        self.run([str(MARIADB_INSTALL_DB), f"--defaults-file={cnf}",
                  "--auth-root-authentication-method=normal", "--skip-test-db",
                  "--user=root"], what="mariadb-install-db")
        mysql = self.start("mariadb", [str(MARIADBD), f"--defaults-file={cnf}"])
        procs.wait_port(ports.epmd, epmd, what="epmd", timeout_s=30.0, log=lay.log("epmd"))
        rabbit_env = {**self.env(), **configs.rabbit_env(lay, ports),
                      "ERL_CRASH_DUMP": str(lay.rabbit / "erl_crash.dump")}
        rabbit = self.start("rabbitmq", [str(RABBITMQ_SERVER)], env=rabbit_env)
        procs.wait_port(ports.mysql, mysql, what="MariaDB", timeout_s=60.0,
                        log=lay.log("mariadb"))
        self.run([str(MARIADB), f"--defaults-file={cnf}"], what="creating the databases",
                 stdin=configs.db_bootstrap_sql())
        procs.wait_port(ports.neutron, neutron, what="the Neutron stub", timeout_s=30.0,
                        log=lay.log("neutron"))
        self.rabbit = rabbit

    def check_alive(self) -> None:
        """Fail with the log's last line if a process the lab started has exited."""
        for name, rec in self.record.services.items():
            if not procs.is_running(rec):
                procs.reap(rec.pid)
                raise DriverError(f"the Nova lab's {name} exited"
                                  f"{procs.tail(self.layout.log(name))}")

    def venv_file(self, name: str) -> Path:
        from hvroll.lab.nova.venv import venvfiles_dir
        return venvfiles_dir() / name

    def schema_cache(self) -> Path:
        """The release's cached dump of freshly synced databases, beside its venv (it may not
        exist yet)."""
        return self.venv.parent / configs.schema_cache_name(
            fingerprint(release(self.record.release)))

    def make_schemas(self, note: Callable[[str], None]) -> None:
        """The lab's database schemas: the release's cached dump restored if there is one,
        else synced by Nova, placement and glance and then cached for the next lab; ``note``
        is told which.

        The syncs take 20-25 s of a lab start on a quiet 2-core machine (2-3x that under
        load) and make the same schemas every time; a restore then only re-points the cell
        mappings, the one place the synced databases name this lab's ports.

        A dump that does not restore (cut short, or written by another MariaDB) is not fatal:
        the databases are emptied, synced anew and the cache replaced."""
        cache = self.schema_cache()
        cnf = str(self.layout.mysql / "my.cnf")
        if cache.is_file():
            note("database schemas (from the cache)")
            try:
                self.run([str(MARIADB), f"--defaults-file={cnf}"],
                         what=f"restoring the cached schemas {cache}",
                         stdin=cache.read_text() + configs.cell_mappings_sql(self.ports))
                return
            except DriverError as exc:
                note(f"database schemas by syncing (the cached dump did not restore: {exc})")
            self.run([str(MARIADB), f"--defaults-file={cnf}"],
                     what="emptying the databases", stdin=configs.db_reset_sql())
        else:
            note("database schemas")
        self.sync_databases()
        self.save_schemas(cache)

    def save_schemas(self, cache: Path) -> None:
        """Dump the freshly synced databases into ``cache``: a temporary file renamed into
        place, so a crash or two labs writing at once never leave half a dump."""
        cnf = str(self.layout.mysql / "my.cnf")
        dump = self.run([str(MARIADB_DUMP), f"--defaults-file={cnf}", "--single-transaction",
                         "--skip-dump-date", "--databases", *configs.DATABASES],
                        what="mariadb-dump of the synced schemas", log_stdout=False)
        write_atomic(str(cache), dump, mode=0o644)  # as the cache's other files

    def sync_databases(self) -> None:
        lay = self.layout
        control = self.nova_args("nova-control.conf")
        manage = self.bin("nova-manage")

        def nova() -> None:
            self.run([manage, *control, "api_db", "sync"], what="nova-manage api_db sync")
            self.run([manage, *control, "cell_v2", "map_cell0", "--database_connection",
                      configs.db_url(self.ports, "nova_cell0")], what="nova-manage map_cell0")
            self.run([manage, *control, "cell_v2", "create_cell", "--name", "cell1"],
                     what="nova-manage create_cell")
            self.run([manage, *control, "db", "sync"], what="nova-manage db sync")

        def placement() -> None:
            self.run([self.bin("placement-manage"), "--config-file",
                      str(lay.etc / "placement" / "placement.conf"), "db", "sync"],
                     what="placement-manage db sync")

        def glance() -> None:
            self.run([self.bin("glance-manage"), "--config-file",
                      str(lay.etc / "glance" / "glance-api.conf"), "db_sync"],
                     what="glance-manage db_sync")

        _parallel([nova, placement, glance])

    def gunicorn(self, name: str, app: str, port: int, env: dict[str, str],
                 workers: int = 1) -> ServiceRecord:
        # gunicorn 25 and later open a control socket in ~/.gunicorn unless told not to;
        # older ones (2025.1 and 2025.2's constraints pin 23) do not know the option
        quiet = ["--no-control-socket"] if self.gunicorn_has_control_socket() else []
        # an idle kept-alive connection is kept for 10 min, not gunicorn's 2 s: Nova's
        # clients reuse theirs, and one the server closes as a request goes out on it is
        # reset (nova-scheduler reads a reset from placement as "no allocation candidates",
        # and the server being booted goes to ERROR with NoValidHost)
        return self.start(name, [self.bin("gunicorn"), *quiet,
                                 "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                                 "--threads", "8", "--timeout", "120", "--graceful-timeout",
                                 "5", "--keep-alive", "600", app], env=env)

    CONTROL = ("placement", "glance", "nova-api", "nova-conductor", "nova-scheduler")
    """The control services, in the order they start."""

    def start_service(self, name: str) -> tuple[ServiceRecord, int | None]:
        """Start one control service (one of :attr:`CONTROL`) from the lab's current Nova
        environment; its record and the loopback port it will listen on (None: no port)."""
        etc = self.layout.etc
        if name == "placement":
            return self.gunicorn("placement", "placement.wsgi.api:application",
                                 self.ports.placement,
                                 self.env(OS_PLACEMENT_CONFIG_DIR=str(etc / "placement"))
                                 ), self.ports.placement
        if name == "glance":
            return self.gunicorn("glance", "glance.wsgi.api:application", self.ports.glance,
                                 self.env(OS_GLANCE_CONFIG_DIR=str(etc / "glance"))
                                 ), self.ports.glance
        if name == "nova-api":
            files = ";".join(str(etc / f) for f in ("api-paste.ini", "nova.conf",
                                                    "nova-control.conf"))
            # native threads under gunicorn's threaded workers: Nova 31-33 would otherwise
            # monkey-patch with eventlet after gunicorn started its threads (workers hang)
            return self.gunicorn("nova-api", "hvlab_wsgi:application", self.ports.nova_api,
                                 self.env(OS_NOVA_CONFIG_FILES=files,
                                          OS_NOVA_DISABLE_EVENTLET_PATCHING="true")
                                 ), self.ports.nova_api
        if name in ("nova-conductor", "nova-scheduler"):
            confs = ["nova-control.conf"]
            if name == "nova-scheduler":  # written here: a lab made before it has none
                (etc / "nova-scheduler.conf").write_text(configs.scheduler_conf())
                confs.append("nova-scheduler.conf")
            return self.start(name, [self.bin(name), *self.nova_args(*confs),
                                     "--log-file", str(self.layout.log(name))]), None
        raise InputError(f"unknown lab service {name!r} (expected one of: "
                         f"{', '.join(self.CONTROL)})")

    def gunicorn_has_control_socket(self) -> bool:
        from hvroll.lab.nova.venv import site_packages
        config = site_packages(self.venv) / "gunicorn" / "config.py"
        try:
            return "control_socket" in config.read_text()
        except OSError:
            return True

    def start_control(self) -> dict[str, tuple[ServiceRecord, int]]:
        started = {}
        for name in self.CONTROL:
            rec, port = self.start_service(name)
            if port is not None:
                started[name] = (rec, port)
        return started

    def start_compute(self, host: str) -> ServiceRecord:
        argv = [self.bin("nova-compute"), *self.nova_args(f"nova-{host}.conf"),
                "--log-file", str(self.layout.log(host))]
        if self.qemu_host(host) is not None:
            argv = ["/usr/bin/nsenter", "-t", str(self.daemon_pid(host)), "-m", "--", *argv]
        return self.start(host, argv)

    def daemon_pid(self, host: str) -> int:
        """The process whose mount namespace a libvirt compute joins: its host's libvirtd
        (asked of the testbed each time: a restarted daemon has a new namespace)."""
        for h in testbed.status(self.layout.testbed).hosts:
            if h.name == host and h.pid is not None and h.answering:
                return h.pid
        raise DriverError(f"the Nova lab's testbed host {host} is not running: run "
                          f"'hvroll testbed status --workdir {self.layout.testbed}'")


def _parallel(jobs: list[Callable[[], None]]) -> None:
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        for future in [pool.submit(j) for j in jobs]:
            future.result()


def _wipe(layout: Layout) -> None:
    for name in WIPED:
        shutil.rmtree(layout.workdir / name, ignore_errors=True)
    for f in (layout.clouds_yaml, layout.facts_file, layout.record_file):
        f.unlink(missing_ok=True)


def running_services(layout: Layout) -> list[str]:
    try:
        record = load_record(layout)
    except InputError:
        return []
    return [name for name, rec in record.services.items() if procs.is_running(rec)]


def start(workdir: Path, computes: int, *, release_name: str = DEFAULT_RELEASE,
          cache: Path = DEFAULT_CACHE, ports: Ports | None = None,
          on_step: Callable[[str], None] | None = None, virt: str = "fake",
          testbed_prefix: str = "hvnl") -> Lab:
    """Start a fresh control plane and ``computes`` computes (all on the default profile):
    fake-virt computes, or (``virt="libvirt"``) one libvirt compute per host of a testbed
    brought up in ``<workdir>/tb`` under ``testbed_prefix``.

    On failure everything already started is stopped again before the error is raised."""
    ports = ports or default_ports()
    note = on_step or (lambda _s: None)
    rel = release(release_name)  # bad input first, before anything is checked or started
    if virt not in VIRTS:
        raise InputError(f"unknown lab virt driver {virt!r} (expected one of: "
                         f"{', '.join(VIRTS)})")
    if virt == "libvirt":
        check_prefix(testbed_prefix)
    require_prerequisites()
    layout = Layout(workdir.resolve())
    if running_services(layout):
        raise InputError(f"a Nova lab is already up in {layout.workdir}: run "
                         f"'hvroll lab nova down --workdir {layout.workdir}' first")
    require_free_ports(ports)
    layout.workdir.mkdir(parents=True, exist_ok=True)
    _wipe(layout)
    layout.logs.mkdir(parents=True, exist_ok=True)
    note(f"Nova {rel.nova} environment")
    venv = ensure_venv(rel, cache, log=layout.log("install"))
    hosts = [f"compute{i}" for i in range(1, computes + 1)]
    qemu_hosts: dict[str, dict[str, str]] = {}
    image: dict[str, str] = {}
    facts = ""
    if virt == "libvirt":
        note("libvirt-python in Nova's environment")
        ensure_libvirt_binding(rel, cache, log=layout.log("install"))
        note(f"{computes} testbed hosts")
        try:
            bed = testbed.up(computes, layout.testbed, prefix=testbed_prefix)
        except BaseException:
            with contextlib.suppress(DriverError):
                testbed.down(layout.testbed)
            raise
        hosts = [h.name for h in bed.hosts]
        tb_layout = TestbedLayout(layout.testbed, bed.prefix)
        qemu_hosts = {h.name: {"uri": h.uri, "ip": h.ip, "lib": str(
            tb_layout.resolve_host(h.name).bind_dir("lib"))} for h in bed.hosts}
        image = {"kernel": str(bed.image.kernel), "initrd": str(bed.image.initrd)}
        marker = bed.hosts[0].profile
        if marker.qemu_version is None or marker.libvirt_version is None:
            testbed.down(layout.testbed)
            raise DriverError(f"testbed host {bed.hosts[0].name} did not report its QEMU and "
                              "libvirt versions")
        facts = qemu.host_facts_yaml(marker.qemu_version, marker.libvirt_version, rel.name)
    record = LabRecord(workdir=str(layout.workdir), release=rel.name, venv=str(venv),
                       computes=hosts, ports=dict(ports.items()),
                       profiles=dict.fromkeys(hosts, qemu.TESTBED_PROFILE if virt == "libvirt"
                                              else DEFAULT_PROFILE),
                       started_at=datetime.now(UTC).isoformat(timespec="seconds"),
                       virt=virt, qemu_hosts=qemu_hosts, canary_image=image, facts_yaml=facts,
                       testbed_prefix=testbed_prefix if virt == "libvirt" else None)
    lab = Lab(layout, record, venv, ports)
    try:
        lab.write_configs()
        save_record(layout, record)
        note("MariaDB, RabbitMQ, Neutron stub")
        lab.start_backends()
        lab.make_schemas(note)
        procs.wait_port(ports.amqp, lab.rabbit, what="RabbitMQ", timeout_s=120.0,
                        log=layout.log("rabbitmq"))
        note("placement, glance, nova-api, conductor, scheduler")
        started = lab.start_control()
        for host in hosts:
            lab.start_compute(host)
        for name, (rec, port) in started.items():
            procs.wait_port(port, rec, what=name, timeout_s=START_TIMEOUT_S,
                            log=layout.log(name))
    except BaseException:
        stop_all(layout, record)
        raise
    return lab


def stop_all(layout: Layout, record: LabRecord) -> list[str]:
    """Stop every process the record names (computes and APIs first, then the database and
    broker, epmd once the broker is gone); return what would not stop.

    epmd outlives the broker: a broker that finds its epmd gone has one started (RabbitMQ's
    epmd check runs ``epmd -daemon`` through an ``epmd-starter`` node), and that daemon leaves
    every process group and would hold the port for the next lab."""
    backends = ("rabbitmq", "mariadb")
    front = [r for n, r in record.services.items() if n not in (*backends, "epmd")]
    back = [record.services[n] for n in backends if n in record.services]
    stubborn = procs.stop(front, grace_s=STOP_GRACE_S)
    stubborn += procs.stop(back, grace_s=STOP_GRACE_S)
    if "epmd" in record.services:
        stubborn += procs.stop([record.services["epmd"]], grace_s=STOP_GRACE_S)
    if record.virt == "libvirt":
        try:
            testbed.down(layout.testbed)
        except DriverError as exc:
            stubborn.append(f"testbed ({exc})")
    marks = (str(layout.workdir), record.venv)
    pgids = [r.pid for r in record.services.values()]
    leftovers = [p for p in procs.group_members(pgids) if procs.mentions(p, marks)]
    if leftovers:
        procs.kill(leftovers)
        time.sleep(0.5)
    return stubborn + [f"pid {p}" for p in procs.group_members(pgids)
                       if procs.mentions(p, marks)]


def ports_of(record: LabRecord) -> Ports:
    return Ports(**record.ports) if record.ports else Ports()
