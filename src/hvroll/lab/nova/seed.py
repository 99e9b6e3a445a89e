"""What ``up`` creates in the fresh cloud: flavors, images, one anti-affinity server group and
M servers spread over the computes, in two projects. Everything through openstacksdk, as an
operator's script would."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hvroll.drivers.nova import connect as nova_connect
from hvroll.errors import DriverError
from hvroll.lab.nova import qemu
from hvroll.lab.nova.layout import Layout

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FlavorSpec:
    name: str
    vcpus: int
    ram_mib: int
    disk_gib: int
    extra_specs: dict[str, str]


@dataclass(frozen=True, slots=True)
class ImageSpec:
    name: str
    properties: dict[str, str]


FLAVORS = (
    FlavorSpec("hvlab.tiny", 1, 256, 1, {}),
    FlavorSpec("hvlab.small", 1, 512, 2, {"hw:mem_page_size": "any"}),
    FlavorSpec("hvlab.medium", 2, 1024, 4, {"hw_rng:allowed": "True", "quota:cpu_shares": "512"}),
)
IMAGES = (
    ImageSpec("ubuntu-22.04", {"os_distro": "ubuntu", "os_version": "22.04", "os_type": "linux",
                               "hw_disk_bus": "virtio", "hw_qemu_guest_agent": "yes"}),
    ImageSpec("centos-7", {"os_distro": "centos", "os_version": "7", "os_type": "linux"}),
    ImageSpec("windows-2019", {"os_distro": "windows", "os_version": "2019",
                               "os_type": "windows", "hw_machine_type": "pc"}),
    ImageSpec("unlabelled", {}),
)
GROUP = "hvlab-anti"


def connect(layout: Layout, cloud: str = "hvroll-lab") -> Any:
    """An openstacksdk connection to the lab through its own ``clouds.yaml``."""
    return nova_connect.connect(cloud, config_file=layout.clouds_yaml)


def wait(what: str, check: Callable[[], bool], timeout_s: float, poll_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise DriverError(f"the Nova lab: {what} not reached within {timeout_s:.0f} s")
        time.sleep(poll_s)


def wait_progress(what: str, done: Callable[[], int], target: int, stall_s: float,
                  poll_s: float = 2.0, clock: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], None] = time.sleep) -> None:
    """Until ``done()`` counts ``target``; raises once the count has not grown for ``stall_s``.

    A loaded machine makes the lab slow, not broken: a build of many servers one compute
    works through in turn is judged by whether it still moves, not by a total time.
    ``done`` may return less than before (a failed request read as 0): only a count above the
    best seen restarts the stall's clock.
    """
    best, since = -1, clock()
    while True:
        count = done()
        if count >= target:
            return
        if count > best:
            best, since = count, clock()
        elif clock() - since > stall_s:
            raise DriverError(f"the Nova lab: {what}: {max(best, 0)} of {target} after "
                              f"{stall_s:.0f} s without progress")
        sleep(poll_s)


def wait_computes(conn: Any, hosts: list[str], timeout_s: float,
                  alive: Callable[[], None], discover: Callable[[], object]) -> None:
    """Until every compute's service is up and enabled, then until its hypervisor is listed,
    calling ``discover`` (``nova-manage cell_v2 discover_hosts``) before each look;
    ``alive`` raises if a lab process died meanwhile.

    Nova lists a hypervisor only once its host is mapped to its cell. The scheduler maps new
    hosts itself (``discover_hosts_in_cells_interval``), but its periodic tasks start after
    a random delay of up to ``periodic_fuzzy_delay`` (60 s): waiting for it cost a lab start
    up to a minute (35 s seen) after the computes were up."""
    def names(listing: Any) -> set[str]:
        try:
            return set(listing())
        except Exception:
            return set()

    def up() -> bool:
        alive()
        return set(hosts) <= names(lambda: (
            s.host for s in conn.compute.services(binary="nova-compute")
            if s.state == "up" and s.status == "enabled"))

    def listed() -> bool:
        alive()
        discover()
        return set(hosts) <= names(lambda: (h.name for h in conn.compute.hypervisors()))

    start = time.monotonic()
    wait(f"computes {', '.join(hosts)} up", up, timeout_s, poll_s=1.0)
    wait(f"computes {', '.join(hosts)} listed as hypervisors", listed,
         max(timeout_s - (time.monotonic() - start), 1.0), poll_s=1.0)


def create_flavors(conn: Any) -> dict[str, Any]:
    out = {}
    for spec in FLAVORS:
        flavor = conn.compute.create_flavor(name=spec.name, vcpus=spec.vcpus, ram=spec.ram_mib,
                                            disk=spec.disk_gib)
        if spec.extra_specs:
            conn.compute.create_flavor_extra_specs(flavor, spec.extra_specs)
        out[spec.name] = flavor
    return out


def create_images(conn: Any) -> dict[str, Any]:
    out = {}
    for spec in IMAGES:
        image = conn.image.create_image(name=spec.name, disk_format="raw",
                                        container_format="bare", visibility="public",
                                        data=b"\0" * 4096, **spec.properties)
        out[spec.name] = image
    return out


def create_canary_images(conn: Any, kernel: Path, initrd: Path) -> dict[str, Any]:
    """The canary kernel and ramdisk in glance, and one root-disk image per dirtier setting
    that boots them (real bytes: Nova downloads all three to each compute that runs one)."""
    aki = conn.image.create_image(name="canary-kernel", disk_format="aki",
                                  container_format="aki", visibility="public",
                                  data=kernel.read_bytes())
    ari = conn.image.create_image(name="canary-ramdisk", disk_format="ari",
                                  container_format="ari", visibility="public",
                                  data=initrd.read_bytes())
    out = {}
    for spec in qemu.image_specs(str(aki.id), str(ari.id)):
        out[spec["name"]] = conn.image.create_image(data=b"\0" * qemu.ROOT_DISK_BYTES, **spec)
    return out


def create_canary_servers(admin: Any, hosts: list[str], count: int, kernel: Path,
                          initrd: Path, timeout_s: float, *, hot: bool = True) -> list[str]:
    """``count`` canary servers round-robin over ``hosts`` (forced with ``nova:HOST``), their
    dirtier settings from :func:`qemu.kind_for`; returns their IDs once all are ACTIVE."""
    flavor = (admin.compute.find_flavor(qemu.CANARY_FLAVOR)
              or admin.compute.create_flavor(**qemu.flavor_spec()))
    images = {k.name: admin.image.find_image(k.name) for k in qemu.KINDS}
    if not all(images.values()):
        images = create_canary_images(admin, kernel, initrd)
    ids = []
    for i in range(count):
        kind = qemu.kind_for(i, count, hot=hot)
        ids.append(admin.compute.create_server(
            name=f"{kind.name}-{i + 1:02d}", flavor_id=flavor.id,
            image_id=images[kind.name].id, networks="none",
            availability_zone=f"nova:{hosts[i % len(hosts)]}").id)
    _wait_active(admin, ids, timeout_s)
    return ids


def _wait_active(admin: Any, ids: list[str], timeout_s: float) -> None:
    def all_active() -> bool:
        servers = {s.id: s for s in admin.compute.servers(all_projects=True)}
        for i in ids:
            if i in servers and servers[i].status == "ERROR":
                fault = (servers[i].fault or {}).get("message", "no fault recorded")
                raise DriverError(f"the Nova lab: server {i} went to ERROR while booting "
                                  f"({fault})")
        return all(i in servers and servers[i].status == "ACTIVE" for i in ids)
    wait(f"{len(ids)} servers ACTIVE", all_active, timeout_s, poll_s=1.0)


def create_servers(admin: Any, tenant: Any, hosts: list[str], count: int,
                   timeout_s: float) -> tuple[list[str], str]:
    """``count`` servers: the admin's round-robin over ``hosts`` (forced with ``nova:HOST``),
    every third one a project member's placed by the scheduler; a mix of flavors, images and
    config drives; the first two in an anti-affinity group.
    Returns the server IDs and the group's ID."""
    flavors = create_flavors(admin)
    images = create_images(admin)
    group = admin.compute.create_server_group(name=GROUP, policy="anti-affinity")
    flavor_list, image_list = list(flavors.values()), list(images.values())
    ids = []
    placed = 0
    for i in range(count):
        own = i % 3 == 2  # a project member's server, placed by the scheduler
        conn = tenant if own else admin
        kwargs: dict[str, Any] = {
            "name": f"vm-{i + 1:02d}", "flavor_id": flavor_list[i % len(flavor_list)].id,
            "image_id": image_list[i % len(image_list)].id, "networks": "none",
        }
        if not own:
            kwargs["availability_zone"] = f"nova:{hosts[placed % len(hosts)]}"
            placed += 1
        if i % 4 == 3:
            kwargs["config_drive"] = True
        if i < min(2, len(hosts) - 1):
            kwargs["scheduler_hints"] = {"group": group.id}
        ids.append(conn.compute.create_server(**kwargs).id)

    def all_active() -> bool:
        states = {s.id: s.status for s in admin.compute.servers(all_projects=True)}
        failed = [i for i in ids if states.get(i) == "ERROR"]
        if failed:
            raise DriverError(f"the Nova lab: server {failed[0]} went to ERROR while booting")
        return all(states.get(i) == "ACTIVE" for i in ids)
    wait(f"{count} servers ACTIVE", all_active, timeout_s, poll_s=1.0)
    return ids, str(group.id)
