"""Opening an openstacksdk connection the way operators expect, with errors in one line.

The cloud comes from ``clouds.yaml`` by the standard conventions (``OS_CLIENT_CONFIG_FILE``,
``./clouds.yaml``, ``~/.config/openstack/clouds.yaml``, ``/etc/openstack/clouds.yaml``) or an
explicit file. A missing file or an unknown cloud is bad input (``InputError``, exit 2); an
endpoint that does not answer, or refuses the credentials, is a runtime failure
(``DriverError``, exit 1), and so is a Nova whose API is older than what hvroll needs
(:func:`negotiate`, pure, on the range of microversions the cloud announces).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hvroll.errors import ConnectionLostError, DriverError, InputError

Microversion = tuple[int, int]

DRIVER_MICROVERSION: Microversion = (2, 24)
"""What the nova driver needs: a live migration's progress (``GET /servers/{id}/migrations``,
2.23), force-complete (2.22) and abort (2.24). Nova Mitaka (13.0) and later."""
COLD_MIGRATION_MICROVERSION: Microversion = (2, 56)
"""A cold migration to a named host (``migrate`` with ``host``). Nova Queens (17.0) and later."""
DISCOVERY_MICROVERSION: Microversion = (2, 53)
"""What discovery needs: servers that embed their flavor (2.47) and hypervisors named by the
UUID of their placement resource provider (2.53). Nova Pike (16.0) and later."""

_SDK_NOISE = "Support for InfluxDB requires the influxdb library"
"""openstacksdk 4.22 warns about InfluxDB on every connection, configured or not."""


@contextmanager
def quiet_sdk() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_SDK_NOISE)
        yield


def config_files(config_file: Path | None) -> list[str]:
    """The ``clouds.yaml`` files openstacksdk would read, an explicit one first."""
    if config_file is not None:
        if not config_file.is_file():
            raise InputError(f"{config_file}: no such clouds.yaml")
        return [str(config_file)]
    env = os.environ.get("OS_CLIENT_CONFIG_FILE")
    if env:
        if not Path(env).is_file():
            raise InputError(f"OS_CLIENT_CONFIG_FILE={env}: no such file (point it at your "
                             "clouds.yaml, or unset it to use ./clouds.yaml or "
                             "~/.config/openstack/clouds.yaml)")
        return [env]
    return []


def connect(cloud: str | None, *, region: str | None = None,
            config_file: Path | None = None) -> Any:
    """A connection to ``cloud`` (``OS_CLOUD`` if None); nothing is asked of the cloud yet."""
    import openstack
    import openstack.config
    from openstack import exceptions as sdk_exc

    name = cloud or os.environ.get("OS_CLOUD")
    if not name:
        raise InputError("no cloud named: pass --cloud NAME or set OS_CLOUD")
    files = config_files(config_file)
    with quiet_sdk():
        try:
            config = openstack.config.OpenStackConfig(
                config_files=files or None, load_envvars=False)
            region_cfg = config.get_one(cloud=name, region_name=region)
        except sdk_exc.ConfigException as exc:
            known = ", ".join(sorted(config.get_cloud_names())) if "config" in dir() else ""
            where = files[0] if files else "any clouds.yaml (OS_CLIENT_CONFIG_FILE, "\
                "./clouds.yaml, ~/.config/openstack/, /etc/openstack/)"
            raise InputError(f"cloud {name!r} is not in {where}"
                             + (f" (expected one of: {known})" if known else "")
                             + f": {exc}") from exc
        return openstack.connection.Connection(config=region_cfg)


def cloud_extra(conn: Any, key: str) -> Any:
    """A key of the cloud's ``clouds.yaml`` entry that openstacksdk does not use itself."""
    return conn.config.config.get(key)


def translate(exc: Exception, what: str, *, host: str | None = None) -> DriverError:
    """An openstacksdk/keystoneauth error as hvroll's, naming ``what`` was being done."""
    from keystoneauth1 import exceptions as ks_exc
    from openstack import exceptions as sdk_exc

    if isinstance(exc, ks_exc.ConnectFailure | ks_exc.ConnectTimeout | ks_exc.DiscoveryFailure):
        return ConnectionLostError(f"{what}: the cloud's endpoint does not answer ({exc}): "
                                   "check the endpoint in clouds.yaml and that nova-api runs",
                                   host=host)
    if isinstance(exc, ks_exc.Unauthorized) or (
            isinstance(exc, sdk_exc.HttpException) and exc.status_code == 401):
        return DriverError(f"{what}: the cloud refused the credentials (401): check the "
                           "cloud's auth in clouds.yaml", host=host)
    if isinstance(exc, sdk_exc.HttpException):
        detail = (exc.details or str(exc)).strip().splitlines()
        return DriverError(f"{what}: {exc.status_code} {detail[0] if detail else ''}".strip(),
                           host=host)
    return DriverError(f"{what}: {type(exc).__name__}: {exc}", host=host)


def version_text(version: Microversion) -> str:
    return f"{version[0]}.{version[1]}"


def negotiate(cloud: str, offered: tuple[Microversion, Microversion], needed: Microversion,
              purpose: str) -> Microversion:
    """The microversion to use with a Nova that offers ``offered`` (min, max): the newest it
    has, when that is at least ``needed``; otherwise ``DriverError`` in one line saying which
    and what to do."""
    low, high = offered
    if high < needed:
        raise DriverError(
            f"cloud {cloud}: Nova's API offers microversions {version_text(low)} to "
            f"{version_text(high)}, {purpose} needs {version_text(needed)} or later: upgrade "
            "Nova's API services (nova-api) first, or check that the compute endpoint in "
            "clouds.yaml is the cloud's current one")
    return high


def offered_microversions(conn: Any, cloud: str) -> tuple[Microversion, Microversion]:
    """The range of compute microversions the cloud announces (its version document);
    a Nova without microversions (v2.0) offers (2, 0) to (2, 0)."""
    with quiet_sdk():
        try:
            data = conn.compute.get_endpoint_data()
        except Exception as exc:
            raise translate(exc, f"cloud {cloud}: asking Nova's API version") from exc
    if data is None:
        raise ConnectionLostError(f"cloud {cloud}: asking Nova's API version: the compute "
                                  "endpoint does not answer with a version document")
    low = tuple(data.min_microversion or (2, 0))
    high = tuple(data.max_microversion or (2, 0))
    return (int(low[0]), int(low[1])), (int(high[0]), int(high[1]))
