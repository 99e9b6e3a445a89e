"""Runbooks per hop, against the whole expected list of steps."""

from __future__ import annotations

import pytest

from hvroll.controlplane.catalogue import Catalogue, shipped_catalogue
from hvroll.controlplane.path import Role, plan_path
from hvroll.controlplane.runbook import (
    Action,
    Deployment,
    Runbook,
    build_runbook,
    parse_deployment,
)
from hvroll.errors import InputError, InventoryError

DEPLOYMENT = """\
projects: [nova, placement]
bin: "/opt/nova-{to}/bin/"
backup_dir: "/var/backups/{hop}-{from}"
monitoring_patterns: patterns.txt
logs: ["/var/log/nova/*.log"]
commands:
  servers: "openstack server list --all-projects --long -f json"
  api_check: "openstack server list --limit 1"
  backup_db: "mysqldump --all-databases > {backup_dir}/db.sql"
  restore_db: "mysql < {backup_dir}/db.sql"
  backup_config: "tar czf {backup_dir}/etc.tgz /etc/nova"
  hook: "ansible-playbook upgrade.yml -e release={to} -e phase={phase}"
  stop: "systemctl stop nova-{phase}"
  start: "systemctl start nova-{phase}"
  pin_rpc: "crudini --set /etc/nova/nova.conf upgrade_levels compute auto"
  open_api: "lb-switch --to {to}"
  compute_os: "hvroll run computes-{os}.json --state computes-{os}.db"
"""


@pytest.fixture
def deployment() -> Deployment:
    return parse_deployment(DEPLOYMENT, "deployment.yaml")


def runbook(start: str, end: str, deployment: Deployment, roles: list[Role] | None = None,
            cat: Catalogue | None = None) -> Runbook:
    cat = cat or shipped_catalogue()
    return build_runbook(plan_path(cat, cat.release(start), cat.release(end), roles or []),
                         deployment)


def test_cold_hop_steps_in_order(deployment: Deployment) -> None:
    book = runbook("juno", "kilo", deployment)
    (hop,) = book.hops
    assert hop.kind == "cold"
    assert [(s.name, s.command) for s in hop.steps] == [
        ("snapshot-servers", "openstack server list --all-projects --long -f json"),
        ("stop-api", "systemctl stop nova-api"),
        ("stop", "systemctl stop nova-all"),
        ("backup-db", "mysqldump --all-databases > /var/backups/1-juno/db.sql"),
        ("backup-config", "tar czf /var/backups/1-juno/etc.tgz /etc/nova"),
        ("hook", "ansible-playbook upgrade.yml -e release=kilo -e phase=controllers"),
        ("migrate:nova.1", "/opt/nova-kilo/bin/nova-manage api_db sync"),
        ("migrate:nova.2", "/opt/nova-kilo/bin/nova-manage db sync"),
        ("check:nova", "/opt/nova-kilo/bin/nova-status upgrade check"),
        ("migrate:placement", "/opt/nova-kilo/bin/placement-manage db sync"),
        ("check:placement", "/opt/nova-kilo/bin/placement-status upgrade check"),
        ("start", "systemctl start nova-all"),
        ("online:nova", "/opt/nova-kilo/bin/nova-manage db online_data_migrations"),
        ("online:placement", "/opt/nova-kilo/bin/placement-manage db online_data_migrations"),
        ("verify-api", "openstack server list --limit 1"),
        ("verify-servers", "openstack server list --all-projects --long -f json"),
        ("verify-logs", ""),
        ("point-of-no-return", ""),
        ("open-api", "lb-switch --to kilo"),
    ]
    assert [s.name for s in hop.steps if s.gate] == [
        "check:nova", "check:placement", "verify-api", "verify-servers", "verify-logs"]
    assert [s.after_point_of_no_return for s in hop.steps].index(True) == 18
    online = hop.steps[12]
    assert (online.action, online.again_exit, online.max_runs) == (Action.REPEAT, 1, 20)


def test_rollback_restores_the_dump_and_the_old_release(deployment: Deployment) -> None:
    (hop,) = runbook("juno", "kilo", deployment).hops
    assert [(s.id, s.command) for s in hop.rollback] == [
        ("h1.rollback.stop", "systemctl stop nova-all"),
        ("h1.rollback.restore-db", "mysql < /var/backups/1-juno/db.sql"),
        ("h1.rollback.hook", "ansible-playbook upgrade.yml -e release=juno -e phase=controllers"),
        ("h1.rollback.start", "systemctl start nova-all"),
        ("h1.rollback.verify-api", "openstack server list --limit 1"),
        ("h1.rollback.verify-servers", "openstack server list --all-projects --long -f json"),
        ("h1.rollback.open-api", "lb-switch --to juno"),
    ]


def test_rolling_hop_order(deployment: Deployment) -> None:
    (hop,) = runbook("2025.1", "2025.2", deployment).hops
    assert hop.kind == "rolling"
    assert [s.name for s in hop.steps] == [
        "snapshot-servers", "backup-db", "backup-config", "pin-rpc", "hook", "migrate:nova.1",
        "migrate:nova.2", "check:nova", "migrate:placement", "check:placement",
        "restart:conductor", "restart:scheduler", "restart:api", "verify-api",
        "verify-servers", "verify-logs", "point-of-no-return", "hook:computes",
        "online:nova", "online:placement"]
    assert hop.steps[10].command == "systemctl stop nova-conductor && systemctl start " \
                                    "nova-conductor"
    assert hop.steps[17].command == "ansible-playbook upgrade.yml -e release=2025.2 -e " \
                                    "phase=computes"


def test_skip_level_hop_runs_the_target_release_tools(deployment: Deployment) -> None:
    (hop,) = runbook("2025.1", "2026.1", deployment).hops
    assert (hop.kind, hop.title) == ("skip-level (rolling)", "2025.1 (epoxy) → 2026.1 (gazpacho)")
    assert hop.steps[5].command == "/opt/nova-2026.1/bin/nova-manage api_db sync"


def test_os_hop_is_a_campaign_then_verification(deployment: Deployment) -> None:
    cat = shipped_catalogue()
    roles = [Role("computes", cat.parse_os("ubuntu-14.04"), cat.parse_os("ubuntu-16.04"))]
    book = runbook("mitaka", "newton", deployment, roles)
    assert [(h.kind, h.title) for h in book.hops] == [
        ("os", "computes → ubuntu-16.04"), ("rolling", "mitaka → newton")]
    assert [(s.name, s.command) for s in book.hops[0].steps] == [
        ("snapshot-servers", "openstack server list --all-projects --long -f json"),
        ("os", "hvroll run computes-ubuntu-16.04.json --state computes-ubuntu-16.04.db"),
        ("verify-api", "openstack server list --limit 1"),
        ("verify-servers", "openstack server list --all-projects --long -f json")]


def test_os_hop_without_a_command_is_refused(deployment: Deployment) -> None:
    cat = shipped_catalogue()
    roles = [Role("controllers", cat.parse_os("ubuntu-14.04"), cat.parse_os("ubuntu-16.04"))]
    with pytest.raises(InputError) as info:
        runbook("mitaka", "newton", deployment, roles)
    assert str(info.value) == ("deployment: commands.controller_os is not set (expected a "
                               "command for hop 1: controllers → ubuntu-16.04)")


def test_step_ids_are_unique(deployment: Deployment) -> None:
    book = runbook("icehouse", "2026.2", deployment)
    ids = [s.id for s in book.steps]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("edit", "message"), [
    (("projects: [nova, placement]", "projects: [nova, swift]"),
     "deployment.yaml:1: project 'swift' has no known commands (expected one of: nova, "
     "placement, keystone, glance, cinder, neutron, or an entry in overrides)"),
    (('  hook: "ansible', '  hoook: "ansible'),
     "deployment.yaml:7: deployment is missing required key 'commands.hook'\n"
     "deployment.yaml:12: deployment has unknown key 'hoook' (expected one of: "),
])
def test_bad_deployment_lines(edit: tuple[str, str], message: str) -> None:
    with pytest.raises(InventoryError) as info:
        parse_deployment(DEPLOYMENT.replace(*edit), "deployment.yaml")
    assert str(info.value).startswith(message)
