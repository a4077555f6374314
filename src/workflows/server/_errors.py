"""Errors as HTTP responses: every known failure is answered with its code's status.

Routes raise :class:`ApiError` naming the code of what they detect themselves; library
errors that reach the app are answered with the code of their class. Codes, statuses
and classes come from the one table, :mod:`workflows.error_codes`. The last-resort
handler (a genuine bug) logs the traceback and answers a JSON 500.
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

from ..error_codes import code_for, error_body, lookup
from ..errors import StoreError, WorkflowError
from ..runtime.validation_text import validation_summary

logger = logging.getLogger("workflows.server")

__all__ = ["ApiError", "error_response", "exception_handlers", "stream_error_body"]


class ApiError(Exception):
    """An error answer decided by a route: an error code plus a message.

    Attributes:
        code: the error code (see :mod:`workflows.error_codes`).
        status: the HTTP status of that code.
        message: what was wrong, for people.
        headers: extra response headers (``Connection: close`` on a 413).

    Raises:
        KeyError: ``code`` is not in the table.
    """

    def __init__(self, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = lookup(code).status
        self.message = message
        self.headers = dict(headers or {})


def error_response(code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """The JSON error response of the API contract for ``code``."""
    return JSONResponse(error_body(code, message), status_code=lookup(code).status, headers=headers)


def _validation_message(exc: ValidationError) -> str:
    return validation_summary(exc, limit=5) if exc.errors() else "invalid body"


def stream_error_body(exc: WorkflowError) -> dict[str, Any]:
    """The error body an SSE stream sends when reading on fails: the store went away
    (``store_unavailable``) or a stored value cannot be decoded (``corrupt_record``)."""
    row = code_for(exc)
    return error_body(row.code if row is not None else "store_unavailable", str(exc))


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.code, exc.message, headers=exc.headers or None)


# Starlette's own refusals (routing): the code of their status.
_HTTP_CODES = {405: "method_not_allowed", 413: "body_too_large"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response("not_found", f"no route {request.method} {request.url.path}")
    code = _HTTP_CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal")
    body = error_body(code, str(exc.detail))
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    return error_response("validation_failed", _validation_message(exc))


# What a store says when it refuses a value it cannot hold (PostgreSQL and NUL, say):
# the input's fault, not the server's. The routes check ids and bodies first, so this is
# the net under them.
_REFUSED_VALUE = re.compile(
    r"not JSON-safe|0x00|CharacterNotInRepertoire|UntranslatableCharacter|"
    r"surrogates not allowed|out of int64 range|too large to convert"
)


async def _workflow_error(request: Request, exc: Exception) -> Response:
    row = code_for(exc)
    if row is not None:
        return error_response(row.code, str(exc))
    if isinstance(exc, StoreError) and _REFUSED_VALUE.search(str(exc)):
        message = f"the store cannot hold a value of this request: {exc}"
        return error_response("value_not_storable", message)
    return await _last_resort(request, exc)


async def _last_resort(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response("internal", "internal server error (logged on the server)")


def exception_handlers() -> dict[Any, Any]:
    """The app's exception handlers, by exception class."""
    return {
        ApiError: _api_error,
        HTTPException: _http_error,
        ValidationError: _validation_error,
        WorkflowError: _workflow_error,
        Exception: _last_resort,
    }
