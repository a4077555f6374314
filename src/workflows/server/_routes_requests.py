"""``/requests``: the human inbox — list input requests, read one, answer it, and its
audit list. Every route shows a caller only what they may see (see ``_access.py``)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..stores import InputRequest
from ._access import check_may_answer, visible_request
from ._errors import ApiError
from ._identity import identity_of
from ._listing import list_page, request_query
from ._models import AuditList, RequestList, RespondOut
from ._parse import acting_user, json_body, path_id
from ._sse import requests_stream
from ._state import state_of
from ._tasks import task_routes
from ._views import ok

__all__ = ["request_routes"]

MAX_IDEMPOTENCY_KEY = 200


async def list_requests(request: Request) -> Response:
    """Input requests the caller may see (pending ones unless ``status`` says
    otherwise), filtered and sorted as asked, one page (see ``_listing.py``)."""
    state = state_of(request)
    query, offset = request_query(request, identity_of(request))
    page = await list_page(state.engine, query, offset)
    return ok(
        RequestList(
            requests=[state.views.request(r) for r in page.requests],
            next_cursor=page.next_cursor,
        )
    )


async def get_request(request: Request) -> Response:
    """One input request, whatever its status (404 when the caller may not see it)."""
    state = state_of(request)
    request_id = path_id(request, "request_id", "input request")
    return ok(state.views.request(await visible_request(state, identity_of(request), request_id)))


async def request_audit(request: Request) -> Response:
    """The input request's history, oldest first (404 when the caller may not see it)."""
    state = state_of(request)
    request_id = path_id(request, "request_id", "input request")
    await visible_request(state, identity_of(request), request_id)
    entries = await state.engine.request_audit(request_id)
    return ok(AuditList(audit=[state.views.audit_entry(e) for e in entries]))


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not (
        0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isascii() and key.isprintable()
    ):
        raise ApiError(
            "bad_parameter",
            f"Idempotency-Key must be 1..{MAX_IDEMPOTENCY_KEY} printable ASCII characters",
        )
    return key


def _check_same_answer(found: InputRequest, key: str | None, body: dict[str, Any]) -> None:
    """409 when ``key`` is the key of the accepted answer but ``body`` differs from it."""
    if (
        key is not None
        and found.status == "answered"
        and found.idempotency_key == key
        and found.response != body
    ):
        raise ApiError(
            "idempotency_conflict",
            f"input request {found.request_id!r} was already answered with a different "
            f"response under this Idempotency-Key ({key[:40]!r}); a retry must repeat the "
            "same body, a new answer needs a new key",
        )


async def respond(request: Request) -> Response:
    """Answer an input request the caller may answer (404 when they may not see it,
    403 when it is assigned to someone else), recorded as answered by the caller (see
    :func:`~workflows.server._parse.acting_user`); a repeat of the accepted answer is a
    no-op, the same Idempotency-Key with another body a 409."""
    state = state_of(request)
    request_id = path_id(request, "request_id", "input request")
    key = _idempotency_key(request)
    user = acting_user(request)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(
            "invalid_response", "the response must be a JSON object of the response's fields"
        )
    identity = identity_of(request)
    found = await visible_request(state, identity, request_id)  # -> 404
    check_may_answer(identity, found)  # -> 403
    if found.workflow not in state.engine.workflows:
        raise ApiError(
            "workflow_not_registered",
            f"workflow {found.workflow!r} is not registered on this server",
        )
    _check_same_answer(found, key, body)
    delivered = await state.engine.respond(request_id, body, idempotency_key=key, answered_by=user)
    if not delivered and key is not None:
        # The store takes a repeated key as a repeat without comparing bodies; it was
        # pending when read above, so compare with what was accepted meanwhile.
        _check_same_answer(await state.engine.request(request_id), key, body)
    return ok(RespondOut(accepted=True, duplicate=not delivered))


def request_routes() -> list[Route]:
    """Routes of this module (the stream before ``{request_id}``, which would match it)."""
    return [
        Route("/requests", list_requests, methods=["GET"]),
        Route("/requests/stream", requests_stream, methods=["GET"]),
        Route("/requests/{request_id}", get_request, methods=["GET"]),
        Route("/requests/{request_id}/response", respond, methods=["POST"]),
        Route("/requests/{request_id}/audit", request_audit, methods=["GET"]),
        *task_routes(),
    ]
