"""Opening libvirt connections to testbed hosts, with libvirt's errors turned into ours.

The binding is imported on first use, so the rest of hvroll (and the testbed's pure parts) work
on a machine without libvirt-python.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache
from typing import Any

from hvroll.errors import ConnectionLostError, InputError


def _quiet(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr by default; ours carry the message instead."""


@cache
def libvirt_module() -> Any:
    """The ``libvirt`` binding, with its stderr error printing turned off."""
    try:
        module = importlib.import_module("libvirt")
    except ImportError as exc:
        raise InputError(
            "the testbed needs libvirt-python: pip install libvirt-python "
            "(it builds against the Debian packages libvirt-dev and pkg-config)"
        ) from exc
    module.registerErrorHandler(_quiet, None)
    return module


def version_string(number: int) -> str:
    """libvirt's packed versions: ``7002022`` → ``7.2.22``, ``9000000`` → ``9.0.0``."""
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def try_open(uri: str) -> Any | None:
    """A connection, or None if the daemon does not answer."""
    libvirt = libvirt_module()
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError:
        return None


@contextmanager
def connection(uri: str, *, host: str | None = None) -> Iterator[Any]:
    """A connection to ``uri``, closed on exit.

    Raises ``ConnectionLostError`` if the daemon does not answer."""
    libvirt = libvirt_module()
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
