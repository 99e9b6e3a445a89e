"""Gunicorn entry points for nova-api: Nova parses ``sys.argv`` with oslo.config and fails on
gunicorn's flags, so the arguments are cleared and the config files set before Nova loads.

``OS_NOVA_CONFIG_FILES`` names ``api-paste.ini;nova.conf;nova-control.conf`` (Nova loads the
paste file from its first entry).
"""

from __future__ import annotations

import sys

sys.argv = sys.argv[:1]

from nova.wsgi.osapi_compute import application  # noqa: E402

__all__ = ["application"]
