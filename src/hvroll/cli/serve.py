"""``hvroll serve``: the web dashboard and the Prometheus endpoint over a campaign's state file."""

from __future__ import annotations

import contextlib
import copy
import secrets
import socket
import threading
from pathlib import Path
from typing import Any

import typer

from hvroll.cli.common import err_console, finite
from hvroll.errors import InputError

STATE_HELP = ("The campaign's state file (SQLite; or a SQLAlchemy URL), as given to 'hvroll "
              "run --state', or a control-plane run's ('hvroll controlplane run --state'). "
              "Read-only: the dashboard reads it while the campaign writes.")


def serve(
    state: str = typer.Option(..., "--state", "-s", help=STATE_HELP, show_default=False),
    host: str = typer.Option("127.0.0.1", "--host",
                             help="Address to listen on. The default, 127.0.0.1, serves this "
                                  "machine only; another address exposes the dashboard (read "
                                  "access) to that network, while controls still need the "
                                  "token."),
    server_names: list[str] = typer.Option(
        [], "--server-name", show_default=False,
        help="A name or address clients use to reach the dashboard (repeatable), besides the "
             "--host address (and loopback names when it is a loopback or wildcard address). "
             "Requests with any other Host header are refused, against DNS rebinding; e.g. "
             "--host 0.0.0.0 --server-name hvroll.example.org."),
    port: int = typer.Option(8080, "--port", "-p", min=0, max=65535,
                             help="TCP port; 0 picks a free one (the URL printed at start "
                                  "says which)."),
    token_file: Path | None = typer.Option(
        None, "--token-file", show_default=False,
        help="File whose first line is the control token (at least 16 characters) that the "
             "pause, resume and abort buttons (POST /api/control/ACTION) must send. Without "
             "it, a random token is made and printed once at start on standard error."),
    refresh_s: float = typer.Option(5.0, "--refresh", min=0.0, max=3600.0,
                                    callback=finite,
                                    help="Seconds between the pages' checks for a change while "
                                         "a campaign runs; 0 turns live updates off."),
    access_log: bool = typer.Option(False, "--access-log",
                                    help="Log every request on standard error (method, path "
                                         "and status; the token is never logged)."),
) -> None:
    """Serve the campaign dashboard: overview, hosts per cluster, verification matrix,
    migrations with charts, one page per VM, the JSON of each under /api/, and Prometheus
    metrics at /metrics.

    Pages update live while the campaign runs. Stop with Ctrl-C.

    On a control-plane run's state file: one page with its hops (elapsed time, API downtime,
    migration time), steps and events, and their JSON at /api/upgrade.
    """
    from hvroll.telemetry.snapshot import StateSource
    from hvroll.telemetry.upgrade import is_upgrade_state
    from hvroll.web import create_app
    from hvroll.web.app import allowed_hosts
    from hvroll.web.pages import matrix_of

    token = _token(token_file)
    if is_upgrade_state(state):
        _serve_upgrade(state, host, port, allowed_hosts(host, server_names), refresh_s,
                       access_log)
        return
    source = StateSource(state)
    app = create_app(source, token, refresh_s=refresh_s,
                     hosts=allowed_hosts(host, server_names))
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host

    def warm() -> None:
        """Read the plan, inventory and matrix once before the first page asks."""
        with contextlib.suppress(InputError):  # the pages show it
            matrix_of(source.static())

    threading.Thread(target=warm, name="hvroll-warm", daemon=True).start()
    err_console.print(f"hvroll dashboard for {state} at http://{shown}:{bound}/ "
                      f"(metrics at /metrics; Ctrl-C stops)", markup=False, highlight=False,
                      soft_wrap=True)
    if token_file is None:
        err_console.print(f"control token (for pause, resume, abort): {token}", markup=False,
                          highlight=False, soft_wrap=True)
    _run(app, sock, source, access_log=access_log)


def _run(app: Any, sock: socket.socket, source: Any, *, access_log: bool) -> None:
    """Serve ``app`` on the bound ``sock`` until Ctrl-C; close both and ``source`` after."""
    import uvicorn

    config = uvicorn.Config(app, log_level="info" if access_log else "warning",
                            access_log=access_log, lifespan="off", log_config=_log_config())
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        source.close()


def _log_config() -> dict[str, Any]:
    """Uvicorn's logging, every line on standard error (its access log defaults to stdout)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    for handler in config.get("handlers", {}).values():
        handler["stream"] = "ext://sys.stderr"
    return config


def _token(token_file: Path | None) -> str:
    if token_file is None:
        return secrets.token_urlsafe(24)
    from hvroll.inventory.reading import read_text

    lines = read_text(token_file, "a token file: one line of at least 16 characters").splitlines()
    token = lines[0].strip() if lines else ""
    if len(token) < 16:
        raise InputError(f"{token_file}: the token must be at least 16 characters on the first "
                         f"line (got {len(token)})")
    return token


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port} ({exc.strerror}; expected a free "
                         f"port, e.g. --port 0 for any)") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _serve_upgrade(state: str, host: str, port: int, hosts: list[str], refresh_s: float,
                   access_log: bool) -> None:
    """The dashboard of a control-plane run (read-only: no controls, no token)."""
    from hvroll.telemetry.upgrade import UpgradeSource
    from hvroll.web.upgrade import create_upgrade_app

    source = UpgradeSource(state)
    app = create_upgrade_app(source, refresh_s=refresh_s, hosts=hosts)
    sock = _bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    err_console.print(f"hvroll control-plane run dashboard for {state} at "
                      f"http://{shown}:{sock.getsockname()[1]}/ (Ctrl-C stops)", markup=False,
                      highlight=False, soft_wrap=True)
    _run(app, sock, source, access_log=access_log)
