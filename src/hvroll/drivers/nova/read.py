"""Reading a cloud through openstacksdk into plain records (:mod:`.discovery` translates them).

Every list pages through the API (openstacksdk follows Nova's ``next`` links), so a cloud of
any size is read whole. Image properties are read once per image.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hvroll.drivers.nova.connect import (
    DISCOVERY_MICROVERSION,
    negotiate,
    offered_microversions,
    quiet_sdk,
    translate,
)
from hvroll.drivers.nova.discovery import RawCloud, RawGroup, RawHost, RawServer, cpu_info_of
from hvroll.errors import DriverError

PAGE_SIZE = 100
"""Servers asked of Nova per request (Nova caps it at its ``[api] max_limit``, 1000)."""


def read_cloud(conn: Any, *, region: str | None = None, page_size: int = PAGE_SIZE,
               on_progress: Callable[[str, int], None] | None = None,
               traits: bool = False) -> RawCloud:
    """Hosts, servers of all projects (``page_size`` a request, every page followed) and
    server groups of the cloud behind ``conn``; ``on_progress(what, count)`` after hosts,
    after each page of servers and after server groups. ``traits``: read each hypervisor's
    placement traits too (the host-facts file matches profiles on them)."""
    note = on_progress or (lambda _what, _n: None)
    name = getattr(conn.config, "name", None) or "(unnamed)"
    negotiate(name, offered_microversions(conn, name), DISCOVERY_MICROVERSION, "discovery")
    with quiet_sdk():
        try:
            return _read(conn, region, page_size, note, traits)
        except DriverError:
            raise
        except Exception as exc:
            raise translate(exc, "reading the cloud") from exc


def _read(conn: Any, region: str | None, page_size: int,
          note: Callable[[str, int], None], traits: bool) -> RawCloud:
    cloud = RawCloud(region=region or conn.config.region_name or "RegionOne")
    services = {s.host: s for s in conn.compute.services(binary="nova-compute")}
    aggregates: dict[str, list[str]] = {}
    for agg in conn.compute.aggregates():
        for h in agg.hosts or ():
            aggregates.setdefault(h, []).append(agg.name)
    cpu_infos = _cpu_infos(conn)
    for hyp in conn.compute.hypervisors(details=True):
        svc_host = (hyp.service_details or {}).get("host") or hyp.name
        svc = services.get(svc_host)
        inventories = {}
        try:
            for inv in conn.placement.resource_provider_inventories(hyp.id):
                inventories[inv.resource_class] = {"total": inv.total,
                                                   "allocation_ratio": inv.allocation_ratio,
                                                   "reserved": inv.reserved}
        except Exception:  # a cloud without placement access: capacity unknown
            inventories = {}
        cloud.hosts.append(RawHost(
            name=svc_host, zone=(svc.availability_zone if svc else "") or "",
            state=svc.state if svc else "unknown", status=svc.status if svc else "unknown",
            disabled_reason=svc.disabled_reason if svc else None,
            hypervisor_type=hyp.hypervisor_type,
            hypervisor_version=int(hyp.hypervisor_version) if hyp.hypervisor_version else None,
            cpu_info=cpu_info_of(hyp.cpu_info) or cpu_infos.get(str(hyp.id), {}),
            inventories=inventories,
            aggregates=tuple(aggregates.get(svc_host, ())),
            traits=provider_traits(conn, str(hyp.id)) if traits else ()))
    note("hosts", len(cloud.hosts))
    images: dict[str, dict[str, str]] = {}
    for server in conn.compute.servers(details=True, all_projects=True, limit=page_size):
        cloud.servers.append(_server(conn, server, images))
        if len(cloud.servers) % page_size == 0:
            note("servers", len(cloud.servers))
    if not cloud.servers or len(cloud.servers) % page_size:
        note("servers", len(cloud.servers))
    for g in conn.compute.server_groups(all_projects=True):
        cloud.groups.append(RawGroup(id=g.id, name=g.name or g.id,
                                     policy=g.policy or (g.policies or [""])[0],
                                     members=tuple(g.member_ids or ())))
    note("server groups", len(cloud.groups))
    return cloud


TRAITS_MICROVERSION = "1.6"
"""Placement's first microversion with resource provider traits (Pike)."""


def provider_traits(conn: Any, provider: str) -> tuple[str, ...]:
    """The placement traits of resource provider ``provider`` (a compute node's is its
    hypervisor's ID from compute microversion 2.53); errors propagate (a host-facts file
    that matches on traits cannot name a host without them)."""
    response = conn.placement.get(f"/resource_providers/{provider}/traits",
                                  microversion=TRAITS_MICROVERSION)
    response.raise_for_status()
    return tuple(sorted(str(t) for t in response.json().get("traits", [])))


def _cpu_infos(conn: Any) -> dict[str, dict[str, Any]]:
    """Each hypervisor's ``cpu_info`` by ID: Nova dropped it from ``os-hypervisors`` at
    microversion 2.88, so it is asked at 2.87 (the newest that has it)."""
    try:
        response = conn.compute.get("/os-hypervisors/detail", microversion="2.87")
        response.raise_for_status()
        items = response.json().get("hypervisors", [])
    except Exception:  # a cloud older than 2.53 or without the field: CPU left unknown
        return {}
    return {str(h.get("id")): cpu_info_of(h.get("cpu_info")) for h in items}


def _server(conn: Any, server: Any, images: dict[str, dict[str, str]]) -> RawServer:
    flavor = server.flavor
    image_id = (server.image or {}).get("id") if server.image else None
    props: dict[str, str] | None
    if image_id:
        if image_id not in images:
            try:
                image = conn.image.get_image(image_id)
                images[image_id] = {k: str(v) for k, v in (image.properties or {}).items()}
                for key in ("os_distro", "os_version", "os_type"):
                    value = getattr(image, key, None)
                    if value:
                        images[image_id][key] = str(value)
            except Exception:  # a deleted image: guest unknown
                images[image_id] = {}
        props = images[image_id]
    else:
        props = None
    actions = sorted(((a.action, a.start_time or "") for a in
                      conn.compute.server_actions(server.id)), key=lambda a: a[1])
    return RawServer(
        id=server.id, name=server.name or server.id, host=server.compute_host,
        project_id=server.project_id or "", status=server.status or "",
        power_state=server.power_state, vcpus=int(flavor.vcpus or 0),
        ram_mib=int(flavor.ram or 0), disk_gib=int(flavor.disk or 0),
        extra_specs={k: str(v) for k, v in (flavor.extra_specs or {}).items()},
        image_properties=props,
        volumes=tuple(v["id"] for v in (server.attached_volumes or ())),
        config_drive=str(server.config_drive or "").lower() in ("true", "1", "yes"),
        actions=tuple(actions))
