"""Give every server of a Nova lab an IP address in its network info cache, as Neutron would
have (the lab's Neutron stub has no ports): ``python addresses.py CONFIG_FILE...`` with the
lab's Nova environment. Prints ``{server uuid: address}`` as JSON."""

from __future__ import annotations

import json
import sys

from nova import config, context, objects
from nova.network import model as network_model


def main() -> int:
    args = ["addresses"]
    for conf in sys.argv[1:]:
        args += ["--config-file", conf]
    config.parse_args(args)
    objects.register_all()
    ctx = context.get_admin_context()
    found = {}
    instances = objects.InstanceList.get_by_filters(ctx, {"deleted": False},
                                                    sort_key="display_name", sort_dir="asc")
    for n, instance in enumerate(instances):
        address = f"10.0.0.{10 + n}"
        vif = network_model.VIF(
            id=f"00000000-0000-4000-8000-{n:012d}", address=f"fa:16:3e:00:00:{n:02x}",
            network=network_model.Network(id="net", label="private", subnets=[
                network_model.Subnet(cidr="10.0.0.0/24", ips=[
                    network_model.FixedIP(address=address)])]))
        cache = objects.InstanceInfoCache.get_by_instance_uuid(ctx, instance.uuid)
        cache.network_info = network_model.NetworkInfo([vif])
        cache.save()
        found[instance.uuid] = address
    print(json.dumps(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
