"""``hvroll fleet discover`` against a real Nova (the lab; marker ``nova``)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from hvroll.domain import GuestOsFamily
from hvroll.inventory import load_fleet
from hvroll.lab import nova
from hvroll.lab.nova.layout import Layout
from hvroll.lab.nova.seed import connect, wait

pytestmark = pytest.mark.nova
LAB_COMPUTES = 3
LAB_SERVERS = 6


def discover(hv: Any, lab: Any, out: Path, *extra: str, clouds: Path | None = None) -> Any:
    return hv("fleet", "discover", "--cloud", "hvroll-lab", "-o", str(out), *extra,
              env={"OS_CLIENT_CONFIG_FILE": str(clouds or lab.clouds_yaml)})


def test_discovered_inventory_is_novas_view(hv: Any, nova_lab: Any, tmp_path: Path) -> None:
    out = tmp_path / "f.yaml"
    result = discover(hv, nova_lab, out)
    assert result.code == 0, result.output
    fleet = load_fleet(out)
    conn = connect(Layout(nova_lab.workdir))
    servers = {s.id: s for s in conn.compute.servers(all_projects=True)}
    assert sorted(h.name for h in fleet.hosts) == ["compute1", "compute2", "compute3"]
    assert {h.profile for h in fleet.hosts} == {"CPv1"}
    assert {p.name for p in fleet.profiles} == {"CPv1", "CPv2"}
    assert {(h.vcpus, h.ram_mib, h.cpu_allocation_ratio) for h in fleet.hosts} == {
        (32, 65536, 4.0)}
    assert {v.uuid: v.host for v in fleet.vms} == {i: s.compute_host for i, s in servers.items()}
    by_name = fleet.vm_by_name
    assert by_name["vm-03"].guest.family is GuestOsFamily.WINDOWS
    assert (by_name["vm-01"].guest.distro, by_name["vm-01"].guest.version) == ("ubuntu", "22.04")
    assert by_name["vm-04"].guest.family is GuestOsFamily.OTHER
    assert by_name["vm-04"].devices.config_drive.value == "iso9660"
    assert {v.name for v in fleet.vms if v.server_group} == {"vm-01", "vm-02"}
    assert len({v.tenant for v in fleet.vms}) == 2
    assert "wrote" in result.output


def test_live_migrations_since_the_last_power_cycle_are_counted(hv: Any,
        nova_lab: Any, tmp_path: Path) -> None:
    conn = connect(Layout(nova_lab.workdir))
    nova.set_knob(nova_lab.workdir, "lm_seconds", "0")
    server = next(s for s in conn.compute.servers(all_projects=True) if s.name == "vm-05")
    conn.compute.live_migrate_server(server, host=None, block_migration=False)

    def done() -> bool:
        migs = list(conn.compute.migrations(server_id=server.id))
        return bool(migs) and migs[0].status == "completed"
    wait("vm-05 migrated", done, 120.0)
    out = tmp_path / "f.json"
    assert discover(hv, nova_lab, out).code == 0
    vms = load_fleet(out).vm_by_name
    assert vms["vm-05"].history.live_migrations_since_power_cycle == 1
    assert vms["vm-05"].history.last_power_cycle is not None
    assert vms["vm-06"].history.live_migrations_since_power_cycle == 0


def test_an_unknown_cloud_is_one_line_exit_2_and_no_file(hv: Any, nova_lab: Any,
                                                         tmp_path: Path) -> None:
    out = tmp_path / "f.yaml"
    result = hv("fleet", "discover", "--cloud", "nope", "-o", str(out),
                env={"OS_CLIENT_CONFIG_FILE": str(nova_lab.clouds_yaml)})
    assert result.code == 2
    assert "cloud 'nope' is not in" in result.output
    assert not out.exists()


def test_a_missing_clouds_yaml_is_one_line_exit_2(hv: Any, tmp_path: Path) -> None:
    out = tmp_path / "f.yaml"
    result = hv("fleet", "discover", "--cloud", "x", "-o", str(out),
                env={"OS_CLIENT_CONFIG_FILE": str(tmp_path / "none.yaml")})
    assert result.code == 2
    assert "no such file" in result.output
    assert not out.exists()


def _clouds_with(lab: Any, tmp_path: Path, **auth: str) -> Path:
    doc = yaml.safe_load(lab.clouds_yaml.read_text())
    doc["clouds"]["hvroll-lab"]["auth"].update(auth)
    if "endpoint" in auth:
        doc["clouds"]["hvroll-lab"]["compute_endpoint_override"] = auth["endpoint"]
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_wrong_credentials_are_one_line_exit_1_and_no_file(hv: Any, nova_lab: Any,
                                                          tmp_path: Path) -> None:
    clouds = _clouds_with(nova_lab, tmp_path, token="mallory:admin")
    out = tmp_path / "f.yaml"
    result = discover(hv, nova_lab, out, clouds=clouds)
    assert result.code == 1, result.output
    assert "refused the credentials" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_an_unreachable_endpoint_is_one_line_exit_1(hv: Any, nova_lab: Any, tmp_path: Path) -> None:
    clouds = _clouds_with(nova_lab, tmp_path, endpoint="http://127.0.0.1:9/v2.1")
    out = tmp_path / "f.yaml"
    result = discover(hv, nova_lab, out, clouds=clouds)
    assert result.code == 1, result.output
    assert "does not answer" in result.output
    assert not out.exists()


def test_run_with_wrong_credentials_is_one_line_exit_1_and_writes_nothing(
        hv: Any, nova_lab: Any, tmp_path: Path) -> None:
    inventory = tmp_path / "tiny.yaml"  # the cloud is checked before the plan's fleet is used
    shutil.copy(Path(__file__).resolve().parents[3] / "docs" / "examples" / "tiny.yaml",
                inventory)
    plan = tmp_path / "p.json"
    assert hv("plan", str(inventory), "-t", "CPv2", "--no-hold", "-o", str(plan)).code == 0
    clouds = _clouds_with(nova_lab, tmp_path, token="mallory:admin")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = hv("run", str(plan), "--driver", "nova", "--cloud", "hvroll-lab", "--quiet",
                "--state", str(tmp_path / "c.db"), env={"OS_CLIENT_CONFIG_FILE": str(clouds)})
    assert result.code == 1, result.output
    assert result.stderr == ("error: cloud hvroll-lab: listing compute services: the cloud "
                             "refused the credentials (401): check the cloud's auth in "
                             "clouds.yaml\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
