"""Auth: a pure ASGI middleware giving every request of a non-public route an identity.

An :class:`Authenticator` turns a request's headers into an
:class:`~workflows.server._identity.Identity` or refuses it (401, or 400 for a header
it cannot read); the middleware puts the identity in the scope
(``scope["workflows.identity"]``), where routes read it with ``identity_of(request)``.
``GET /health`` and the HTML pages pass without one.
"""

from __future__ import annotations

import contextlib
import hmac
import json
from collections.abc import Callable
from typing import Protocol

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ..error_codes import error_body, lookup
from ..runtime.user_name import USER_HEADER, read_header
from ._identity import ANONYMOUS, IDENTITY_KEY, Identity, TrustedHeader, check_name
from ._users import UsersFile

__all__ = [
    "Authenticator",
    "HeaderAuth",
    "IdentityMiddleware",
    "Refusal",
    "SharedTokenAuth",
    "UsersAuth",
]


class Refusal(Exception):
    """A request the authenticator turns away.

    Attributes:
        code: the error code (``unauthorized``, ``bad_parameter``).
        message: why, for people.
        challenge: answer with ``WWW-Authenticate: Bearer`` (a bearer token is wanted).
    """

    def __init__(self, code: str, message: str, *, challenge: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.challenge = challenge


class Authenticator(Protocol):
    """Turns a request's headers into the caller's identity."""

    verified: bool
    """Whether identities are authenticated (users file, trusted header): then who
    answers is the identity's user, not what ``X-Workflows-User`` says."""

    bearer: bool
    """Whether callers send ``Authorization: Bearer <token>``."""

    def identify(self, raw: list[tuple[bytes, bytes]], headers: Headers) -> Identity:
        """The caller of a request with these headers (``raw`` as the server got them).

        Raises:
            Refusal: no identity can be given.
        """
        ...


def _bearer_token(headers: Headers) -> str:
    values = headers.getlist("authorization")
    if not values:
        raise Refusal("unauthorized", "missing bearer token", challenge=True)
    scheme, _, token = values[0].partition(" ")
    token = token.strip()
    if len(values) > 1 or scheme.lower() != "bearer" or not token:
        raise Refusal("unauthorized", "invalid bearer token", challenge=True)
    return token


class SharedTokenAuth:
    """One shared token, or none: everyone is an admin, named by ``X-Workflows-User``
    (a claim the server does not check; ``anonymous`` without a readable one).

    Args:
        token: the bearer token every request needs; ``None``: no auth.
    """

    verified = False

    def __init__(self, token: str | None) -> None:
        self._expected = None if token is None else f"Bearer {token}".encode()
        self.bearer = token is not None

    def identify(self, raw: list[tuple[bytes, bytes]], headers: Headers) -> Identity:
        """The caller: an admin named by ``X-Workflows-User``, once the token matched."""
        if self._expected is not None:
            given = next((value for name, value in raw if name == b"authorization"), b"")
            if not hmac.compare_digest(given, self._expected):
                message = "missing bearer token" if not given else "invalid bearer token"
                raise Refusal("unauthorized", message, challenge=True)
        names = headers.getlist(USER_HEADER)
        user = ANONYMOUS
        if len(names) == 1:
            # A malformed name is refused (400) by the routes that record it.
            with contextlib.suppress(ValueError):
                user = read_header(names[0])
        return Identity(user, frozenset(), admin=True)


class UsersAuth:
    """Bearer tokens looked up in a users file (see ``_users.py``).

    Args:
        users: the users file.
    """

    verified = True
    bearer = True

    def __init__(self, users: UsersFile) -> None:
        self.users = users

    def identify(self, raw: list[tuple[bytes, bytes]], headers: Headers) -> Identity:
        """The user the bearer token belongs to."""
        identity = self.users.identify(_bearer_token(headers))
        if identity is None:
            raise Refusal("unauthorized", "invalid bearer token", challenge=True)
        return identity


class HeaderAuth:
    """The caller as a trusted reverse proxy names them (see
    :class:`~workflows.server.TrustedHeader`).

    Args:
        config: which headers to read.
    """

    verified = True
    bearer = False

    def __init__(self, config: TrustedHeader) -> None:
        self.config = config

    def identify(self, raw: list[tuple[bytes, bytes]], headers: Headers) -> Identity:
        """The user and groups the proxy's headers name."""
        config = self.config
        values = headers.getlist(config.user)
        if not values:
            raise Refusal("unauthorized", f"missing {config.user} header (set by the proxy)")
        if len(values) > 1:
            raise Refusal("bad_parameter", f"header {config.user} given more than once")
        try:
            user = check_name(_decode(values[0]).strip(), f"header {config.user}")
            groups: set[str] = set()
            if config.groups is not None:
                for value in headers.getlist(config.groups):
                    for part in _decode(value).split(","):
                        if part.strip():
                            groups.add(check_name(part.strip(), f"header {config.groups}"))
        except ValueError as exc:
            raise Refusal("bad_parameter", str(exc)) from None
        return Identity(user, frozenset(groups), config.admin_group in groups)


def _decode(value: str) -> str:
    """A header value as the server decoded it (Latin-1) read back as UTF-8 when its
    bytes are UTF-8 (names travel as UTF-8 bytes)."""
    data = value.encode("latin-1", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return value


class IdentityMiddleware:
    """Gives each HTTP request its caller's identity, or answers the authenticator's
    refusal as a JSON error (a public route is served without an identity instead).

    Args:
        app: the wrapped app.
        authenticator: how the identity is found.
        is_public: whether a request scope passes without an identity (``/health``,
            the HTML pages).
    """

    def __init__(
        self, app: ASGIApp, authenticator: Authenticator, is_public: Callable[[Scope], bool]
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self._is_public = is_public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope.get("headers") or []
            try:
                scope[IDENTITY_KEY] = self.authenticator.identify(raw, Headers(raw=raw))
            except Refusal as refusal:
                # Asked only now: most requests carry an identity, and routes cost a match.
                if not self._is_public(scope):
                    await _refuse(send, refusal)
                    return
        await self.app(scope, receive, send)


async def _refuse(send: Send, refusal: Refusal) -> None:
    body = json.dumps(error_body(refusal.code, refusal.message)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if refusal.challenge:
        headers.append((b"www-authenticate", b'Bearer realm="workflows"'))
    status = lookup(refusal.code).status
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
