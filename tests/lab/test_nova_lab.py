"""The Nova lab itself, against real Nova: up, status, reinstall, down (marker ``nova``).

Tests run in file order; the last one takes the lab down and checks nothing is left."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from hvroll.lab import nova
from hvroll.lab.nova import procs
from hvroll.lab.nova.layout import Layout, load_record
from hvroll.lab.nova.seed import connect

pytestmark = pytest.mark.nova
LAB_COMPUTES = 3
LAB_SERVERS = 6


def test_up_leaves_every_server_active_and_every_compute_used(nova_lab: Any) -> None:
    st = nova.status(nova_lab.workdir)
    assert st.healthy, st.as_dict()
    assert st.servers == {"ACTIVE": LAB_SERVERS}
    assert [c["host"] for c in st.computes] == ["compute1", "compute2", "compute3"]
    assert all(c["servers"] >= 1 for c in st.computes), st.computes


def test_up_creates_an_anti_affinity_group_whose_members_are_apart(
        nova_lab: Any) -> None:
    conn = connect(Layout(nova_lab.workdir))
    group = next(g for g in conn.compute.server_groups(all_projects=True)
                 if g.name == "hvlab-anti")
    assert group.policy == "anti-affinity"
    hosts = [conn.compute.get_server(m).compute_host for m in group.member_ids]
    assert len(hosts) == 2
    assert len(set(hosts)) == 2


def test_status_json_tells_each_computes_profile_and_version(nova_lab: Any, hv: Any) -> None:
    result = hv("lab", "nova", "status", "--workdir", str(nova_lab.workdir), "--json")
    assert result.code == 0, result.output
    data = json.loads(result.stdout)
    assert data["healthy"] is True
    assert {c["host"]: (c["profile"], c["hypervisor_version"]) for c in data["computes"]} == {
        f"compute{i}": ("CPv1", 2_000_000) for i in (1, 2, 3)}


def test_reinstall_brings_a_compute_to_the_new_profile_with_its_guests(
        nova_lab: Any, hv: Any) -> None:
    conn = connect(Layout(nova_lab.workdir))
    before = {s.id for s in conn.compute.servers(all_projects=True)
              if s.compute_host == "compute3"}
    result = hv("lab", "nova", "reinstall", "compute3", "--profile", "CPv2", "--workdir",
                str(nova_lab.workdir))
    assert result.code == 0, result.output
    hyp = next(h for h in conn.compute.hypervisors(details=True) if h.name == "compute3")
    assert hyp.hypervisor_version == 2_011_001
    after = {s.id: s.status for s in conn.compute.servers(all_projects=True)
             if s.compute_host == "compute3"}
    assert set(after) == before
    assert set(after.values()) <= {"ACTIVE"}
    assert load_record(Layout(nova_lab.workdir)).profiles["compute3"] == "CPv2"


def test_reinstall_of_an_unknown_host_exits_2_with_one_line(nova_lab: Any, hv: Any) -> None:
    result = hv("lab", "nova", "reinstall", "compute9", "--profile", "CPv2", "--workdir",
                str(nova_lab.workdir))
    assert result.code == 2
    assert result.stderr.count("\n") == 1
    assert "no compute 'compute9'" in result.stderr


def test_down_stops_every_process_and_frees_every_port(nova_lab: Any, hv: Any) -> None:
    record = load_record(Layout(nova_lab.workdir))
    services = list(record.services.values())
    result = hv("lab", "nova", "down", "--workdir", str(nova_lab.workdir))
    assert result.code == 0, result.output
    assert [s.name for s in services if procs.is_running(s)] == []
    assert [n for n, p in record.ports.items() if procs.port_open(p)] == []
    workdir = str(nova_lab.workdir)
    mine = [p for p in procs.group_members(s.pid for s in services)
            if procs.mentions(p, (workdir,))]
    assert mine == []
    # nor anything that left its process group (a daemon, such as an 'epmd -daemon' the
    # broker would have started): no process at all names the lab's directory
    everywhere = [int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit()]
    assert [p for p in everywhere if p != os.getpid() and procs.mentions(p, (workdir,))] == []
    assert not Path("~/.gunicorn").expanduser().exists()
