"""Opening an openstacksdk connection the way operators expect, with errors in one line.

The cloud comes from ``clouds.yaml`` by the standard conventions (``OS_CLIENT_CONFIG_FILE``,
``./clouds.yaml``, ``~/.config/openstack/clouds.yaml``, ``/etc/openstack/clouds.yaml``) or an
explicit file. A missing file or an unknown cloud is bad input (``InputError``, exit 2); an
endpoint that does not answer, or refuses the credentials, is a runtime failure
(``DriverError``, exit 1).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hvroll.errors import ConnectionLostError, DriverError, InputError

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
            raise InputError(f"OS_CLIENT_CONFIG_FILE={env}: no such file")
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
        return ConnectionLostError(f"{what}: the cloud's endpoint does not answer ({exc})",
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
