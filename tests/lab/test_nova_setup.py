"""The lab's set-up decisions that need no running lab: constraints, configuration, checks."""

from __future__ import annotations

import configparser
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from hvroll.errors import DriverError, InputError
from hvroll.lab.nova import configs, control
from hvroll.lab.nova.layout import LabRecord, Layout, Ports
from hvroll.lab.nova.venv import _link_files, constraints_text, release, venvfiles_dir


def test_constraints_drop_only_the_relaxed_pins() -> None:
    rel = release("2026.2")
    text = constraints_text(rel)
    names = {line.split("===")[0].lower() for line in text.splitlines() if "===" in line}
    assert "keystoneauth1" not in names
    assert "oslo.versionedobjects" not in names
    assert {"oslo.db", "openstacksdk", "gunicorn", "pymysql"} <= names


def test_unknown_release_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"unknown Nova lab release '1999.1'"):
        release("1999.1")


def test_every_service_listens_on_loopback_only(tmp_path: Path) -> None:
    layout, ports = Layout(tmp_path), Ports()
    texts = [configs.my_cnf(layout, ports), configs.rabbit_conf(ports),
             configs.nova_conf(layout, ports), configs.nova_control_conf(ports),
             configs.placement_conf(layout, ports), configs.glance_api_conf(layout, ports),
             configs.clouds_yaml(ports, "facts.yaml")]
    hosts = set()
    for text in texts:
        for word in text.replace("/", " ").replace("@", " ").split():
            if word.count(".") == 3 and word.split(":")[0].replace(".", "").isdigit():
                hosts.add(word.split(":")[0])
    assert hosts == {"127.0.0.1"}
    assert configs.rabbit_env(layout, ports)["RABBITMQ_NODE_IP_ADDRESS"] == "127.0.0.1"


def test_computes_never_see_the_database(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    for text in (configs.nova_conf(layout, Ports()), configs.compute_conf(layout, "compute1")):
        assert "[database]" not in text
        assert "[api_database]" not in text
        assert "mysql" not in text


def test_clouds_yaml_names_the_lab_cloud_and_its_facts() -> None:
    doc = yaml.safe_load(configs.clouds_yaml(Ports(), "/x/host-facts.yaml"))
    cloud = doc["clouds"]["hvroll-lab"]
    assert cloud["auth_type"] == "admin_token"
    assert cloud["auth"] == {"endpoint": "http://127.0.0.1:8774/v2.1", "token": "admin:admin"}
    assert cloud["hvroll_host_facts"] == "/x/host-facts.yaml"


def test_a_busy_port_is_refused_up_front_with_its_name() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(InputError, match=rf"ports are in use: .*nova_api {port}"):
            control.require_free_ports(Ports(nova_api=port))


def test_missing_packages_are_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control, "RABBITMQ_SERVER", Path("/nonexistent/rabbitmq-server"))
    monkeypatch.setattr(control.os, "geteuid", lambda: 0)
    with pytest.raises(InputError, match=r"needs missing packages: run apt-get install -y "
                                         r"--no-install-recommends rabbitmq-server"):
        control.require_prerequisites()


def test_not_root_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control.os, "geteuid", lambda: 1000)
    with pytest.raises(InputError, match="needs root"):
        control.require_prerequisites()


def test_status_of_a_directory_without_a_lab_is_an_input_error(tmp_path: Path) -> None:
    from hvroll.lab.nova import status
    with pytest.raises(InputError, match="no Nova lab here"):
        status(tmp_path)


def test_port_offset_moves_every_port_and_bad_values_are_one_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from hvroll.lab.nova.layout import default_ports

    monkeypatch.delenv("HVROLL_LAB_PORT_OFFSET", raising=False)
    assert default_ports() == Ports()
    monkeypatch.setenv("HVROLL_LAB_PORT_OFFSET", "100")
    moved = default_ports()
    assert (moved.mysql, moved.amqp, moved.epmd, moved.nova_api) == (3407, 5782, 4470, 8874)
    assert dict(moved.items()) == {k: v + 100 for k, v in Ports().items()}
    monkeypatch.setenv("HVROLL_LAB_PORT_OFFSET", "x1")
    with pytest.raises(InputError, match=r"^HVROLL_LAB_PORT_OFFSET: not a whole number "
                                         r"\(expected 0\.\.20000, got 'x1'\)$"):
        default_ports()
    monkeypatch.setenv("HVROLL_LAB_PORT_OFFSET", "-5")
    with pytest.raises(InputError, match=r"out of range \(expected 0\.\.20000, got -5\)$"):
        default_ports()


def test_linking_the_lab_files_races_safely_and_replaces_a_stale_link(tmp_path: Path) -> None:
    """Labs of two test workers (or two checkouts) link into one cached environment at once."""
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    (site / "nova" / "virt").mkdir(parents=True)
    driver = site / "nova" / "virt" / "hvlab_fake.py"
    driver.symlink_to(tmp_path / "elsewhere.py")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: _link_files(tmp_path / "venv"), range(32)))
    assert driver.resolve() == (venvfiles_dir() / "hvlab_fake.py").resolve()
    assert (site / "hvlab.pth").read_text() == f"{venvfiles_dir()}\n"
    assert sorted(p.name for p in site.rglob("*")) == [
        "hvlab.pth", "hvlab_fake.py", "nova", "virt"]


def test_the_scheduler_takes_one_request_at_a_time() -> None:
    conf = configparser.ConfigParser()
    conf.read_string(configs.scheduler_conf())
    assert conf["DEFAULT"]["executor_thread_pool_size"] == "1"
    assert conf["scheduler"]["workers"] == "1"


def test_a_restored_lab_points_its_cell_mappings_at_its_own_database_and_broker() -> None:
    assert configs.cell_mappings_sql(Ports().shifted(200)) == (
        "UPDATE nova_api.cell_mappings SET database_connection = "
        "'mysql+pymysql://hvlab:hvlab@127.0.0.1:3507/nova_cell0' "
        "WHERE uuid = '00000000-0000-0000-0000-000000000000';\n"
        "UPDATE nova_api.cell_mappings SET database_connection = "
        "'mysql+pymysql://hvlab:hvlab@127.0.0.1:3507/nova', "
        "transport_url = 'rabbit://guest:guest@127.0.0.1:5882/' WHERE name = 'cell1';\n")


def test_the_schema_cache_is_keyed_by_the_release_and_the_steps(
        monkeypatch: pytest.MonkeyPatch) -> None:
    name = configs.schema_cache_name("0123456789abcdef")
    assert name == configs.schema_cache_name("0123456789abcdef")
    assert name.startswith("schemas-") and name.endswith(".sql") and len(name) == 28
    assert configs.schema_cache_name("fedcba9876543210") != name
    monkeypatch.setattr(configs, "SCHEMA_CACHE_VERSION", configs.SCHEMA_CACHE_VERSION + 1)
    assert configs.schema_cache_name("0123456789abcdef") != name
    monkeypatch.setattr(configs, "DATABASES", (*configs.DATABASES, "cinder"))
    monkeypatch.setattr(configs, "SCHEMA_CACHE_VERSION", configs.SCHEMA_CACHE_VERSION - 1)
    assert configs.schema_cache_name("0123456789abcdef") != name


def test_a_schema_dump_replaces_the_cache_whole_or_not_at_all(tmp_path: Path) -> None:
    lab = control.Lab(Layout(tmp_path / "lab"), LabRecord(workdir=str(tmp_path), release="2026.2",
                                                        venv=str(tmp_path / "venv")),
                      tmp_path / "venv", Ports())
    cache = tmp_path / "schemas-x.sql"
    cache.write_text("old\n")

    def failing_run(*_a: object, **_k: object) -> str:
        raise RuntimeError("mariadb-dump died")

    lab.run = failing_run  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        lab.save_schemas(cache)
    assert cache.read_text() == "old\n"
    lab.run = lambda *_a, **_k: "CREATE TABLE t (i INT);\n"  # type: ignore[method-assign]
    lab.save_schemas(cache)
    assert cache.read_text() == "CREATE TABLE t (i INT);\n"
    assert cache.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["schemas-x.sql"]


def test_the_reset_drops_and_creates_every_database_and_keeps_the_user() -> None:
    assert configs.db_reset_sql().splitlines() == [
        "DROP DATABASE IF EXISTS nova_api;", "DROP DATABASE IF EXISTS nova_cell0;",
        "DROP DATABASE IF EXISTS nova;", "DROP DATABASE IF EXISTS placement;",
        "DROP DATABASE IF EXISTS glance;", *configs.db_bootstrap_sql().splitlines()]


def test_a_cached_dump_that_does_not_restore_is_synced_anew_and_replaced(
        tmp_path: Path) -> None:
    lab = control.Lab(Layout(tmp_path / "lab"), LabRecord(workdir=str(tmp_path), release="2026.2",
                                                        venv=str(tmp_path / "venv")),
                      tmp_path / "venv", Ports())
    cache = tmp_path / "schemas-x.sql"
    cache.write_text("CREATE TABLE t (i INT\n")
    lab.schema_cache = lambda: cache  # type: ignore[method-assign]
    calls: list[str] = []

    def run(_argv: list[str], *, what: str, stdin: str | None = None, **_k: object) -> str:
        calls.append(what)
        if what.startswith("restoring"):
            raise DriverError(f"{what} failed: ERROR 1064 (42000) at line 1")
        if what.startswith("mariadb-dump"):
            return "CREATE TABLE t (i INT);\n"
        assert stdin == configs.db_reset_sql()
        return ""

    lab.run = run  # type: ignore[method-assign]
    lab.sync_databases = lambda: calls.append("sync")  # type: ignore[method-assign]
    notes: list[str] = []
    lab.make_schemas(notes.append)
    assert calls == [f"restoring the cached schemas {cache}", "emptying the databases", "sync",
                     "mariadb-dump of the synced schemas"]
    assert notes == ["database schemas (from the cache)",
                     "database schemas by syncing (the cached dump did not restore: restoring "
                     f"the cached schemas {cache} failed: ERROR 1064 (42000) at line 1)"]
    assert cache.read_text() == "CREATE TABLE t (i INT);\n"
