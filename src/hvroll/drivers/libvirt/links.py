"""Connections to each host's libvirtd: opened on first use, reopened when the daemon went away.

The binding is imported on first use; its default event loop is registered once per process,
before the driver opens any connection, and run by a daemon thread. Events are what make two
facts observable at all: a migration's pass boundaries (``MIGRATION_ITERATION``) and, after a
post-copy migration with ``UNDEFINE_SOURCE``, its statistics (``JOB_COMPLETED``, delivered
only on the source's connection).

libvirt errors become :mod:`hvroll.errors` here: a daemon that does not answer is a
``ConnectionLostError`` (retryable), anything else an ``OperationFailedError`` naming the host
and what was being done.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from hvroll.errors import ConnectionLostError, DriverError, OperationFailedError
from hvroll.virt.binding import libvirt_module

T = TypeVar("T")
log = logging.getLogger(__name__)

_loop_lock = threading.Lock()
_loop_thread: threading.Thread | None = None


def libvirt_with_events() -> Any:
    """The ``libvirt`` module, with its default event loop running (started once)."""
    lv = libvirt_module()
    global _loop_thread
    with _loop_lock:
        if _loop_thread is None:
            lv.virEventRegisterDefaultImpl()
            _loop_thread = threading.Thread(target=_run_event_loop, args=(lv,),
                                            name="libvirt-events", daemon=True)
            _loop_thread.start()
    return lv


def _run_event_loop(lv: Any) -> None:
    while True:
        try:
            lv.virEventRunDefaultImpl()
        except Exception:  # keep dispatching: one bad callback must not stop every event
            log.exception("libvirt_event_loop_error")


def lost_connection_codes(lv: Any) -> frozenset[int]:
    """Error codes that mean the daemon cannot be talked to (rather than refused a request)."""
    return frozenset({lv.VIR_ERR_NO_CONNECT, lv.VIR_ERR_INVALID_CONN, lv.VIR_ERR_RPC,
                      lv.VIR_ERR_AUTH_FAILED, lv.VIR_ERR_AUTH_UNAVAILABLE})


def translate(lv: Any, exc: Any, *, host: str, what: str, uri: str,
              conn: Any | None = None) -> DriverError:
    """A libvirt error as one of ours (the caller raises it ``from exc``)."""
    message = exc.get_error_message() or str(exc)
    alive = True
    if conn is not None:
        try:
            alive = bool(conn.isAlive())
        except lv.libvirtError:
            alive = False
    if exc.get_error_code() in lost_connection_codes(lv) or not alive:
        return ConnectionLostError(
            f"{what}: libvirtd does not answer ({message}); check that it runs on {host} and "
            f"listens at {uri} (the inventory's libvirt_uri)", host=host)
    return OperationFailedError(f"{what}: {message}", host=host)


class EventSink(Protocol):
    """Where a host's domain events go (called on the event loop thread: must not block)."""

    def iteration(self, host: str, vm: str, iteration: int) -> None: ...

    def job_completed(self, host: str, vm: str, stats: dict[str, Any]) -> None: ...


class HostLink:
    """One host's libvirtd: a shared connection carrying its event callbacks, reopened when
    the daemon went away (a restart, a reinstall), and private connections on demand."""

    def __init__(self, name: str, uri: str, sink: EventSink) -> None:
        self.name = name
        self.uri = uri
        self._sink = sink
        self._lock = threading.Lock()
        self._conn: Any | None = None
        self._callbacks: list[int] = []

    # -- connections ------------------------------------------------------------------------

    def connection(self) -> Any:
        """The shared connection (with events), reopened if it died."""
        lv = libvirt_with_events()
        with self._lock:
            conn = self._conn
            if conn is not None and _alive(lv, conn):
                return conn
            self._drop_locked(lv)
            conn = self._open(lv)
            self._callbacks = [
                conn.domainEventRegisterAny(None, lv.VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION,
                                            self._on_iteration, None),
                conn.domainEventRegisterAny(None, lv.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
                                            self._on_job_completed, None),
            ]
            self._conn = conn
            return conn

    def private(self) -> Any:
        """A connection of its own (for a call that blocks, such as a migration); the caller
        closes it."""
        return self._open(libvirt_with_events())

    def _open(self, lv: Any) -> Any:
        try:
            return lv.open(self.uri)
        except lv.libvirtError as exc:
            raise ConnectionLostError(
                f"libvirtd does not answer at {self.uri} ({exc.get_error_message()}); check "
                f"that it runs on {self.name} and that the inventory's libvirt_uri is right",
                host=self.name) from exc

    def call(self, what: str, fn: Callable[[Any], T]) -> T:
        """``fn(connection)``, its libvirt errors translated; a connection found dead is
        reopened and ``fn`` tried once more (use it for reads and idempotent changes)."""
        lv = libvirt_with_events()
        for attempt in (1, 2):
            conn = self.connection()
            try:
                return fn(conn)
            except lv.libvirtError as exc:
                if attempt == 1 and not _alive(lv, conn):
                    self.reset()
                    continue
                raise translate(lv, exc, host=self.name, what=what, uri=self.uri,
                                conn=conn) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def answers(self) -> bool:
        """Whether the daemon answers now."""
        try:
            self.call("ask its version", lambda c: c.getLibVersion())
        except DriverError:
            return False
        return True

    def reset(self) -> None:
        """Forget the shared connection (the daemon restarted or is about to)."""
        lv = libvirt_with_events()
        with self._lock:
            self._drop_locked(lv)

    def _drop_locked(self, lv: Any) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        for callback in self._callbacks:
            with contextlib.suppress(lv.libvirtError):
                conn.domainEventDeregisterAny(callback)
        self._callbacks = []
        with contextlib.suppress(lv.libvirtError):
            conn.close()

    # -- events (event loop thread) ---------------------------------------------------------

    def _on_iteration(self, _conn: Any, dom: Any, iteration: int, _opaque: Any) -> None:
        self._sink.iteration(self.name, dom.name(), int(iteration))

    def _on_job_completed(self, _conn: Any, dom: Any, params: dict[str, Any],
                          _opaque: Any) -> None:
        self._sink.job_completed(self.name, dom.name(), dict(params))


def _alive(lv: Any, conn: Any) -> bool:
    try:
        return bool(conn.isAlive())
    except lv.libvirtError:
        return False
