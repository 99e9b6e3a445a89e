"""The web dashboard over a campaign's state file (``hvroll serve``): see :mod:`.app`."""

from hvroll.web.app import create_app

__all__ = ["create_app"]
