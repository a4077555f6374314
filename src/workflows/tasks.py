"""Human tasks: who may answer an input request, how urgent it is, and when it is due.

A prompt (an :class:`~workflows.events.InputRequiredEvent` written to the stream) or the
``waiter_event`` of :meth:`Context.wait_for_event <workflows.context.Context.wait_for_event>`
may carry these fields, declared or as dynamic keywords; the engine stores them on the
input request it makes::

    InputRequiredEvent(
        prefix="Approve the expense?",
        candidate_groups=["finance"],
        priority=2,
        due=timedelta(days=1),
    )

Every field is optional: an event without them makes a request anyone may answer, as
before.

- ``assignee``: the one user who answers (others who may see it cannot answer it).
- ``candidate_users`` / ``candidate_groups``: who may see the request and claim it.
- ``priority``: an integer, higher first (default 0).
- ``due``: when an answer is due. Once it passes with the request still open, the run
  receives a :class:`~workflows.events.RequestOverdueEvent` (durably: after restarts,
  on whichever worker holds the run) that a step may accept to escalate, reassign or
  decide by default.
- ``follow_up``: when to look at the request again; it only sorts and highlights.

``due`` and ``follow_up`` take a ``datetime`` (naive means UTC), a ``timedelta`` from
the request's creation, or POSIX seconds. ``wait_for_event(..., timeout=...)`` keeps its
meaning: the wait ends at the timeout; ``due`` only tells the run it is overdue.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from .errors import TaskFieldError
from .events import Event

__all__ = [
    "MAX_NAME",
    "TASK_FIELDS",
    "TaskFieldError",
    "TaskFields",
    "check_name",
]

TASK_FIELDS: Final[tuple[str, ...]] = (
    "assignee",
    "candidate_users",
    "candidate_groups",
    "priority",
    "due",
    "follow_up",
)
"""The event fields the engine reads as task fields."""

MAX_NAME: Final[int] = 200
"""The most characters a user or group name may have."""

_MAX_CANDIDATES: Final[int] = 100
_MAX_PRIORITY: Final[int] = 1_000_000


def check_name(name: object, field: str = "name") -> str:
    """Return ``name`` if it can name a user or group.

    Raises:
        TaskFieldError: not a string, empty, longer than :data:`MAX_NAME`, with
            surrounding spaces, or holding a comma, a ``|`` or a non-printable character.
    """
    if not isinstance(name, str):
        raise TaskFieldError(field, f"a name must be a string, not {type(name).__name__}")
    if not name or name != name.strip():
        raise TaskFieldError(field, f"{name!r} is empty or has spaces around it")
    if len(name) > MAX_NAME:
        raise TaskFieldError(field, f"a name has at most {MAX_NAME} characters")
    if not name.isprintable() or "," in name or "|" in name:
        raise TaskFieldError(field, f"{name!r} holds a comma, '|' or a non-printable character")
    return name


@dataclass(frozen=True, slots=True)
class TaskFields:
    """The task fields of one input request, checked and with times resolved.

    Attributes:
        assignee: Who answers, or ``None``.
        candidate_users: Who else may see and claim the request.
        candidate_groups: Groups whose members may see and claim it.
        priority: Higher first.
        due: When an answer is due (POSIX seconds), or ``None``.
        follow_up: When to look again (POSIX seconds), or ``None``.
    """

    assignee: str | None = None
    candidate_users: tuple[str, ...] = ()
    candidate_groups: tuple[str, ...] = ()
    priority: int = 0
    due: float | None = None
    follow_up: float | None = None

    @classmethod
    def from_event(cls, event: Event | None, now: float) -> TaskFields:
        """Read the task fields of ``event`` (declared or dynamic); ``now`` is when the
        request is made, the origin of durations.

        Raises:
            TaskFieldError: a field has a wrong type or value (the message says which).
        """
        if event is None:
            return _NONE
        values = {name: event.get(name) for name in TASK_FIELDS}
        if all(value is None for value in values.values()):
            return _NONE
        assignee = values["assignee"]
        return cls(
            assignee=None if assignee is None else check_name(assignee, "assignee"),
            candidate_users=_names(values["candidate_users"], "candidate_users"),
            candidate_groups=_names(values["candidate_groups"], "candidate_groups"),
            priority=_priority(values["priority"]),
            due=_moment(values["due"], now, "due"),
            follow_up=_moment(values["follow_up"], now, "follow_up"),
        )

    def as_keywords(self) -> dict[str, Any]:
        """The fields as keywords of ``InputRequest.new`` (see :mod:`workflows.stores`)."""
        return {
            "assignee": self.assignee,
            "candidate_users": self.candidate_users,
            "candidate_groups": self.candidate_groups,
            "priority": self.priority,
            "due": self.due,
            "follow_up": self.follow_up,
        }


_NONE: Final[TaskFields] = TaskFields()


def _names(value: object, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise TaskFieldError(field, "must be a list of names")
    names = tuple(dict.fromkeys(check_name(name, field) for name in value))
    if len(names) > _MAX_CANDIDATES:
        raise TaskFieldError(field, f"at most {_MAX_CANDIDATES} names")
    return names


def _priority(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise TaskFieldError("priority", f"must be an integer, not {value!r}")
    if abs(value) > _MAX_PRIORITY:
        raise TaskFieldError("priority", f"must lie within ±{_MAX_PRIORITY}")
    return value


def _moment(value: object, now: float, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return now + value.total_seconds()
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return aware.timestamp()
    if isinstance(value, str):  # a datetime that went through JSON
        try:
            return _moment(datetime.fromisoformat(value), now, field)
        except ValueError:
            raise TaskFieldError(field, f"{value!r} is not an ISO 8601 time") from None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise TaskFieldError(field, f"must be a datetime, a timedelta or POSIX seconds, not {value!r}")
