"""Who calls the API: the :class:`Identity` every route sees, and the trusted-header mode.

The app's auth middleware (``_auth.py``) gives every request of a non-public route an
identity, from one of three sources chosen by :func:`~workflows.server.create_app`:

1. a users file (``users=``): the bearer token names the user (``_users.py``);
2. a trusted header (``trusted_header=``): a reverse proxy in front of the app has
   authenticated the caller and names them in a header;
3. the single token (``token=``) or no auth at all: everyone is an admin, named by the
   ``X-Workflows-User`` header (or ``anonymous``), as before identities existed.

Routes read it with :func:`identity_of`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from ..stores import Viewer

__all__ = [
    "ANONYMOUS",
    "DEFAULT_ADMIN_GROUP",
    "IDENTITY_KEY",
    "MAX_NAME",
    "Identity",
    "TrustedHeader",
    "check_name",
    "identity_of",
]

IDENTITY_KEY = "workflows.identity"
"""The ASGI scope key the middleware puts the caller's :class:`Identity` under."""

ANONYMOUS = "anonymous"
"""The user of a request that names nobody, without users file or trusted header."""

DEFAULT_ADMIN_GROUP = "admins"
"""Members of this group are admins unless the configuration names another group."""

MAX_NAME = 200
"""The most characters a user or group name may have."""

_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}")


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller of an API request.

    Attributes:
        user: the user's name.
        groups: the groups the user is in.
        admin: sees every request and may do anything with it (a member of the admin
            group, or anyone when the server has no users file nor trusted header).
    """

    user: str
    groups: frozenset[str] = frozenset()
    admin: bool = False

    @property
    def viewer(self) -> Viewer:
        """The store's view of this caller: what the visibility rules decide on."""
        return Viewer(self.user, self.groups, self.admin)


def check_name(value: str, what: str) -> str:
    """``value`` if it can name a user or group: 1..200 printable characters, no ``,``
    or ``|``, no whitespace at either end.

    Raises:
        ValueError: naming ``what`` and the problem.
    """
    if not value:
        raise ValueError(f"{what} is empty")
    if len(value) > MAX_NAME:
        raise ValueError(f"{what} has {len(value)} characters; at most {MAX_NAME} are allowed")
    if value != value.strip():
        raise ValueError(f"{what} {value[:40]!r} starts or ends with whitespace")
    for char in value:
        if not char.isprintable() or char in ",|":
            raise ValueError(
                f"{what} {value[:40]!r} holds {char!r}; names are printable, without ',' or '|'"
            )
    return value


@dataclass(frozen=True)
class TrustedHeader:
    """Trust a reverse proxy to name the caller in a request header.

    Only put the app behind a proxy that authenticates every request and removes these
    headers from what clients send: whoever can reach the app directly can be anyone.

    Args:
        user: the header holding the user's name (a request without it is a 401).
        groups: the header holding the user's groups, comma-separated; ``None``: the
            user is in no group.
        admin_group: members of this group are admins.

    Raises:
        ValueError: a header name that is not an HTTP token, or a bad group name.

    Example::

        create_app(url, flows, trusted_header=TrustedHeader("X-Forwarded-User",
                                                            groups="X-Forwarded-Groups"))
    """

    user: str = "X-Forwarded-User"
    groups: str | None = None
    admin_group: str = DEFAULT_ADMIN_GROUP

    def __post_init__(self) -> None:
        for header in (self.user, self.groups):
            if header is not None and not _HEADER_NAME.fullmatch(header):
                raise ValueError(f"{header!r} is not an HTTP header name")
        if self.groups is not None and self.groups.lower() == self.user.lower():
            raise ValueError("the user and groups headers must differ")
        check_name(self.admin_group, "the admin group")


def identity_of(connection: HTTPConnection) -> Identity:
    """The identity of the caller of ``connection`` (a request), as the app's auth
    middleware set it.

    Raises:
        RuntimeError: no identity was set (a public route, or an app not built by
            :func:`~workflows.server.create_app`).
    """
    identity = connection.scope.get(IDENTITY_KEY)
    if not isinstance(identity, Identity):
        raise RuntimeError(
            "no identity on this request: the route is public, or the app was not built "
            "by workflows.server.create_app"
        )
    return identity
