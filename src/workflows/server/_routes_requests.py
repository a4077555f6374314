"""``/requests``: the human inbox — list input requests, read one, answer it."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..stores import REQUEST_STATUSES, InputRequest
from ._errors import ApiError
from ._models import RequestList, RespondOut
from ._parse import acting_user, json_body, path_id, query_choice, query_int, query_str
from ._sse import requests_stream
from ._state import state_of
from ._views import ok

__all__ = ["request_routes"]

MAX_IDEMPOTENCY_KEY = 200


async def list_requests(request: Request) -> Response:
    """Input requests, newest first (pending ones unless ``status`` says otherwise)."""
    state = state_of(request)
    status = query_choice(request, "status", REQUEST_STATUSES | {"all"}, default="pending")
    workflow = query_str(request, "workflow")
    run_id = query_str(request, "run_id")
    limit = query_int(request, "limit", 100, 1, 1000)
    offset = query_int(request, "offset", 0, 0, None)
    requests = await state.engine.requests(
        workflow=workflow,
        run_id=run_id,
        status=None if status == "all" else status,  # type: ignore[arg-type]
        limit=limit,
        offset=offset,
    )
    return ok(RequestList(requests=[state.views.request(r) for r in requests]))


async def get_request(request: Request) -> Response:
    """One input request, whatever its status."""
    state = state_of(request)
    found = await state.engine.request(path_id(request, "request_id", "input request"))
    return ok(state.views.request(found))


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
    """Answer an input request as the ``X-Workflows-User`` header names (if given); a
    repeat of the accepted answer is a no-op, the same Idempotency-Key with another body
    a 409."""
    state = state_of(request)
    request_id = path_id(request, "request_id", "input request")
    key = _idempotency_key(request)
    user = acting_user(request)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(
            "invalid_response", "the response must be a JSON object of the response's fields"
        )
    found = await state.engine.request(request_id)  # -> 404
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
    ]
