"""Paste filter standing in for keystonemiddleware: a token names a user and a project.

``X-Auth-Token: USER:PROJECT`` becomes the ``X-User-Id``/``X-Project-Id``/``X-Roles`` headers
keystonemiddleware would set; user ``admin`` gets ``admin,member,reader``, any other user
``member,reader``. Only the tokens listed in the filter's ``tokens`` option are accepted; any
other request is answered ``401``, as keystone would answer a wrong password.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_BODY = (b'{"error": {"code": 401, "title": "Unauthorized", '
         b'"message": "The request you have made requires authentication."}}')


class NoAuth:
    def __init__(self, app: WsgiApp, tokens: frozenset[str]) -> None:
        self.app = app
        self.tokens = tokens

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        token = environ.get("HTTP_X_AUTH_TOKEN", "")
        if token not in self.tokens:
            start_response("401 Unauthorized", [("Content-Type", "application/json"),
                                                ("Content-Length", str(len(_BODY)))])
            return [_BODY]
        user, _, project = token.partition(":")
        roles = "admin,member,reader" if user == "admin" else "member,reader"
        environ.update({
            "HTTP_X_IDENTITY_STATUS": "Confirmed",
            "HTTP_X_USER_ID": user, "HTTP_X_USER_NAME": user, "HTTP_X_USER": user,
            "HTTP_X_PROJECT_ID": project, "HTTP_X_PROJECT_NAME": project,
            "HTTP_X_TENANT_ID": project, "HTTP_X_TENANT_NAME": project,
            "HTTP_X_TENANT": project,
            "HTTP_X_USER_DOMAIN_ID": "default", "HTTP_X_PROJECT_DOMAIN_ID": "default",
            "HTTP_X_ROLES": roles, "HTTP_X_ROLE": roles,
        })
        return self.app(environ, start_response)


def filter_factory(global_conf: dict[str, str], **local_conf: str) -> Callable[[WsgiApp], NoAuth]:
    tokens = frozenset(local_conf.get("tokens", "admin:admin").split())

    def _filter(app: WsgiApp) -> NoAuth:
        return NoAuth(app, tokens)

    return _filter
