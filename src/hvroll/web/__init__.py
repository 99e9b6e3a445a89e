"""The web dashboard over a campaign's state file (``hvroll serve``): see :mod:`.app`.

:func:`create_app` is imported on first use (importing this package does not load the web
framework). Formats, charts and the style sheet shared with the report are in
:mod:`hvroll.telemetry.render`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from hvroll.web.app import create_app

        return create_app
    raise AttributeError(f"module 'hvroll.web' has no attribute {name!r}")
