"""``/requests/{id}/claim``, ``/unclaim``, ``/assign``: who works on an input request.

- claim: a caller who sees the request takes it while nobody holds it (409
  ``request_claimed`` otherwise; of two claims at once exactly one wins, decided by the
  store's compare-and-set). Claiming a request one holds already changes nothing.
- unclaim: its assignee (or an admin) gives it back; it is then unassigned.
- assign: an admin, or its assignee, hands it to another user (or to nobody).

Each answers the request as it now stands; the store records every change in the
request's audit list.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._access import check_may_reassign, visible_request
from ._errors import ApiError
from ._identity import check_name, identity_of
from ._models import AssignIn
from ._parse import model_body, path_id
from ._state import state_of
from ._views import ok

__all__ = ["task_routes"]


async def claim(request: Request) -> Response:
    """Take a visible, unassigned pending request for the caller."""
    state = state_of(request)
    identity = identity_of(request)
    found = await visible_request(state, identity, path_id(request, "request_id", "input request"))
    if found.status == "pending" and found.assignee == identity.user:
        return ok(state.views.request(found))
    changed = await state.engine.set_assignee(
        found.request_id, identity.user, actor=identity.user, action="claimed", expected=None
    )
    return ok(state.views.request(changed))


async def unclaim(request: Request) -> Response:
    """Give a request back (its assignee, or an admin): it is then unassigned."""
    state = state_of(request)
    identity = identity_of(request)
    found = await visible_request(state, identity, path_id(request, "request_id", "input request"))
    if found.status == "pending":  # else the store says why it cannot change
        if found.assignee is None:
            return ok(state.views.request(found))
        check_may_reassign(identity, found, "unclaim")
    changed = await state.engine.set_assignee(
        found.request_id,
        None,
        actor=identity.user,
        action="unclaimed",
        expected=found.assignee,
    )
    return ok(state.views.request(changed))


async def assign(request: Request) -> Response:
    """Hand a request to another user, or to nobody (an admin, or its assignee)."""
    state = state_of(request)
    identity = identity_of(request)
    request_id = path_id(request, "request_id", "input request")
    body = await model_body(request, AssignIn)
    if body.assignee is not None:
        try:
            check_name(body.assignee, "assignee")
        except ValueError as exc:
            raise ApiError("validation_failed", str(exc)) from None
    found = await visible_request(state, identity, request_id)
    if found.status == "pending":  # else the store says why it cannot change
        check_may_reassign(identity, found, "reassign")
    changed = await state.engine.set_assignee(
        found.request_id,
        body.assignee,
        actor=identity.user,
        action="assigned",
        expected=found.assignee,
    )
    return ok(state.views.request(changed))


def task_routes() -> list[Route]:
    """Routes of this module."""
    return [
        Route("/requests/{request_id}/claim", claim, methods=["POST"]),
        Route("/requests/{request_id}/unclaim", unclaim, methods=["POST"]),
        Route("/requests/{request_id}/assign", assign, methods=["POST"]),
    ]
