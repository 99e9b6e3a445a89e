"""List the servers of a Nova cell database as JSON (stdlib only, any release's schema):
``python servers.py CELL_SQLITE``. Deleted servers are left out, like the API does."""

from __future__ import annotations

import json
import sqlite3
import sys


def main() -> int:
    db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT i.uuid, i.display_name, i.host, i.vm_state, c.network_info FROM instances i "
        "LEFT JOIN instance_info_caches c ON c.instance_uuid = i.uuid WHERE i.deleted = 0 "
        "ORDER BY i.uuid").fetchall()
    servers = []
    for uuid, name, host, state, network_info in rows:
        addresses: dict[str, list[str]] = {}
        for vif in json.loads(network_info or "[]"):
            label = vif.get("network", {}).get("label", "")
            for subnet in vif.get("network", {}).get("subnets", []):
                addresses.setdefault(label, []).extend(ip["address"]
                                                       for ip in subnet.get("ips", []))
        servers.append({"id": uuid, "name": name, "host": host, "status": state,
                        "addresses": addresses})
    print(json.dumps(servers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
