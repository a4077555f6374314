"""Errors of the HTTP client, and the mapping of HTTP error responses to library errors.

::

    WorkflowError
    ├── ClientError                  an HTTP error the library has no better name for
    │   ├── UnauthorizedError        401: no token, or the wrong one
    │   └── ServerUnreachableError   the server could not be reached (after retries)
    └── WorkflowRuntimeError
        └── RunFailedError           awaiting a remote run that failed

Most error responses become the library's own exceptions, carrying the server's
message: 404 on a run is :class:`~workflows.errors.RunNotFoundError`, 409 on an answer
is :class:`~workflows.errors.InputRequestAlreadyAnsweredError`, 409 on a finished run a
:class:`~workflows.errors.WorkflowRuntimeError` (as the local handler raises), 422 an
:class:`~workflows.errors.InvalidResponseError` or
:class:`~workflows.errors.WorkflowValidationError` (see :func:`error_for_response`).
"""

from __future__ import annotations

from typing import Any, Literal

import httpx

from ..errors import (
    InputRequestAlreadyAnsweredError,
    InputRequestNotFoundError,
    InvalidResponseError,
    RunNotFoundError,
    WorkflowConfigurationError,
    WorkflowError,
    WorkflowRuntimeError,
    WorkflowValidationError,
)
from ..stores import InputRequestClosedError

__all__ = [
    "ClientError",
    "RunFailedError",
    "ServerUnreachableError",
    "Subject",
    "UnauthorizedError",
    "error_for_response",
]

Subject = Literal["run", "request", "workflow", "other"]
"""What a request was about; it decides which library error a 404/409/422 becomes."""


class ClientError(WorkflowError):
    """The server answered with an error the library has no more specific class for.

    Attributes:
        status_code: The HTTP status (``None`` when no response came).
        code: The error code of the body (``bad_request``, ``unavailable``, ...).
        message: The server's message.
    """

    def __init__(self, message: str, status_code: int | None = None, code: str = "") -> None:
        self.status_code = status_code
        self.code = code
        self.message = message
        prefix = f"HTTP {status_code}" if status_code is not None else "request failed"
        super().__init__(f"{prefix}: {message}" if code != "unreachable" else message)


class UnauthorizedError(ClientError):
    """The server needs a bearer token and got none, or a wrong one."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 401, "unauthorized")
        self.args = (f"unauthorized: {message} (give the server's token with token=...)",)


class ServerUnreachableError(ClientError):
    """No connection to the server could be made (or kept) within the retry budget."""

    def __init__(self, base_url: str, detail: str) -> None:
        self.base_url = base_url
        super().__init__(
            f"cannot reach the workflows server at {base_url}: {detail}", None, "unreachable"
        )


class RunFailedError(WorkflowRuntimeError):
    """A remote run failed: a step raised and nothing recovered.

    Attributes:
        run_id: The run.
        error_type: The class name of the exception that ended it (on the server).
        error_message: That exception's message.
    """

    def __init__(self, run_id: str, error_type: str, error_message: str) -> None:
        self.run_id = run_id
        self.error_type = error_type
        self.error_message = error_message
        super().__init__(f"run {run_id} failed: {error_type}: {error_message}")


def _body(response: httpx.Response) -> tuple[str, str]:
    """``(code, message)`` of an error response, tolerating bodies that are not ours."""
    try:
        data: Any = response.json()
        error = data["error"]
        return str(error.get("code", "")), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        text = response.text.strip()[:200] or response.reason_phrase
        return "", text


def _with_message(exc: WorkflowError, message: str) -> WorkflowError:
    # The library's error classes build their own message from ids; over HTTP the
    # server's message is the informative one, so it replaces the built one.
    if message:
        exc.args = (message,)
    return exc


def error_for_response(response: httpx.Response, subject: Subject, key: str = "") -> WorkflowError:
    """The library error for an HTTP error ``response``.

    Args:
        response: A response with a 4xx/5xx status (its body already read).
        subject: What the request was about (``run``, ``request``, ``workflow``).
        key: The run id, request id or workflow name the request named.
    """
    status = response.status_code
    code, message = _body(response)
    if status == 401:
        return UnauthorizedError(message or "a bearer token is required")
    if status == 404 and code in ("not_found", ""):
        if subject == "run":
            return _with_message(RunNotFoundError(key), message)
        if subject == "request":
            return _with_message(InputRequestNotFoundError(key), message)
        if subject == "workflow":
            return WorkflowConfigurationError(message or f"no workflow named {key!r}")
    if status == 409:
        if subject == "request":
            if "answered" in message:
                return _with_message(InputRequestAlreadyAnsweredError(key), message)
            return _with_message(InputRequestClosedError(key, "closed"), message)
        return WorkflowRuntimeError(message or f"{subject} {key!r} is finished")
    if status == 422:
        if subject == "request":
            return _with_message(InvalidResponseError(key, message), message)
        return WorkflowValidationError(message)
    return ClientError(message, status, code)
