"""The exception tree of the library.

All errors raised by ``workflows`` derive from :class:`WorkflowError`::

    WorkflowError
    ├── WorkflowValidationError        bad step signature or workflow graph
    ├── WorkflowConfigurationError     bad options (a step config, a serializer, ...)
    ├── WorkflowRuntimeError           misuse while a run is going on
    │   ├── WorkflowStepDoesNotExistError  an event was addressed to an unknown step
    │   ├── TaskFieldError             a task field of a prompt (assignee, due, ...) is wrong
    │   ├── RunFinishedError           the run has finished (also a StoreError)
    │   ├── RunNotWaitingError         the run's state can be changed only while it waits
    │   ├── CheckpointNotForkableError  a fork cannot start from this checkpoint
    │   └── RunFailedError             awaiting a remote run that failed (client)
    ├── ContextStateError              the state store was used wrongly
    ├── WorkflowTimeoutError           the run exceeded ``Workflow(timeout=...)``
    ├── WorkflowCancelledByUser        the run was cancelled with ``cancel_run()``
    ├── WorkflowDone                   (compatibility name; never raised to callers)
    ├── ContextSerdeError              a snapshot could not be encoded or decoded
    ├── UnreconstructedException       stands in for an exception that could not be rebuilt
    ├── StoreError                     a run store failed or refused an operation
    │   ├── StoreConnectionError       the store URL is wrong or the store unreachable
    │   ├── StoreSchemaError           the store's schema is of a version we cannot use
    │   ├── RunNotFoundError
    │   ├── CheckpointNotFoundError    a run has no checkpoint of that number
    │   ├── RunAlreadyExistsError
    │   ├── RunFinishedError           (see above)
    │   ├── StaleRunError              a commit lost a race (version / lease fencing)
    │   ├── CorruptRecordError         a stored value of a run cannot be decoded
    │   ├── InputRequestNotFoundError
    │   ├── InputRequestAlreadyAnsweredError
    │   │   └── IdempotencyConflictError  an answer's Idempotency-Key came with another body
    │   ├── InputRequestClosedError    the request expired or was cancelled
    │   ├── RequestAssigneeChangedError  the request's assignee is not the one expected
    │   └── InvalidResponseError       a response does not fit the request's schema
    └── ClientError                    an HTTP error of the client with no better class
        ├── UnauthorizedError          401: no bearer token, or the wrong one
        ├── ForbiddenError             403: the caller may not do this (another's task)
        └── ServerUnreachableError     the server could not be reached (after retries)

The names shared with the reference API (``WorkflowValidationError`` ...
``ContextStateError``, ``WorkflowDone``) are siblings under the root, as there, so
``except`` clauses written for the reference catch the same errors here. One exception:
``WorkflowStepDoesNotExistError`` is a ``WorkflowRuntimeError``, because the reference
raises a plain ``WorkflowRuntimeError`` for an event sent to an unknown step.

Every class is importable from here; the store's and the client's own modules
(``workflows.stores``, ``workflows.client``) re-export the ones they raise. The HTTP
API names each error kind with a code (``run_not_found``, ...): the table of codes,
classes and statuses is :mod:`workflows.error_codes`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CheckpointNotForkableError",
    "CheckpointNotFoundError",
    "ClientError",
    "ContextSerdeError",
    "ContextStateError",
    "CorruptRecordError",
    "ForbiddenError",
    "IdempotencyConflictError",
    "InputRequestAlreadyAnsweredError",
    "InputRequestClosedError",
    "InputRequestNotFoundError",
    "InvalidResponseError",
    "RequestAssigneeChangedError",
    "RunAlreadyExistsError",
    "RunFailedError",
    "RunFinishedError",
    "RunNotFoundError",
    "RunNotWaitingError",
    "ServerUnreachableError",
    "StaleRunError",
    "StoreConnectionError",
    "StoreError",
    "StoreSchemaError",
    "TaskFieldError",
    "UnauthorizedError",
    "UnreconstructedException",
    "WorkflowCancelledByUser",
    "WorkflowConfigurationError",
    "WorkflowDone",
    "WorkflowError",
    "WorkflowRuntimeError",
    "WorkflowStepDoesNotExistError",
    "WorkflowTimeoutError",
    "WorkflowValidationError",
]


class WorkflowError(Exception):
    """Root of every error raised by the library."""


class WorkflowValidationError(WorkflowError):
    """A step signature or the workflow's event graph is invalid."""


class WorkflowConfigurationError(WorkflowError):
    """An option given to a workflow, step or serializer is invalid."""


class WorkflowRuntimeError(WorkflowError):
    """The API was used in a way that is not allowed while a run exists or is going on."""


class WorkflowStepDoesNotExistError(WorkflowRuntimeError):
    """An event was targeted at a step name the workflow does not have.

    A :class:`WorkflowRuntimeError`, which is what the reference raises in this case.
    """

    def __init__(self, step_name: str, available: list[str] | None = None) -> None:
        self.step_name = step_name
        self.available = sorted(available or [])
        message = f"step {step_name!r} does not exist"
        if self.available:
            message += f" (steps: {', '.join(self.available)})"
        super().__init__(message)


class TaskFieldError(WorkflowRuntimeError, ValueError):
    """A task field of a prompt or waiter event (``assignee``, ``due``, ...) cannot be
    used; the message names the field and why (see :mod:`workflows.tasks`)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"task field {field!r}: {problem}")


class ContextStateError(WorkflowError):
    """The state store was used in a way its state type does not allow."""


class WorkflowTimeoutError(WorkflowError):
    """The run did not finish within the workflow's timeout."""


class WorkflowCancelledByUser(WorkflowError):
    """The run was cancelled by its caller."""


class WorkflowDone(WorkflowError):
    """Kept for compatibility: the reference stops its workers with it when a run ends.

    This library never raises it to callers.
    """


class ContextSerdeError(WorkflowError):
    """A context snapshot could not be encoded, or a payload could not be decoded."""


class UnreconstructedException(WorkflowError):
    """Stands in for an exception that could not be rebuilt after a reload.

    A stored exception keeps only its type name and message. When that type cannot be
    found (or built from the message), this class carries the message instead:
    ``str(exc)`` is the original message and ``original_type`` the original
    ``module.QualName``.

    Args:
        message: the original exception's message.
        original_type: the original exception's ``module.QualName``, if known.
    """

    def __init__(self, message: str, *, original_type: str | None = None) -> None:
        super().__init__(message)
        self.original_type = original_type

    def __repr__(self) -> str:
        return f"UnreconstructedException(original_type={self.original_type!r}, {self.args[0]!r})"


class StoreError(WorkflowError):
    """A run store failed, or refused an operation."""


class StoreConnectionError(StoreError):
    """The store URL is malformed, names an unknown scheme, or the store is unreachable."""


class StoreSchemaError(StoreError):
    """The store holds a schema version this library cannot use (usually a newer one)."""


class RunNotFoundError(StoreError):
    """No run with the given id exists."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"run {run_id!r} not found")


class CheckpointNotFoundError(StoreError):
    """The run has no stored checkpoint with the given sequence number (never kept, or
    dropped by the retention setting); ``seq`` is ``None`` when it is not known (the
    client's error, raised from the server's answer)."""

    def __init__(self, run_id: str, seq: int | None = None) -> None:
        self.run_id = run_id
        self.seq = seq
        which = "such checkpoint" if seq is None else f"checkpoint {seq}"
        super().__init__(f"run {run_id!r} has no {which}")


class RunAlreadyExistsError(StoreError):
    """A run with the given id already exists."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"run {run_id!r} already exists")


class RunFinishedError(StoreError, WorkflowRuntimeError):
    """The run has finished, so it takes no more events, answers or commits.

    Also a :class:`WorkflowRuntimeError`, which is what the local handler raises when
    an event is sent to a run that has ended.
    """

    def __init__(self, run_id: str, status: str) -> None:
        self.run_id = run_id
        self.status = status
        super().__init__(f"run {run_id!r} is {status}; it accepts no more events")


class RunNotWaitingError(WorkflowRuntimeError):
    """The run's state can be changed only while the run waits for outside input."""

    def __init__(self, run_id: str, status: str) -> None:
        self.run_id = run_id
        self.status = status
        super().__init__(
            f"run {run_id!r} is {status}: its state can be changed only while it waits"
        )


class CheckpointNotForkableError(WorkflowRuntimeError):
    """A fork cannot start from this checkpoint: it is the end of its run (nothing would
    be left to do), or the registered workflow cannot restore or encode it again."""

    def __init__(self, run_id: str, seq: int | None, why: str) -> None:
        self.run_id = run_id
        self.seq = seq
        self.why = why
        which = "a checkpoint" if seq is None else f"checkpoint {run_id}:c{seq}"
        super().__init__(f"{which} of run {run_id!r} cannot be forked: {why}")


class StaleRunError(StoreError):
    """A commit was refused because the run changed since it was loaded (or the lease was lost)."""

    def __init__(self, run_id: str, detail: str = "") -> None:
        self.run_id = run_id
        message = f"run {run_id!r} was changed by someone else"
        super().__init__(f"{message}: {detail}" if detail else message)


class InputRequestNotFoundError(StoreError):
    """No input request with the given id exists."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        super().__init__(f"input request {request_id!r} not found")


class InputRequestAlreadyAnsweredError(StoreError):
    """The input request was already answered with a different response."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        super().__init__(
            f"input request {request_id!r} was already answered with a different response"
        )


class IdempotencyConflictError(InputRequestAlreadyAnsweredError):
    """An answer repeated the accepted answer's Idempotency-Key with a different body.

    A retry must repeat the same body; a new answer needs a new key.
    """

    def __init__(self, request_id: str) -> None:
        super().__init__(request_id)
        self.args = (
            f"input request {request_id!r} was already answered with a different "
            "response under this Idempotency-Key",
        )


class InputRequestClosedError(StoreError):
    """The input request was expired or cancelled, so it can no longer be answered."""

    def __init__(self, request_id: str, status: str) -> None:
        self.request_id = request_id
        self.status = status
        super().__init__(f"input request {request_id!r} is {status}; it can no longer be answered")


class RequestAssigneeChangedError(StoreError):
    """A change of a request's assignee expected another assignee than the stored one.

    Two users claiming one request at once: the second finds it claimed. ``assignee``
    is who holds the request now (``None``: nobody).
    """

    def __init__(self, request_id: str, assignee: str | None) -> None:
        self.request_id = request_id
        self.assignee = assignee
        held = "is not assigned to anyone" if assignee is None else f"is assigned to {assignee!r}"
        super().__init__(f"input request {request_id!r} {held} now")


class InvalidResponseError(StoreError):
    """A response does not match the JSON schema of the request it answers."""

    def __init__(self, request_id: str, detail: str) -> None:
        self.request_id = request_id
        self.detail = detail
        super().__init__(f"response to input request {request_id!r} is invalid: {detail}")


class CorruptRecordError(StoreError):
    """A value stored for a run cannot be decoded: its row is damaged.

    Raised by a store instead of the decoder's own error when a stored JSON column
    (a run's snapshot, result or error; an input request's payload, response schema
    or response; an inbound event's payload; a stream entry's payload) is not valid
    JSON, is nested too deeply to decode, or is not the JSON type the column holds.
    Listings do not raise it: they return the damaged row marked (``corrupt``).

    Attributes:
        run_id: the run the damaged value belongs to.
        column: the damaged field (``snapshot``, ``result``, ``error``, ``payload``,
            ``response_schema`` or ``response``).
        key: which row of the run holds it when it is not the run's own row
            (``"input request 'r:1'"``, ``"inbound event 7"``, ``"stream entry 3"``),
            else ``None``.
        cause: why it cannot be decoded.
        record: for a damage in the run's own row, the run as far as it could be read
            (a ``RunRecord`` with the damaged fields empty and ``corrupt`` set), so a
            caller can still see its status and version; else ``None``.
    """

    def __init__(
        self,
        run_id: str,
        column: str,
        cause: str,
        *,
        key: str | None = None,
        record: Any = None,
    ) -> None:
        self.run_id = run_id
        self.column = column
        self.key = key
        self.cause = cause
        self.record = record
        where = f"{column} of {key}" if key else column
        super().__init__(f"run {run_id!r}: the stored {where} cannot be decoded: {cause}")


class ClientError(WorkflowError):
    """The server answered with an error the library has no more specific class for.

    Raised by :mod:`workflows.client`, also for an error code it does not know (a newer
    server's), keeping that code.

    Attributes:
        status_code: The HTTP status (``None`` when no response came).
        code: The error code of the body (``bad_parameter``, ``body_too_large``, ...).
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


class ForbiddenError(ClientError):
    """The server knows the caller but refuses what they asked (403): answering or
    reassigning a task assigned to someone else, an admin-only endpoint, or naming
    another user in ``X-Workflows-User``."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 403, "forbidden")


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
