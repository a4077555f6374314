"""The error vocabulary of the HTTP API: one table of code, HTTP status and exception class.

Every error body the server writes is ``{"error": {"code": ..., "message": ...}}``, its
``code`` one of :data:`ERROR_CODES`. The server renders a library exception with the
code of its class (the first row naming the class or, failing that, one of its bases;
never ``WorkflowValidationError``, see :func:`code_for`) and its own refusals with the
code they name; the client raises the class of the code
it reads (:func:`error_from_code`), so neither side guesses from statuses or messages.

A class may stand for several codes (every refusal of a body as
:class:`~workflows.errors.WorkflowValidationError`, say); it is rendered with the first.
``docs/server-api.md`` lists the codes with their statuses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import (
    CheckpointNotForkableError,
    CheckpointNotFoundError,
    ClientError,
    ContextSerdeError,
    CorruptRecordError,
    ForbiddenError,
    IdempotencyConflictError,
    InputRequestAlreadyAnsweredError,
    InputRequestClosedError,
    InputRequestNotFoundError,
    InvalidResponseError,
    RequestAssigneeChangedError,
    RunAlreadyExistsError,
    RunFinishedError,
    RunNotFoundError,
    RunNotWaitingError,
    StaleRunError,
    StoreConnectionError,
    UnauthorizedError,
    WorkflowConfigurationError,
    WorkflowError,
    WorkflowRuntimeError,
    WorkflowValidationError,
)

__all__ = ["ERROR_CODES", "ErrorCode", "code_for", "error_body", "error_from_code", "lookup"]


@dataclass(frozen=True)
class ErrorCode:
    """One kind of HTTP error.

    Attributes:
        code: the machine-readable name in the body (``run_not_found``).
        status: the HTTP status it is answered with.
        error: the exception class the client raises for it (and that the server
            renders with it, unless an earlier row names the class).
        meaning: when it is answered, for people (the API doc lists it).
    """

    code: str
    status: int
    error: type[WorkflowError]
    meaning: str


ERROR_CODES: tuple[ErrorCode, ...] = (
    ErrorCode("bad_request", 400, ClientError, "a request the server cannot read otherwise"),
    ErrorCode("malformed_json", 400, ClientError, "the body is not UTF-8 JSON"),
    ErrorCode("body_required", 400, ClientError, "the endpoint needs a JSON body"),
    ErrorCode(
        "bad_parameter",
        400,
        ClientError,
        "a query value or header is malformed, out of range, repeated or not taken here",
    ),
    ErrorCode("unauthorized", 401, UnauthorizedError, "no bearer token, or the wrong one"),
    ErrorCode(
        "forbidden",
        403,
        ForbiddenError,
        "the caller may not do this: answer or reassign another user's task, an admin-only "
        "endpoint, an X-Workflows-User header naming someone else",
    ),
    ErrorCode("run_not_found", 404, RunNotFoundError, "no run has this id"),
    ErrorCode("request_not_found", 404, InputRequestNotFoundError, "no input request has this id"),
    ErrorCode(
        "checkpoint_not_found",
        404,
        CheckpointNotFoundError,
        "the run has no kept checkpoint of this id (never kept, or dropped by its history setting)",
    ),
    ErrorCode(
        "unknown_workflow", 404, WorkflowConfigurationError, "no workflow of this name is served"
    ),
    ErrorCode("not_found", 404, ClientError, "no such route or page"),
    ErrorCode("method_not_allowed", 405, ClientError, "the route does not take this method"),
    ErrorCode("run_finished", 409, RunFinishedError, "the run has finished"),
    ErrorCode(
        "run_not_waiting",
        409,
        RunNotWaitingError,
        "the run is running: its state can be changed only while it waits for input",
    ),
    ErrorCode(
        "checkpoint_not_forkable",
        409,
        CheckpointNotForkableError,
        "a fork cannot start from this checkpoint (the end of its run, or one the "
        "registered workflow cannot restore)",
    ),
    ErrorCode("run_already_exists", 409, RunAlreadyExistsError, "a run with this id exists"),
    ErrorCode("stale_run", 409, StaleRunError, "the run changed meanwhile; try again"),
    ErrorCode("corrupt_record", 409, CorruptRecordError, "a stored value cannot be decoded"),
    ErrorCode(
        "request_already_answered",
        409,
        InputRequestAlreadyAnsweredError,
        "the input request was answered with a different response",
    ),
    ErrorCode(
        "idempotency_conflict",
        409,
        IdempotencyConflictError,
        "the accepted answer's Idempotency-Key came with a different body",
    ),
    ErrorCode(
        "request_closed", 409, InputRequestClosedError, "the input request expired or was cancelled"
    ),
    ErrorCode(
        "request_claimed",
        409,
        RequestAssigneeChangedError,
        "the input request's assignee changed meanwhile (another user claimed it)",
    ),
    ErrorCode(
        "workflow_not_registered",
        409,
        WorkflowConfigurationError,
        "the run's workflow is not registered on this server",
    ),
    ErrorCode("body_too_large", 413, ClientError, "the body is larger than the server's limit"),
    ErrorCode(
        "validation_failed",
        422,
        WorkflowValidationError,
        "the body, the start input or an event's fields fail validation",
    ),
    ErrorCode(
        "invalid_response",
        422,
        InvalidResponseError,
        "an answer does not fit the input request's response schema",
    ),
    ErrorCode(
        "unknown_event_type",
        422,
        WorkflowValidationError,
        "the workflow has no event type of this name",
    ),
    ErrorCode(
        "unknown_step", 422, WorkflowValidationError, "the workflow has no step of this name"
    ),
    ErrorCode(
        "event_not_accepted",
        422,
        WorkflowValidationError,
        "no step (or not the named step) takes the event, and the run does not wait for it",
    ),
    ErrorCode(
        "control_events_disabled",
        422,
        WorkflowValidationError,
        "a control event (StopEvent, StartEvent, ...) for a workflow not opted in",
    ),
    ErrorCode(
        "json_too_deep", 422, WorkflowValidationError, "the JSON body nests deeper than the limit"
    ),
    ErrorCode(
        "json_too_many_items",
        422,
        WorkflowValidationError,
        "the JSON body has more items than the limit",
    ),
    ErrorCode(
        "json_bad_number",
        422,
        WorkflowValidationError,
        "a number literal is longer than the limit, or not finite",
    ),
    ErrorCode("json_bad_string", 422, WorkflowValidationError, "a string holds a lone surrogate"),
    ErrorCode(
        "value_not_storable",
        422,
        WorkflowValidationError,
        "the store cannot hold a value of the request",
    ),
    ErrorCode("serde_failed", 422, ContextSerdeError, "a value cannot be encoded or decoded"),
    ErrorCode("internal", 500, ClientError, "a bug of the server (logged there)"),
    ErrorCode("store_unavailable", 503, StoreConnectionError, "the server's store does not answer"),
    ErrorCode(
        "not_ready",
        503,
        WorkflowRuntimeError,
        "the server is starting, stopping, or its engine has failed",
    ),
)
"""Every error code, grouped by status."""

_BY_CODE: dict[str, ErrorCode] = {row.code: row for row in ERROR_CODES}
# A WorkflowValidationError raised on the server is a workflow defined wrongly, a bug
# of the server's code (a 500); routes name the codes of refused input themselves.
_BY_CLASS: dict[type[WorkflowError], ErrorCode] = {}
for _row in ERROR_CODES:
    if _row.error is not WorkflowValidationError:
        _BY_CLASS.setdefault(_row.error, _row)
del _row

# Classes built from the id the request named (their messages are replaced by the
# server's, which is the informative one).
_KEYED: dict[type[WorkflowError], Callable[[str, str], WorkflowError]] = {
    RunNotFoundError: lambda key, _: RunNotFoundError(key),
    CheckpointNotFoundError: lambda key, _: CheckpointNotFoundError(key),
    RunNotWaitingError: lambda key, _: RunNotWaitingError(key, "running"),
    CheckpointNotForkableError: lambda key, message: CheckpointNotForkableError(key, None, message),
    RunAlreadyExistsError: lambda key, _: RunAlreadyExistsError(key),
    StaleRunError: lambda key, _: StaleRunError(key),
    RunFinishedError: lambda key, _: RunFinishedError(key, "finished"),
    CorruptRecordError: lambda key, message: CorruptRecordError(key, "record", message),
    InputRequestNotFoundError: lambda key, _: InputRequestNotFoundError(key),
    InputRequestAlreadyAnsweredError: lambda key, _: InputRequestAlreadyAnsweredError(key),
    IdempotencyConflictError: lambda key, _: IdempotencyConflictError(key),
    InputRequestClosedError: lambda key, _: InputRequestClosedError(key, "closed"),
    InvalidResponseError: lambda key, message: InvalidResponseError(key, message),
    RequestAssigneeChangedError: lambda key, _: RequestAssigneeChangedError(key, None),
}


def lookup(code: str) -> ErrorCode:
    """The row of ``code``.

    Raises:
        KeyError: ``code`` is not in the table.
    """
    return _BY_CODE[code]


def code_for(exc: BaseException) -> ErrorCode | None:
    """The row a raised exception is rendered with: its class's, else its nearest
    base's (``None`` for a class the table does not know, e.g. a bare ``StoreError``,
    and for a ``WorkflowValidationError``: on the server that is a workflow defined
    wrongly, a bug rather than a refusal of the request)."""
    for cls in type(exc).__mro__:
        row = _BY_CLASS.get(cls)
        if row is not None:
            return row
    return None


def error_body(code: str, message: str) -> dict[str, Any]:
    """The JSON error body of the API contract.

    Raises:
        KeyError: ``code`` is not in the table.
    """
    return {"error": {"code": lookup(code).code, "message": message}}


def error_from_code(code: str, message: str, status: int, key: str = "") -> WorkflowError:
    """The exception the client raises for an error body.

    Args:
        code: the body's code; one this table does not know becomes a
            :class:`~workflows.errors.ClientError` keeping it.
        message: the body's message (the exception's message).
        status: the response's HTTP status.
        key: the run id, request id or workflow name the request named (the id of the
            errors that carry one).
    """
    row = _BY_CODE.get(code)
    if row is None or row.error is ClientError:
        return ClientError(message, status, code)
    if row.error is UnauthorizedError:
        return UnauthorizedError(message or "a bearer token is required")
    if row.error is ForbiddenError:
        return ForbiddenError(message or "forbidden")
    keyed = _KEYED.get(row.error)
    if keyed is None:
        return row.error(message)
    exc = keyed(key, message)
    if message:
        exc.args = (message,)
    return exc
