"""Bearer-token auth: a pure ASGI middleware in front of every route but the public ones."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from ..error_codes import error_body

__all__ = ["BearerAuth"]


class BearerAuth:
    """Answers 401 (JSON error) to HTTP requests without ``Authorization: Bearer <token>``.

    Args:
        app: the wrapped app.
        token: the expected token (compared in constant time).
        is_public: whether a request scope may pass without the token (``/health``,
            the HTML pages).
    """

    def __init__(self, app: ASGIApp, token: str, is_public: Callable[[Scope], bool]) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()
        self._is_public = is_public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_public(scope):
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                given = value
                break
        if hmac.compare_digest(given, self._expected):
            await self.app(scope, receive, send)
            return
        message = "missing bearer token" if not given else "invalid bearer token"
        body = json.dumps(error_body("unauthorized", message)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="workflows"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
