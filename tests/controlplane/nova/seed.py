"""Create servers in a Nova cell database with Nova's own objects (run with a release's
virtual environment): ``python seed.py NOVA_CONF COUNT``. Each server gets a host, a state
and an IP address in its network info cache, as the API would list them."""

from __future__ import annotations

import sys
import uuid

from nova import config, context, objects
from nova.network import model as network_model


def main() -> int:
    conf, count = sys.argv[1], int(sys.argv[2])
    config.parse_args(["seed", "--config-file", conf])
    objects.register_all()
    ctx = context.get_admin_context()
    for n in range(count):
        vif = network_model.VIF(
            id=str(uuid.uuid4()), address=f"fa:16:3e:00:00:{n:02x}",
            network=network_model.Network(id="net", label="private", subnets=[
                network_model.Subnet(cidr="10.0.0.0/24", ips=[
                    network_model.FixedIP(address=f"10.0.0.{10 + n}")])]))
        instance = objects.Instance(
            context=ctx, uuid=str(uuid.uuid4()), project_id="tenant-a", user_id="alice",
            display_name=f"vm-{n}", host=f"compute{n % 3 + 1}", node=f"compute{n % 3 + 1}",
            vm_state="active" if n % 4 else "stopped", power_state=1 if n % 4 else 4,
            memory_mb=512, vcpus=1, root_gb=1, ephemeral_gb=0, instance_type_id=1,
            availability_zone="nova", launched_on=f"compute{n % 3 + 1}",
            compute_id=n % 3 + 1)
        instance.create()
        cache = objects.InstanceInfoCache(context=ctx, instance_uuid=instance.uuid,
                                          network_info=network_model.NetworkInfo([vif]))
        cache.save(update_cells=False)
    print(f"created {count} servers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
