"""Decisions shared by every store, kept free of I/O so all stores decide alike."""

from __future__ import annotations

import math
from typing import Any

from workflows.errors import (
    InputRequestAlreadyAnsweredError,
    InvalidResponseError,
    StoreError,
)
from workflows.stores._codec import decode, encode
from workflows.stores._errors import InputRequestClosedError
from workflows.stores._records import (
    ASSIGNEE_ACTIONS,
    REQUEST_STATUSES,
    RUN_STATUSES,
    Answer,
    Commit,
    DeliveryAttempt,
    InputRequest,
)
from workflows.stores._schema_check import SchemaViolation, check_response

__all__ = [
    "answer_parts",
    "answer_payload",
    "assignee_detail",
    "check_answered_by",
    "check_assignee_change",
    "check_commit",
    "check_delivery",
    "check_name",
    "check_new_run_status",
    "check_paging",
    "check_quarantine",
    "check_response_fits",
    "check_task_fields",
    "created_detail",
    "is_repeat_answer",
    "lease_lost_message",
    "not_pending_error",
    "overdue_payload",
]


def check_new_run_status(status: str) -> None:
    """Refuse a status that is not a run status."""
    if status not in RUN_STATUSES:
        raise ValueError(f"unknown run status {status!r} (expected one of {sorted(RUN_STATUSES)})")


def lease_lost_message(owner: str, holder: str | None) -> str:
    """Why ``owner`` may not renew its lease: who holds the run now."""
    if holder is None:
        return f"lease of {owner!r} was released or taken over; the run has no owner now"
    return f"lease of {owner!r} was taken over by {holder!r}"


def check_paging(limit: int | None, offset: int) -> None:
    """Refuse a negative limit or offset."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")


def check_commit(commit: Commit) -> None:
    """Refuse a malformed commit before anything is written.

    Raises:
        ValueError: an unknown status.
        StoreError: a ``seq``, request id, closed request or consumed inbound event
            repeated inside the commit, a request of another run, or a new request that
            is not pending.
    """
    check_new_run_status(commit.status)
    seqs = [item[0] for item in commit.stream]
    if len(set(seqs)) != len(seqs):
        raise StoreError(f"commit of run {commit.run_id!r} repeats a stream seq: {seqs}")
    ids = set()
    for request in commit.new_requests:
        if request.run_id != commit.run_id:
            raise StoreError(
                f"input request {request.request_id!r} belongs to run {request.run_id!r}, "
                f"not to the committed run {commit.run_id!r}"
            )
        if request.status != "pending":
            raise StoreError(f"new input request {request.request_id!r} must be pending")
        if request.request_id in ids:
            raise StoreError(f"commit adds input request {request.request_id!r} twice")
        check_task_fields(request)
        ids.add(request.request_id)
    closed = [request_id for request_id, _ in commit.closed_requests]
    if len(set(closed)) != len(closed):
        raise StoreError(f"commit of run {commit.run_id!r} closes a request twice: {closed}")
    consumed = list(commit.consumed_inbound)
    if len(set(consumed)) != len(consumed):
        raise StoreError(
            f"commit of run {commit.run_id!r} consumes an inbound event twice: {consumed}"
        )
    for request_id, status in commit.closed_requests:
        if status not in REQUEST_STATUSES or status == "pending":
            raise ValueError(
                f"input request {request_id!r} cannot be closed as {status!r} "
                "(expected answered, expired or cancelled)"
            )
    if commit.answered_by:
        answered = {
            request_id for request_id, status in commit.closed_requests if status == "answered"
        }
        for request_id, name in commit.answered_by.items():
            if request_id not in answered:
                raise StoreError(
                    f"commit of run {commit.run_id!r} names who answered input request "
                    f"{request_id!r}, which it does not close as answered"
                )
            check_answered_by(name)


def check_answered_by(name: Any) -> None:
    """Refuse an ``answered_by`` that is neither ``None`` nor a string."""
    if name is not None and not isinstance(name, str):
        raise StoreError(f"answered_by must be a string or None, got {type(name).__name__}")


def answer_parts(answer: Answer) -> tuple[str, dict[str, Any], str | None, str | None]:
    """``(request_id, response, idempotency_key, answered_by)`` of one answer of
    ``answer_requests`` (``answered_by`` is ``None`` when the answer has three parts)."""
    if len(answer) == 4:
        return answer
    request_id, response, key = answer[:3]
    return request_id, response, key, None


def check_quarantine(run_id: str, error: Any) -> str:
    """Refuse a quarantine reason that is not a JSON object; return it encoded."""
    if not isinstance(error, dict):
        raise StoreError(
            f"the quarantine error of run {run_id!r} must be a dict, got {type(error).__name__}"
        )
    return encode(error, f"quarantine error of run {run_id!r}")


def check_response_fits(request: InputRequest, response: Any) -> None:
    """Raise ``InvalidResponseError`` if ``response`` does not fit the request's schema."""
    if not isinstance(response, dict):
        raise InvalidResponseError(
            request.request_id, f"expected a JSON object, got {type(response).__name__}"
        )
    try:
        check_response(response, request.response_schema)
    except SchemaViolation as exc:
        raise InvalidResponseError(request.request_id, str(exc)) from None


def is_repeat_answer(
    request: InputRequest, response: dict[str, Any], idempotency_key: str | None
) -> bool:
    """Decide about an answer to a request that is no longer pending.

    Returns ``True`` when the answer repeats the accepted one (same idempotency key, or
    the identical response), which makes it a no-op.

    Raises:
        InputRequestAlreadyAnsweredError: answered before with another response.
        InputRequestClosedError: the request expired or was cancelled.
    """
    if request.status != "answered":
        raise InputRequestClosedError(request.request_id, request.status)
    if idempotency_key is not None and idempotency_key == request.idempotency_key:
        return True
    normalised = decode(encode(response, f"response to input request {request.request_id!r}"))
    if request.response is not None and normalised == request.response:
        return True
    raise InputRequestAlreadyAnsweredError(request.request_id)


def answer_payload(request_id: str, response: dict[str, Any]) -> dict[str, Any]:
    """The payload of the inbound event that carries an answer to its run."""
    return {"request_id": request_id, "response": response}


_INT64 = 2**63


def check_name(name: Any, what: str) -> None:
    """Refuse a user or group name that is not a non-empty string of printable
    characters (a control character never is one: the stores rely on it)."""
    if not isinstance(name, str) or not name:
        raise StoreError(f"{what} must be a non-empty string, got {name!r}")
    if any(ord(char) < 32 for char in name):
        raise StoreError(f"{what} must not hold control characters, got {name!r}")


def check_task_fields(request: InputRequest) -> None:
    """Refuse a new request whose task fields a store cannot hold as given.

    Raises:
        StoreError: naming the request and the field.
    """
    what = f"input request {request.request_id!r}"
    if request.assignee is not None:
        check_name(request.assignee, f"the assignee of {what}")
    for field in ("candidate_users", "candidate_groups"):
        names = getattr(request, field)
        if isinstance(names, str) or not isinstance(names, (tuple, list)):
            raise StoreError(f"{field} of {what} must be a tuple of names, got {names!r}")
        for name in names:
            check_name(name, f"a name of {field} of {what}")
    priority = request.priority
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise StoreError(f"priority of {what} must be an integer, got {priority!r}")
    if not -_INT64 <= priority < _INT64:
        raise StoreError(f"priority of {what} is out of range (64-bit): {priority}")
    for field in ("due", "follow_up"):
        value = getattr(request, field)
        if value is not None and (
            not isinstance(value, (int, float))
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            raise StoreError(f"{field} of {what} must be POSIX seconds or None, got {value!r}")
    if request.overdue_at is not None:
        raise StoreError(f"new {what} cannot be overdue yet (the store marks it)")


def created_detail(request: InputRequest) -> dict[str, Any]:
    """The detail of a request's ``created`` audit entry: its task fields that are set."""
    detail: dict[str, Any] = {}
    if request.assignee is not None:
        detail["assignee"] = request.assignee
    if request.candidate_users:
        detail["candidate_users"] = list(request.candidate_users)
    if request.candidate_groups:
        detail["candidate_groups"] = list(request.candidate_groups)
    if request.priority:
        detail["priority"] = request.priority
    for field in ("due", "follow_up"):
        if getattr(request, field) is not None:
            detail[field] = getattr(request, field)
    return detail


def check_assignee_change(assignee: Any, actor: Any, action: Any) -> None:
    """Refuse a malformed ``RunStore.set_assignee`` call.

    Raises:
        ValueError: an action that is not a change of assignee.
        StoreError: an assignee that is not a name, or an actor that is not a string
            (either may be ``None``).
    """
    if action not in ASSIGNEE_ACTIONS:
        raise ValueError(
            f"unknown assignee action {action!r} (expected one of {sorted(ASSIGNEE_ACTIONS)})"
        )
    if assignee is not None:
        check_name(assignee, "the assignee")
    if actor is not None and not isinstance(actor, str):
        raise StoreError(f"actor must be a string or None, got {type(actor).__name__}")


def assignee_detail(new: str | None, previous: str | None) -> dict[str, Any]:
    """The detail of a change of assignee's audit entry."""
    return {"assignee": new, "previous": previous}


def not_pending_error(request_id: str, status: str) -> StoreError:
    """What changing a request that is no longer pending raises, as answering it would:
    ``InputRequestAlreadyAnsweredError`` once answered, else ``InputRequestClosedError``."""
    if status == "answered":
        return InputRequestAlreadyAnsweredError(request_id)
    return InputRequestClosedError(request_id, status)


def overdue_payload(request_id: str, due: float | None) -> dict[str, Any]:
    """The payload of the inbound event that tells a run its request is overdue."""
    return {"overdue": request_id, "due": due}


def check_delivery(attempt: DeliveryAttempt) -> None:
    """Refuse a delivery attempt a store cannot hold as given.

    Raises:
        StoreError: naming the field.
    """
    for name in ("endpoint", "request_id"):
        if not isinstance(getattr(attempt, name), str):
            raise StoreError(f"the {name} of a delivery attempt must be a string")
    for name in ("audit_id", "attempt"):
        value = getattr(attempt, name)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < _INT64:
            raise StoreError(f"the {name} of a delivery attempt must be an integer >= 0")
    code = attempt.status_code
    if code is not None and (not isinstance(code, int) or not 0 <= code < 1000):
        raise StoreError(f"the status code of a delivery attempt must be an HTTP status: {code!r}")
    if attempt.error is not None and not isinstance(attempt.error, str):
        raise StoreError("the error of a delivery attempt must be a string or None")
    if not isinstance(attempt.at, (int, float)) or not math.isfinite(attempt.at):
        raise StoreError(f"the time of a delivery attempt must be POSIX seconds: {attempt.at!r}")
