"""``/webhooks/deliveries``: the attempts to deliver request changes to webhooks (admins
only: they name requests of every user)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._errors import ApiError
from ._identity import identity_of
from ._models import DeliveryList
from ._parse import query_int, query_str
from ._state import state_of
from ._views import ok

__all__ = ["delivery_routes"]


async def list_deliveries(request: Request) -> Response:
    """Delivery attempts, newest first, optionally of one request and/or endpoint."""
    if not identity_of(request).admin:
        raise ApiError("forbidden", "only admins may list webhook deliveries")
    state = state_of(request)
    attempts = await state.engine.deliveries(
        endpoint=query_str(request, "endpoint"),
        request_id=query_str(request, "request_id"),
        limit=query_int(request, "limit", 100, 1, 1000),
    )
    return ok(DeliveryList(deliveries=[state.views.delivery(a) for a in attempts]))


def delivery_routes() -> list[Route]:
    """Routes of this module."""
    return [Route("/webhooks/deliveries", list_deliveries, methods=["GET"])]
