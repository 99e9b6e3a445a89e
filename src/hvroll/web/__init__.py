"""The web dashboard over a campaign's state file (``hvroll serve``): see :mod:`.app`.

:func:`create_app` is imported on first use, so that the report can share the dashboard's
formats, charts and style sheet (:mod:`.render`) without loading the web framework.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from hvroll.web.app import create_app

        return create_app
    raise AttributeError(f"module 'hvroll.web' has no attribute {name!r}")
