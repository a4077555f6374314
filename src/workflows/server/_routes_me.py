"""``/me``: who the server takes the caller for."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._identity import identity_of
from ._models import MeOut
from ._views import ok

__all__ = ["me_routes"]


async def me(request: Request) -> Response:
    """The caller's user name, groups and whether they are an admin."""
    identity = identity_of(request)
    return ok(MeOut(user=identity.user, groups=sorted(identity.groups), admin=identity.admin))


def me_routes() -> list[Route]:
    """Routes of this module."""
    return [Route("/me", me, methods=["GET"])]
