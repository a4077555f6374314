"""Errors as HTTP responses: every known failure maps to its 4xx (or 503).

Routes raise :class:`ApiError` for what they detect themselves; library errors that
reach the app are mapped by class in :data:`STATUS_OF`. The last-resort handler (a
genuine bug) logs the traceback and answers a JSON 500.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import (
    ContextSerdeError,
    CorruptRecordError,
    InputRequestAlreadyAnsweredError,
    InputRequestNotFoundError,
    InvalidResponseError,
    RunAlreadyExistsError,
    RunNotFoundError,
    StaleRunError,
    StoreConnectionError,
    StoreError,
    WorkflowConfigurationError,
    WorkflowError,
    WorkflowRuntimeError,
)
from ..runtime.validation_text import validation_summary
from ..stores import InputRequestClosedError, RunFinishedError

logger = logging.getLogger("workflows.server")

__all__ = ["ApiError", "error_response", "exception_handlers"]

CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    503: "unavailable",
    500: "internal",
}

# Most specific first: the first class an error is an instance of decides.
STATUS_OF: tuple[tuple[type[BaseException], int], ...] = (
    (RunNotFoundError, 404),
    (InputRequestNotFoundError, 404),
    (InputRequestAlreadyAnsweredError, 409),
    (InputRequestClosedError, 409),
    (RunFinishedError, 409),
    (StaleRunError, 409),
    (CorruptRecordError, 409),  # stored data of the run cannot be decoded
    (RunAlreadyExistsError, 409),
    (InvalidResponseError, 422),
    (ContextSerdeError, 422),
    (StoreConnectionError, 503),
    (WorkflowConfigurationError, 404),  # an unknown workflow name
    (WorkflowRuntimeError, 503),  # the engine is not open (starting or shutting down)
)


class ApiError(Exception):
    """An error answer decided by a route: HTTP status plus a message.

    Attributes:
        status: the HTTP status (its code in the body comes from :data:`CODES`).
        message: what was wrong, for people.
        headers: extra response headers (``Connection: close`` on a 413).
    """

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """The JSON error body of the API contract."""
    body = {"error": {"code": CODES.get(status, "bad_request"), "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_message(exc: ValidationError) -> str:
    return validation_summary(exc, limit=5) if exc.errors() else "invalid body"


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, headers=exc.headers or None)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(404, f"no route {request.method} {request.url.path}")
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    return error_response(422, _validation_message(exc))


# What a store says when it refuses a value it cannot hold (PostgreSQL and NUL, say):
# the input's fault, not the server's. The routes check ids and bodies first, so this is
# the net under them.
_REFUSED_VALUE = re.compile(
    r"not JSON-safe|0x00|CharacterNotInRepertoire|UntranslatableCharacter|"
    r"surrogates not allowed|out of int64 range|too large to convert"
)


async def _workflow_error(request: Request, exc: Exception) -> Response:
    for cls, status in STATUS_OF:
        if isinstance(exc, cls):
            return error_response(status, str(exc))
    if isinstance(exc, StoreError) and _REFUSED_VALUE.search(str(exc)):
        return error_response(422, f"the store cannot hold a value of this request: {exc}")
    return await _last_resort(request, exc)


async def _last_resort(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal server error (logged on the server)")


def exception_handlers() -> dict[Any, Any]:
    """The app's exception handlers, by exception class."""
    return {
        ApiError: _api_error,
        HTTPException: _http_error,
        ValidationError: _validation_error,
        WorkflowError: _workflow_error,
        Exception: _last_resort,
    }
