"""``GET /requests``: its query values as a :class:`~workflows.stores.RequestQuery`.

Two ways of paging: keyset (``cursor`` from the previous page's ``next_cursor``; the
default, and the only one with ``sort``, ``mine``, ``group``, ``assignee``,
``unassigned``, ``priority_min``, ``due_before``, ``due_after``) and ``offset`` (as
before those existed). Either way a caller lists only what they may see.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timezone

from starlette.requests import Request

from ..engine import Engine
from ..stores import REQUEST_STATUSES, InputRequest, RequestPage, RequestQuery
from ._errors import ApiError
from ._identity import Identity, check_name
from ._limits import MAX_INT
from ._parse import parse_int, query_bool, query_choice, query_int, query_str

__all__ = ["KEYSET_ONLY", "SORTS", "list_page", "parse_time", "request_query"]

SORTS = frozenset({"created", "due", "priority"})
"""The orders ``sort`` names."""

KEYSET_ONLY = (
    "cursor",
    "sort",
    "mine",
    "group",
    "assignee",
    "unassigned",
    "priority_min",
    "due_before",
    "due_after",
)
"""Query values that page by cursor only (not with ``offset``)."""

MAX_CURSOR = 4096
MAX_GROUPS = 100


def parse_time(raw: str, what: str) -> float:
    """A time given as POSIX seconds or ISO 8601 (without a zone: UTC), as POSIX seconds.

    Raises:
        ApiError: 400 naming ``what`` for anything else.
    """
    text = raw.strip()
    if 0 < len(text) <= 40:
        try:
            value = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(value):
                return value
        try:
            stamp = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
        except ValueError:
            pass
        else:
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=timezone.utc)
            return stamp.timestamp()
    raise ApiError(
        "bad_parameter",
        f"{what} must be POSIX seconds or an ISO 8601 time (2026-01-31T17:00:00Z), "
        f"got {raw[:40]!r}",
    )


def _name(request: Request, name: str) -> str | None:
    raw = query_str(request, name)
    if raw is None:
        return None
    try:
        return check_name(raw, f"query parameter {name!r}")
    except ValueError as exc:
        raise ApiError("bad_parameter", str(exc)) from None


def _groups(request: Request, identity: Identity) -> frozenset[str] | None:
    values = request.query_params.getlist("group")
    if not values:
        return None
    if len(values) > MAX_GROUPS:
        raise ApiError("bad_parameter", f"at most {MAX_GROUPS} group values")
    groups: set[str] = set()
    for value in values:
        if value == "mine":
            groups.update(identity.groups)
            continue
        try:
            groups.add(check_name(value, "query parameter 'group'"))
        except ValueError as exc:
            raise ApiError("bad_parameter", str(exc)) from None
    return frozenset(groups)


def _time(request: Request, name: str) -> float | None:
    raw = query_str(request, name)
    return None if raw is None else parse_time(raw, f"query parameter {name!r}")


def request_query(request: Request, identity: Identity) -> tuple[RequestQuery, int | None]:
    """The query ``GET /requests`` asks for, limited to what ``identity`` may see, and
    the ``offset`` when it pages by offset (``None``: by cursor).

    Raises:
        ApiError: 400 for a malformed, repeated or contradictory value.
    """
    params = request.query_params
    offset: int | None = None
    if "offset" in params:
        given = [name for name in KEYSET_ONLY if name in params]
        if given:
            raise ApiError(
                "bad_parameter",
                f"offset does not go with {', '.join(given)}: page with cursor instead",
            )
        offset = query_int(request, "offset", 0, 0, None)
    status = query_choice(request, "status", REQUEST_STATUSES | {"all"}, default="pending")
    mine = query_bool(request, "mine")
    assignee = _name(request, "assignee")
    unassigned = query_bool(request, "unassigned")
    if mine:
        if assignee is not None:
            raise ApiError("bad_parameter", "mine=true and assignee do not go together")
        assignee = identity.user
    if unassigned and assignee is not None:
        raise ApiError("bad_parameter", "unassigned=true and an assignee do not go together")
    priority = query_str(request, "priority_min")
    cursor = query_str(request, "cursor") if "cursor" in params else None
    if cursor is not None and not (0 < len(cursor) <= MAX_CURSOR and cursor.isascii()):
        raise ApiError("bad_parameter", "query parameter 'cursor' is not a cursor of this API")
    query = RequestQuery(
        viewer=None if identity.admin else identity.viewer,
        status=None if status == "all" else status,  # type: ignore[arg-type]
        workflow=query_str(request, "workflow"),
        run_id=query_str(request, "run_id"),
        assignee=assignee,
        unassigned=unassigned,
        groups=_groups(request, identity),
        priority_min=None
        if priority is None
        else parse_int(priority, "query parameter 'priority_min'", -MAX_INT - 1),
        due_before=_time(request, "due_before"),
        due_after=_time(request, "due_after"),
        sort=query_choice(request, "sort", SORTS, default="created"),  # type: ignore[arg-type]
        limit=query_int(request, "limit", 100, 1, 1000),
        after=cursor,
    )
    return query, offset


async def list_page(engine: Engine, query: RequestQuery, offset: int | None) -> RequestPage:
    """The page ``query`` selects; by ``offset`` when given (``next_cursor`` is then
    ``None``), else by its cursor.

    Raises:
        ApiError: 400 for a cursor the store does not take.
    """
    if offset is not None and query.viewer is None:
        # Everything is visible: the store's offset listing, as before cursors existed.
        found = await engine.requests(
            workflow=query.workflow,
            run_id=query.run_id,
            status=query.status,
            limit=query.limit,
            offset=offset,
        )
        return RequestPage(found, None)
    try:
        if offset is None:
            return await engine.query_requests(query)
        return RequestPage(await _skipping(engine, query, offset), None)
    except ValueError as exc:
        raise ApiError("bad_parameter", str(exc)) from None


async def _skipping(engine: Engine, query: RequestQuery, offset: int) -> list[InputRequest]:
    """The page ``offset`` requests into what ``query`` selects, read by cursor (what
    the store offers for a filtered listing; as costly as an offset in SQL)."""
    after: str | None = None
    while offset > 0:
        page = await engine.query_requests(
            dataclasses.replace(query, limit=min(offset, 1000), after=after)
        )
        offset -= len(page.requests)
        if page.next_cursor is None:
            return []
        after = page.next_cursor
    return (await engine.query_requests(dataclasses.replace(query, after=after))).requests
