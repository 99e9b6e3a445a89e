"""Opening libvirt connections to testbed hosts, with libvirt's errors turned into ours."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import libvirt

from hvroll.errors import ConnectionLostError


def _quiet(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr by default; ours carry the message instead."""


libvirt.registerErrorHandler(_quiet, None)


def version_string(number: int) -> str:
    """libvirt's packed versions: ``7002022`` → ``7.2.22``, ``9000000`` → ``9.0.0``."""
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def try_open(uri: str) -> Any | None:
    """A connection, or None if the daemon does not answer."""
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError:
        return None


@contextmanager
def connection(uri: str, *, host: str | None = None) -> Iterator[Any]:
    """A connection to ``uri``, closed on exit.

    Raises ``ConnectionLostError`` if the daemon does not answer."""
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise ConnectionLostError(
            f"libvirtd does not answer at {uri} ({exc.get_error_message()}); "
            "run 'hvroll testbed status' or 'hvroll testbed up'",
            host=host,
        ) from exc
    try:
        yield conn
    finally:
        with suppress(libvirt.libvirtError):
            conn.close()
