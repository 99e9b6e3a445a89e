"""The text of every configuration file of a Nova lab: pure functions of its layout and ports.

Nothing here starts or writes anything; :mod:`hvroll.lab.nova.services` writes these files under
``etc/`` and starts the processes that read them.
"""

from __future__ import annotations

import hashlib
import json

from hvroll.lab.nova.layout import ADMIN_TOKEN, HOST, PLACEMENT_TOKEN, TENANT_TOKEN, Layout, Ports

DB_USER = "hvlab"
DB_PASSWORD = "hvlab"
DATABASES = ("nova_api", "nova_cell0", "nova", "placement", "glance")
FAKE_DRIVER = "hvlab_fake.RestartableFakeLiveMigrateDriver"
"""The lab's virt driver (``nova.virt.hvlab_fake``), relative to ``nova.virt``."""


def db_url(ports: Ports, database: str) -> str:
    return f"mysql+pymysql://{DB_USER}:{DB_PASSWORD}@{HOST}:{ports.mysql}/{database}"


def transport_url(ports: Ports) -> str:
    return f"rabbit://guest:guest@{HOST}:{ports.amqp}/"


def my_cnf(layout: Layout, ports: Ports) -> str:
    m = layout.mysql
    return f"""[mysqld]
user = root
datadir = {m}/data
socket = {m}/mysqld.sock
pid-file = {m}/mysqld.pid
log-error = {layout.log("mariadb")}
port = {ports.mysql}
bind-address = {HOST}
skip-name-resolve
performance_schema = OFF
innodb_buffer_pool_size = 64M
innodb_log_file_size = 16M
innodb_flush_log_at_trx_commit = 2
max_connections = 400
character-set-server = utf8mb4

[client]
socket = {m}/mysqld.sock
user = root
"""


def db_bootstrap_sql() -> str:
    """SQL run once on the fresh MariaDB, over its socket, as root."""
    lines = [f"CREATE DATABASE IF NOT EXISTS {db} CHARACTER SET utf8mb4;" for db in DATABASES]
    lines.append(f"CREATE USER IF NOT EXISTS '{DB_USER}'@'{HOST}' IDENTIFIED BY '{DB_PASSWORD}';")
    lines.append(f"GRANT ALL PRIVILEGES ON *.* TO '{DB_USER}'@'{HOST}';")
    lines.append("FLUSH PRIVILEGES;")
    return "\n".join(lines) + "\n"


def db_reset_sql() -> str:
    """SQL that drops and creates the lab's databases afresh (after a restore that failed part
    way), its user and grants kept."""
    drops = "".join(f"DROP DATABASE IF EXISTS {db};\n" for db in DATABASES)
    return drops + db_bootstrap_sql()


SCHEMA_CACHE_VERSION = 1
"""Bumped whenever the lab's schema steps change (the ``nova-manage``, ``placement-manage`` and
``glance-manage`` calls of ``Lab.sync_databases``, or what a restore must re-point): a cached
dump made by other steps is then never restored."""
CELL0_UUID = "00000000-0000-0000-0000-000000000000"
"""Nova's fixed uuid of cell0 (``objects.CellMapping.CELL0_UUID``)."""


def schema_cache_name(venv_fingerprint: str) -> str:
    """The file, in the release's cache directory, holding the dump of the lab's freshly synced
    databases. Keyed by the release's environment (its packages make the schemas), the
    databases created and the steps' version, so a change of any of them syncs anew."""
    blob = json.dumps([SCHEMA_CACHE_VERSION, venv_fingerprint, db_bootstrap_sql()])
    return f"schemas-{hashlib.sha256(blob.encode()).hexdigest()[:16]}.sql"


def cell_mappings_sql(ports: Ports) -> str:
    """SQL that points a restored lab's cell mappings at its own MariaDB and RabbitMQ.

    ``map_cell0`` and ``create_cell`` store full URLs, ports included, in
    ``nova_api.cell_mappings``; a dump made by a lab on other ports would otherwise send this
    lab's conductor and API to that lab's database and broker. cell0 keeps ``none:///``, its
    transport as ``map_cell0`` writes it. Nothing else in the synced databases names a port,
    path or host."""
    return (f"UPDATE nova_api.cell_mappings SET database_connection = "
            f"'{db_url(ports, 'nova_cell0')}' WHERE uuid = '{CELL0_UUID}';\n"
            f"UPDATE nova_api.cell_mappings SET database_connection = '{db_url(ports, 'nova')}', "
            f"transport_url = '{transport_url(ports)}' WHERE name = 'cell1';\n")


def rabbit_env(layout: Layout, ports: Ports) -> dict[str, str]:
    """The environment that puts every RabbitMQ path and port inside the lab."""
    r = layout.rabbit
    return {
        "HOME": str(r),
        "RABBITMQ_NODENAME": "hvlab@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": HOST,
        "RABBITMQ_NODE_PORT": str(ports.amqp),
        "RABBITMQ_DIST_PORT": str(ports.erlang_dist),
        "RABBITMQ_MNESIA_BASE": str(r / "mnesia"),
        "RABBITMQ_LOG_BASE": str(r / "log"),
        "RABBITMQ_CONFIG_FILE": str(r / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(r / "advanced.config"),
        "RABBITMQ_CONF_ENV_FILE": str(r / "rabbitmq-env.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(r / "enabled_plugins"),
        "RABBITMQ_PLUGINS_EXPAND_DIR": str(r / "plugins-expand"),
        "RABBITMQ_PID_FILE": str(r / "rabbit.pid"),
        # the broker never starts an epmd of its own (``epmd -daemon`` leaves its session and
        # would outlive the lab, holding the port): it registers with the lab's, started
        # first on ERL_EPMD_PORT and stopped by PID
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS":
            "-kernel inet_dist_use_interface {127,0,0,1} -start_epmd false",
        "ERL_EPMD_PORT": str(ports.epmd),
        "ERL_EPMD_ADDRESS": HOST,
    }


def rabbit_conf(ports: Ports) -> str:
    return (f"listeners.tcp.default = {HOST}:{ports.amqp}\n"
            "loopback_users.guest = true\n"
            "disk_free_limit.absolute = 50MB\n"
            "log.console = true\n"
            "log.file = false\n")


def nova_conf(layout: Layout, ports: Ports) -> str:
    """Settings every Nova service shares (computes load only this and their own file)."""
    return f"""[DEFAULT]
transport_url = {transport_url(ports)}
compute_driver = {FAKE_DRIVER}
my_ip = {HOST}
state_path = {layout.state}
use_stderr = false
debug = false
heal_instance_info_cache_interval = -1
instance_usage_audit = false
report_interval = 5
service_down_time = 30

[oslo_concurrency]
lock_path = {layout.state}/locks

[oslo_messaging_notifications]
driver = noop

[oslo_messaging_rabbit]
heartbeat_timeout_threshold = 0

[api]
auth_strategy = keystone

[wsgi]
api_paste_config = {layout.etc}/api-paste.ini

[scheduler]
discover_hosts_in_cells_interval = 2

[filter_scheduler]
track_instance_changes = false

[compute]
live_migration_wait_for_vif_plug = false
resource_provider_association_refresh = 5

[quota]
instances = -1
cores = -1
ram = -1
server_groups = -1
server_group_members = -1

[placement]
auth_type = admin_token
endpoint = http://{HOST}:{ports.placement}
token = {PLACEMENT_TOKEN}

[service_user]
# nova-status upgrade check fails without it (the service token sent with user tokens,
# CVE-2023-2088); the lab's token filter and stubs ignore the extra header
send_service_user_token = true
auth_type = admin_token
endpoint = http://{HOST}:{ports.nova_api}/v2.1
token = {ADMIN_TOKEN}

[neutron]
auth_type = admin_token
endpoint = http://{HOST}:{ports.neutron}
endpoint_override = http://{HOST}:{ports.neutron}
token = {ADMIN_TOKEN}

[glance]
endpoint_override = http://{HOST}:{ports.glance}

[cinder]
catalog_info = block-storage:cinderv3:publicURL

[vnc]
enabled = false

[spice]
enabled = false

[serial_console]
enabled = false

[os_vif_ovs]
ovsdb_connection = unix:{layout.run}/no-ovsdb.sock
"""


def nova_control_conf(ports: Ports) -> str:
    """Database settings: only API, conductor and scheduler load them (a compute that sees
    ``[api_database]`` logs "No DB access allowed in nova-compute" on every start)."""
    return f"""[api_database]
connection = {db_url(ports, "nova_api")}
max_pool_size = 10
max_overflow = 20

[database]
connection = {db_url(ports, "nova")}
max_pool_size = 10
max_overflow = 20
"""


def scheduler_conf() -> str:
    """nova-scheduler schedules one request at a time, in one process. Several at once, on a
    loaded machine, mix up placement's answers: a request forced to one compute gets
    another's allocation candidates ("No hosts matched due to not matching 'force_hosts'"),
    or a connection reset read as none, and the server goes to ERROR with NoValidHost."""
    return """[DEFAULT]
executor_thread_pool_size = 1

[scheduler]
workers = 1
"""


def compute_conf(layout: Layout, host: str) -> str:
    return f"""[DEFAULT]
host = {host}
state_path = {layout.compute_state(host)}
"""


def api_paste_ini() -> str:
    """Nova's own pipeline with keystonemiddleware's ``authtoken`` replaced by the lab's token
    filter (Nova 34 has no unauthenticated pipeline left)."""
    tokens = f"{ADMIN_TOKEN} {TENANT_TOKEN}"
    return f"""[composite:osapi_compute]
use = call:nova.api.openstack.urlmap:urlmap_factory
/: oscomputeversions
/v2.1: oscomputeversion_v2
/v2.1/+: openstack_compute_api_v21

[composite:openstack_compute_api_v21]
use = call:nova.api.auth:pipeline_factory_v21
keystone = compute_req_id faultwrap request_log sizelimit hvlab_noauth keystonecontext
  osapi_compute_app_v21

[filter:request_log]
paste.filter_factory = nova.api.openstack.requestlog:RequestLog.factory

[filter:compute_req_id]
paste.filter_factory = nova.api.compute_req_id:ComputeReqIdMiddleware.factory

[filter:faultwrap]
paste.filter_factory = nova.api.openstack:FaultWrapper.factory

[filter:sizelimit]
paste.filter_factory = oslo_middleware:RequestBodySizeLimiter.factory

[filter:hvlab_noauth]
paste.filter_factory = hvlab_noauth:filter_factory
tokens = {tokens}

[filter:keystonecontext]
paste.filter_factory = nova.api.auth:NovaKeystoneContext.factory

[app:osapi_compute_app_v21]
paste.app_factory = nova.api.openstack.compute:APIRouterV21.factory

[pipeline:oscomputeversions]
pipeline = faultwrap request_log oscomputeversionapp

[pipeline:oscomputeversion_v2]
pipeline = compute_req_id faultwrap request_log oscomputeversionapp_v2

[app:oscomputeversionapp]
paste.app_factory = nova.api.openstack.compute.versions:Versions.factory

[app:oscomputeversionapp_v2]
paste.app_factory = nova.api.openstack.compute.versions:VersionsV2.factory
"""


def placement_conf(layout: Layout, ports: Ports) -> str:
    return f"""[DEFAULT]
debug = false
log_file = {layout.log("placement")}

[api]
auth_strategy = noauth2

[placement_database]
connection = {db_url(ports, "placement")}
max_pool_size = 10
max_overflow = 20
"""


def glance_api_conf(layout: Layout, ports: Ports) -> str:
    return f"""[DEFAULT]
debug = false
log_file = {layout.log("glance")}
enabled_backends = file:file

[database]
connection = {db_url(ports, "glance")}

[paste_deploy]
flavor = hvlab
config_file = {layout.etc}/glance/glance-api-paste.ini

[glance_store]
default_backend = file

[file]
filesystem_store_datadir = {layout.images}

[os_glance_staging_store]
filesystem_store_datadir = {layout.images}/staging

[os_glance_tasks_store]
filesystem_store_datadir = {layout.images}/tasks

[oslo_policy]
enforce_new_defaults = true
"""


def glance_paste_ini() -> str:
    return f"""[pipeline:glance-api-hvlab]
pipeline = versionnegotiation hvlab_noauth context rootapp

[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app

[app:apiversions]
paste.app_factory = glance.api.versions:create_resource

[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory

[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory

[filter:hvlab_noauth]
paste.filter_factory = hvlab_noauth:filter_factory
tokens = {ADMIN_TOKEN} {TENANT_TOKEN}

[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory
"""


def clouds_yaml(ports: Ports, facts_file: str) -> str:
    """``clouds.yaml`` with the cloud ``hvroll-lab`` (admin token, no keystone) and
    ``hvroll-lab-tenant`` (a project member)."""
    def cloud(name: str, token: str) -> str:
        return f"""  {name}:
    auth_type: admin_token
    auth:
      endpoint: http://{HOST}:{ports.nova_api}/v2.1
      token: "{token}"
    compute_endpoint_override: http://{HOST}:{ports.nova_api}/v2.1
    image_endpoint_override: http://{HOST}:{ports.glance}
    placement_endpoint_override: http://{HOST}:{ports.placement}
    placement_api_version: "1.39"
    region_name: RegionOne
    hvroll_host_facts: {facts_file}
"""
    return ("# hvroll Nova lab; clouds.yaml format of openstacksdk\nclouds:\n"
            + cloud("hvroll-lab", ADMIN_TOKEN) + cloud("hvroll-lab-tenant", TENANT_TOKEN))
