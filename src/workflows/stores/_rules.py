"""Decisions shared by every store, kept free of I/O so all stores decide alike."""

from __future__ import annotations

from typing import Any

from workflows.errors import (
    InputRequestAlreadyAnsweredError,
    InvalidResponseError,
    StoreError,
)
from workflows.stores._codec import decode, encode
from workflows.stores._errors import InputRequestClosedError
from workflows.stores._records import (
    REQUEST_STATUSES,
    RUN_STATUSES,
    Answer,
    Commit,
    InputRequest,
)
from workflows.stores._schema_check import SchemaViolation, check_response

__all__ = [
    "answer_parts",
    "answer_payload",
    "check_answered_by",
    "check_commit",
    "check_new_run_status",
    "check_paging",
    "check_quarantine",
    "check_response_fits",
    "is_repeat_answer",
    "lease_lost_message",
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
