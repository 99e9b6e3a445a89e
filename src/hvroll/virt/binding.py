"""libvirt-python, loaded once: the binding, its QEMU companion, and connections with libvirt's
errors turned into ours.

The binding is imported on first use, so the rest of hvroll works on a machine without
libvirt-python until something actually asks libvirt. libvirt prints every error to stderr
by default; the handler is replaced once, here, because our errors carry the message instead.
"""

from __future__ import annotations

import atexit
import importlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache
from typing import Any

from hvroll.errors import ConnectionLostError, InputError

MISSING = ("libvirt-python is not installed (expected the 'libvirt-python' package, built "
           "against Debian's libvirt-dev and pkg-config; see the README's set-up)")

cpu_api_lock = threading.Lock()
"""Held around every call on :func:`cpu_api` (one connection shared by threads)."""


def _quiet(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr by default; ours carry the message instead."""


@cache
def libvirt_module() -> Any:
    """The ``libvirt`` binding, with its stderr error printing turned off (once)."""
    try:
        module = importlib.import_module("libvirt")
    except ImportError as exc:
        raise InputError(MISSING) from exc
    module.registerErrorHandler(_quiet, None)
    return module


@cache
def qemu_module() -> Any:
    """``libvirt_qemu`` (QEMU monitor commands), which comes with the binding."""
    libvirt_module()
    return importlib.import_module("libvirt_qemu")


@cache
def cpu_api() -> Any:
    """An in-process ``test:///default`` connection: libvirt's CPU API (``baselineCPU``,
    ``getCPUModelNames``) over the installed cpu_map, with no daemon. Shared; call it under
    :data:`cpu_api_lock`."""
    conn = libvirt_module().open("test:///default")
    # Close it before the interpreter tears libvirt's module down (else its __del__ fails).
    atexit.register(conn.close)
    return conn


def version_string(number: int) -> str:
    """libvirt's packed versions: ``7002022`` → ``7.2.22``, ``9000000`` → ``9.0.0``."""
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def host_versions(conn: Any) -> tuple[str, str]:
    """(QEMU, libvirt) versions a daemon reports."""
    return version_string(conn.getVersion()), version_string(conn.getLibVersion())


def try_open(uri: str) -> Any | None:
    """A connection, or None if the daemon does not answer."""
    libvirt = libvirt_module()
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError:
        return None


@contextmanager
def connection(uri: str, *, host: str | None = None,
               advice: str = "check that libvirtd runs there") -> Iterator[Any]:
    """A connection to ``uri``, closed on exit.

    Raises ``ConnectionLostError`` (with ``advice`` on what to do) if the daemon does not
    answer."""
    libvirt = libvirt_module()
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise ConnectionLostError(
            f"libvirtd does not answer at {uri} ({exc.get_error_message()}); {advice}",
            host=host,
        ) from exc
    try:
        yield conn
    finally:
        close_quietly(conn)


def close_quietly(conn: Any | None) -> None:
    """Close a connection, ignoring libvirt's errors (it may be dead already)."""
    if conn is not None:
        with suppress(libvirt_module().libvirtError):
            conn.close()
