"""The dashboard over a campaign's state file (``hvroll serve``): FastAPI, pages rendered on
the server with inline SVG charts, every asset served from this package (no CDN).

Pages: ``/`` overview, ``/hosts`` hosts per cluster, ``/matrix`` the verification matrix,
``/migrations`` the migrations with filters and charts, ``/vms/NAME`` one VM. Each has its
JSON under ``/api/…``; ``/metrics`` is the Prometheus exposition; ``/api/marker`` changes
whenever the campaign does, and pages poll it to update themselves while a campaign runs.

The state file is read-only here, one read transaction per request. The only writes are the
operator's controls: ``POST /api/control/{pause,resume,abort}`` with the token given at start
(``Authorization: Bearer TOKEN``) adds a control row exactly as ``hvroll pause`` does; without
the token the request is refused (403). The token never appears in a page or a log.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware.trustedhost import TrustedHostMiddleware

from hvroll import __version__
from hvroll.errors import CampaignCreatingError, InputError
from hvroll.executor.status import BEING_CREATED
from hvroll.store import Store
from hvroll.telemetry import render
from hvroll.telemetry.metrics import registry_for
from hvroll.telemetry.render import STYLE, environment
from hvroll.telemetry.snapshot import Snapshot, StateSource
from hvroll.web import pages

HERE = Path(__file__).resolve().parent
ACTIONS = ("pause", "resume", "abort")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def allowed_hosts(bound: str, names: Sequence[str] = ()) -> list[str]:
    """The ``Host`` header values the dashboard answers when listening on ``bound``: that
    address (an IPv6 one also in brackets), the ``names`` an operator configured, and the
    loopback names when ``bound`` is a loopback or wildcard address. Any other ``Host`` is
    refused (400), so that a page of another site cannot reach the dashboard through DNS
    rebinding, whatever address it listens on."""
    found: list[str] = [bound]
    if ":" in bound:
        found.append(f"[{bound.strip('[]')}]")
    found += [n for n in names if n]
    try:
        address = ipaddress.ip_address(bound.strip("[]"))
    except ValueError:  # a name, e.g. localhost
        address = None
    if bound in LOOPBACK_NAMES or (address is not None and (address.is_loopback or
                                                            address.is_unspecified)):
        found += LOOPBACK_NAMES
    return list(dict.fromkeys(found))


def create_app(source: StateSource, token: str, *, refresh_s: float = 5.0,
               hosts: Sequence[str] = LOOPBACK_NAMES) -> FastAPI:
    """The dashboard app for ``source``; control requests must carry ``token``.

    ``refresh_s``: seconds between the pages' checks for a change (0: no live updates).
    ``hosts``: the only ``Host`` header values answered (see :func:`allowed_hosts`).
    """
    if not token:
        raise InputError("the control token is empty (expected a token file with one line)")
    app = FastAPI(title="hvroll", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))

    @app.get("/static/style.css", include_in_schema=False)
    def style() -> FileResponse:  # shared with the report: kept with the render module
        return FileResponse(STYLE, media_type="text/css")

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    env = environment(HERE / "templates")
    registry = registry_for(source)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=503)
        html = env.get_template("error.html").render(
            title="state file unavailable", message=str(exc), page="", refresh_s=refresh_s,
            marker="", status=None)
        return HTMLResponse(html, status_code=503)

    @app.exception_handler(CampaignCreatingError)
    async def _creating(request: Request, exc: CampaignCreatingError) -> Response:
        """Not an outage: the campaign is being created (the page looks again by itself)."""
        if request.url.path.startswith("/api/"):
            return JSONResponse({"state": BEING_CREATED, "detail": str(exc)})
        html = env.get_template("error.html").render(
            title="campaign being created", message=str(exc), page="", refresh_s=refresh_s,
            marker="", status=None)
        return HTMLResponse(html)

    def show(template: str, snap: Snapshot, marker: str, **context: Any) -> HTMLResponse:
        html = env.get_template(template).render(
            status=snap.status(), marker=marker, refresh_s=refresh_s, **context)
        return HTMLResponse(html)

    def read() -> tuple[Snapshot, str]:
        marker = source.marker()  # before the snapshot: a change in between shows next time
        return source.snapshot(), marker

    # -- pages ---------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def overview_page() -> HTMLResponse:
        snap, marker = read()
        data = pages.overview(snap)
        return show("overview.html", snap, marker, page="overview", data=data,
                    charts=render.overview(data))

    @app.get("/hosts", response_class=HTMLResponse)
    def hosts_page() -> HTMLResponse:
        snap, marker = read()
        return show("hosts.html", snap, marker, page="hosts", data=pages.hosts(snap))

    @app.get("/matrix", response_class=HTMLResponse)
    def matrix_page() -> HTMLResponse:
        snap, marker = read()
        return show("matrix.html", snap, marker, page="matrix", data=pages.matrix(snap))

    @app.get("/migrations", response_class=HTMLResponse)
    def migrations_page(state: str | None = None, region: str | None = None,
                        rung: str | None = None, vm: str | None = None,
                        limit: int = Query(200, ge=1, le=pages.MAX_ROWS),
                        offset: int = Query(0, ge=0)) -> HTMLResponse:
        snap, marker = read()
        data = pages.migrations(snap, state=state or None, region=region or None,
                                rung=rung or None, vm=vm or None, limit=limit, offset=offset)
        return show("migrations.html", snap, marker, page="migrations", data=data,
                    charts=render.migrations(data), pager=_pager(data))

    @app.get("/vms/{name:path}", response_class=HTMLResponse)
    def vm_page(name: str) -> HTMLResponse:
        snap, marker = read()
        data = pages.vm(source, snap, name)
        if data is None:
            html = env.get_template("error.html").render(
                title="no such VM", message=f"the campaign's inventory has no VM {name!r}",
                page="", refresh_s=0, marker=marker, status=snap.status())
            return HTMLResponse(html, status_code=404)
        return show("vm.html", snap, marker, page="vm", data=data, charts=render.vm(data))

    # -- JSON ----------------------------------------------------------------------------

    @app.get("/api/marker")
    def api_marker() -> dict[str, str]:
        return {"marker": source.marker()}

    @app.get("/api/status")
    def api_status() -> dict[str, Any]:
        return source.snapshot(recent_events=0).status()

    @app.get("/api/overview")
    def api_overview() -> dict[str, Any]:
        return pages.overview(source.snapshot())

    @app.get("/api/hosts")
    def api_hosts() -> dict[str, Any]:
        return pages.hosts(source.snapshot(recent_events=0))

    @app.get("/api/matrix")
    def api_matrix() -> dict[str, Any]:
        return pages.matrix(source.snapshot(recent_events=0))

    @app.get("/api/migrations")
    def api_migrations(state: str | None = None, region: str | None = None,
                       rung: str | None = None, vm: str | None = None,
                       limit: int = Query(200, ge=1, le=pages.MAX_ROWS),
                       offset: int = Query(0, ge=0)) -> dict[str, Any]:
        return pages.migrations(source.snapshot(recent_events=0), state=state or None,
                                region=region or None, rung=rung or None, vm=vm or None,
                                limit=limit, offset=offset)

    @app.get("/api/vms/{name:path}")
    def api_vm(name: str) -> Response:
        data = pages.vm(source, source.snapshot(recent_events=0), name)
        if data is None:
            return JSONResponse({"detail": f"no VM {name!r} in the campaign's inventory"},
                                status_code=404)
        return JSONResponse(data)

    @app.get("/api/events")
    def api_events(limit: int = Query(100, ge=1, le=10000)) -> dict[str, Any]:
        snap = source.snapshot(recent_events=limit)
        return {"events": [pages.event_data(e) for e in snap.recent_events],
                "counts": snap.event_counts}

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    # -- controls ------------------------------------------------------------------------

    @app.post("/api/control/{action}")
    def control(action: str, request: Request) -> Response:
        if not _authorized(request, token):
            return JSONResponse({"detail": "a valid control token is required (the one "
                                           "'hvroll serve' was started with)"},
                                status_code=403)
        if action not in ACTIONS:
            return JSONResponse({"detail": f"unknown action {action!r} (expected one of: "
                                           f"{', '.join(ACTIONS)})"}, status_code=404)
        store = Store(source.target)
        try:
            store.require_campaign()
            store.request(action)
        finally:
            store.close()
        return JSONResponse({"requested": action,
                             "note": "taken at the campaign's next safe point"},
                            status_code=202)

    return app


def _authorized(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not value:
        value = request.headers.get("x-hvroll-token", "")
    return bool(value) and hmac.compare_digest(value.strip().encode(), token.encode())


def _pager(data: dict[str, Any]) -> dict[str, str | None]:
    filters = {k: v for k, v in data["filters"].items() if v}
    limit, offset, matching = data["limit"], data["offset"], data["matching"]

    def link(at: int) -> str:
        return "/migrations?" + urlencode({**filters, "limit": limit, "offset": at})

    return {"prev": link(max(0, offset - limit)) if offset > 0 else None,
            "next": link(offset + limit) if offset + limit < matching else None}
