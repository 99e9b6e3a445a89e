"""The dashboard of a control-plane upgrade run (``hvroll serve --state FILE`` on a state file
of ``hvroll controlplane run``): one page with the hops (elapsed time, API downtime, migration
time), every step and every event, updated live while the run goes on; its JSON at
``/api/upgrade``; ``/api/marker`` changes whenever the run does. Read-only: a control-plane run
is paused or aborted with ``hvroll controlplane pause|abort``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from hvroll import __version__
from hvroll.errors import InputError
from hvroll.telemetry.render import STYLE
from hvroll.telemetry.upgrade import UpgradeSource, render_upgrade
from hvroll.web.app import HERE, LOOPBACK_NAMES, SECURITY_HEADERS


def create_upgrade_app(source: UpgradeSource, *, refresh_s: float = 5.0,
                       hosts: Sequence[str] = LOOPBACK_NAMES) -> FastAPI:
    """The dashboard app over a control-plane run's state file."""
    app = FastAPI(title="hvroll", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))

    @app.get("/static/style.css", include_in_schema=False)
    def style() -> FileResponse:
        return FileResponse(STYLE, media_type="text/css")

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        marker = source.marker()
        return HTMLResponse(render_upgrade(source.data(), inline_css=False, marker=marker,
                                           refresh_s=refresh_s))

    @app.get("/api/upgrade")
    def api_upgrade() -> dict[str, Any]:
        return source.data()

    @app.get("/api/marker")
    def api_marker() -> dict[str, str]:
        return {"marker": source.marker()}

    return app
