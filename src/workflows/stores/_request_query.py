"""Listing requests by :class:`RequestQuery`: checks, the three orders and their cursors.

Pure code shared by the stores. The memory store filters and sorts with
:func:`matches` and :func:`compare`; the SQL stores write the same filters and orders
in SQL, and every store pages with the same opaque cursors: the urlsafe base64 text of
the JSON list ``[sort, *key]``, where ``key`` is the last row's :func:`sort_values`.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from workflows.stores._records import REQUEST_SORTS, REQUEST_STATUSES, InputRequest, RequestQuery
from workflows.stores._visibility import visible_to

__all__ = [
    "MAX_LIMIT",
    "check_query",
    "compare",
    "decode_cursor",
    "encode_cursor",
    "matches",
    "sort_values",
]

MAX_LIMIT = 1000
"""The largest page :class:`RequestQuery` may ask for."""

# Per sort: the direction of each value of the key (True: ascending).
_DIRECTIONS: dict[str, tuple[bool, ...]] = {
    "created": (False, False),
    "priority": (False, False, False),
    "due": (True, True, False, False),  # due IS NULL, due, created_at, request_id
}


def check_query(query: RequestQuery) -> list[Any] | None:
    """Refuse a malformed query; return the decoded key of its cursor, if any.

    Raises:
        ValueError: an unknown status or sort, a limit outside 1..1000, a malformed
            filter, or a cursor that is not one of this sort (named in the message).
    """
    if query.status is not None and query.status not in REQUEST_STATUSES:
        raise ValueError(
            f"unknown request status {query.status!r} (expected one of {sorted(REQUEST_STATUSES)})"
        )
    if query.sort not in REQUEST_SORTS:
        raise ValueError(f"unknown sort {query.sort!r} (expected one of {sorted(REQUEST_SORTS)})")
    if type(query.limit) is not int or not 1 <= query.limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {query.limit!r}")
    if query.priority_min is not None and not _is_int(query.priority_min):
        raise ValueError(f"priority_min must be an integer, got {query.priority_min!r}")
    for name in ("due_before", "due_after"):
        value = getattr(query, name)
        if value is not None and not _is_number(value):
            raise ValueError(f"{name} must be a number (POSIX seconds), got {value!r}")
    if query.groups is not None and not all(isinstance(g, str) for g in query.groups):
        raise ValueError("groups must be strings")
    return None if query.after is None else decode_cursor(query.sort, query.after)


def matches(query: RequestQuery, request: InputRequest) -> bool:
    """Whether ``request`` passes every filter of ``query`` (not the cursor)."""
    if query.viewer is not None and not visible_to(query.viewer, request):
        return False
    if query.status is not None and request.status != query.status:
        return False
    if query.workflow is not None and request.workflow != query.workflow:
        return False
    if query.run_id is not None and request.run_id != query.run_id:
        return False
    if query.assignee is not None and request.assignee != query.assignee:
        return False
    if query.unassigned and request.assignee is not None:
        return False
    if query.groups is not None and query.groups.isdisjoint(request.candidate_groups):
        return False
    if query.candidate_user is not None and query.candidate_user not in request.candidate_users:
        return False
    if query.priority_min is not None and request.priority < query.priority_min:
        return False
    due = request.due
    if query.due_before is not None and (due is None or due > query.due_before):
        return False
    return query.due_after is None or (due is not None and due >= query.due_after)


def sort_values(sort: str, request: InputRequest) -> list[Any]:
    """The key of ``request`` in the ``sort`` order, as a cursor holds it."""
    if sort == "created":
        return [request.created_at, request.request_id]
    if sort == "priority":
        return [request.priority, request.created_at, request.request_id]
    return [request.due, request.created_at, request.request_id]


def compare(sort: str, left: list[Any], right: list[Any]) -> int:
    """Where key ``left`` stands against key ``right`` in the ``sort`` order: negative
    if it comes first, 0 if equal, positive if it comes after."""
    if sort == "due":  # requests without due come last
        left = [left[0] is None, left[0] or 0, *left[1:]]
        right = [right[0] is None, right[0] or 0, *right[1:]]
    for ascending, a, b in zip(_DIRECTIONS[sort], left, right, strict=True):
        if a != b:
            first = a < b if ascending else a > b
            return -1 if first else 1
    return 0


def encode_cursor(sort: str, key: list[Any]) -> str:
    """The opaque cursor of the page that ends at the row of ``key``."""
    text = json.dumps([sort, *key], separators=(",", ":"), allow_nan=False)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str) -> list[Any]:
    """The row key a cursor of the ``sort`` order holds.

    Raises:
        ValueError: the cursor is malformed, or was made for another sort.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        value = None
    if not isinstance(value, list) or not value or value[0] not in REQUEST_SORTS:
        raise ValueError(f"malformed cursor {cursor!r}")
    if value[0] != sort:
        raise ValueError(f"cursor {cursor!r} is of the {value[0]!r} order, not of {sort!r}")
    key = value[1:]
    if not _key_fits(sort, key):
        raise ValueError(f"malformed cursor {cursor!r}")
    return key


def _key_fits(sort: str, key: list[Any]) -> bool:
    if len(key) != len(_DIRECTIONS[sort]) - (sort == "due"):
        return False
    *numbers, request_id = key
    if not isinstance(request_id, str):
        return False
    if sort == "priority" and not _is_int(numbers[0]):
        return False
    if sort == "due" and numbers[0] is None:
        numbers = numbers[1:]
    return all(_is_number(n) for n in numbers)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 1e308
