"""Errors of the HTTP client, and the mapping of HTTP error responses to library errors.

The classes live in the one exception tree of :mod:`workflows.errors`::

    WorkflowError
    ├── ClientError                  an HTTP error the library has no better name for
    │   ├── UnauthorizedError        401: no token, or the wrong one
    │   ├── ForbiddenError           403: the caller may not do this (another's task)
    │   └── ServerUnreachableError   the server could not be reached (after retries)
    └── WorkflowRuntimeError
        └── RunFailedError           awaiting a remote run that failed

An error response becomes the class its body's code names in
:mod:`workflows.error_codes`, carrying the server's message: ``run_not_found`` is
:class:`~workflows.errors.RunNotFoundError`, ``request_already_answered``
:class:`~workflows.errors.InputRequestAlreadyAnsweredError`, ``request_claimed``
:class:`~workflows.errors.RequestAssigneeChangedError`, ``forbidden``
:class:`ForbiddenError`, ``run_finished``
:class:`~workflows.errors.RunFinishedError` (a ``WorkflowRuntimeError``, as the local
handler raises), and so on. A code the table does not know (or a body that is not the
server's) becomes a :class:`ClientError` keeping the status, code and message.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..error_codes import error_from_code
from ..errors import (
    ClientError,
    ForbiddenError,
    RunFailedError,
    ServerUnreachableError,
    UnauthorizedError,
    WorkflowError,
)

__all__ = [
    "ClientError",
    "ForbiddenError",
    "RunFailedError",
    "ServerUnreachableError",
    "UnauthorizedError",
    "error_for_response",
]


def _body(response: httpx.Response) -> tuple[str, str]:
    """``(code, message)`` of an error response, tolerating bodies that are not ours."""
    try:
        data: Any = response.json()
        error = data["error"]
        return str(error.get("code", "")), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        text = response.text.strip()[:200] or response.reason_phrase
        return "", text


def error_for_response(response: httpx.Response, key: str = "") -> WorkflowError:
    """The library error for an HTTP error ``response``: the class of its body's code.

    Args:
        response: A response with a 4xx/5xx status (its body already read).
        key: The run id, request id or workflow name the request named (the id the
            raised error carries).
    """
    code, message = _body(response)
    return error_from_code(code, message, response.status_code, key)
