"""Task fields of prompts and waiter events: parsed, checked, times resolved."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from workflows.errors import TaskFieldError, WorkflowRuntimeError
from workflows.events import Event, InputRequiredEvent
from workflows.tasks import TaskFields, check_name

NOW = 1_800_000_000.0


class ReviewAsked(InputRequiredEvent):
    """A prompt that declares two task fields."""

    assignee: str | None = None
    priority: int = 0


def test_an_event_without_task_fields_makes_an_open_request() -> None:
    assert TaskFields.from_event(InputRequiredEvent(prefix="ok?"), NOW) == TaskFields()
    assert TaskFields.from_event(None, NOW) == TaskFields()


def test_dynamic_keywords_are_read_and_times_resolved() -> None:
    event = InputRequiredEvent(
        prefix="ok?",
        assignee="ada",
        candidate_users=["bob", "bob", "eve"],
        candidate_groups=("finance",),
        priority=3,
        due=timedelta(hours=2),
        follow_up=datetime(2027, 1, 1, tzinfo=timezone.utc),
    )
    fields = TaskFields.from_event(event, NOW)
    assert fields == TaskFields(
        assignee="ada",
        candidate_users=("bob", "eve"),  # repeats dropped, order kept
        candidate_groups=("finance",),
        priority=3,
        due=NOW + 7200,
        follow_up=datetime(2027, 1, 1, tzinfo=timezone.utc).timestamp(),
    )
    assert fields.as_keywords()["due"] == NOW + 7200


def test_declared_fields_and_any_event_class_work() -> None:
    assert TaskFields.from_event(ReviewAsked(assignee="ada", priority=1), NOW).assignee == "ada"
    plain = Event(candidate_groups=["legal"], due=NOW + 5)  # any waiter_event
    assert TaskFields.from_event(plain, NOW).due == NOW + 5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2027, 1, 1), datetime(2027, 1, 1, tzinfo=timezone.utc).timestamp()),  # naive: UTC
        ("2027-01-01T00:00:00+01:00", datetime(2026, 12, 31, 23, tzinfo=timezone.utc).timestamp()),
        (NOW + 60, NOW + 60),
        (timedelta(0), NOW),
    ],
)
def test_due_takes_datetimes_iso_text_durations_and_seconds(value: object, expected: float) -> None:
    assert TaskFields.from_event(Event(due=value), NOW).due == expected


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"assignee": 7}, "assignee", "must be a string"),
        ({"assignee": " ada"}, "assignee", "spaces"),
        ({"assignee": "a,b"}, "assignee", "comma"),
        ({"assignee": "x" * 201}, "assignee", "at most 200"),
        ({"candidate_groups": "finance"}, "candidate_groups", "list of names"),
        ({"candidate_users": ["ok", ""]}, "candidate_users", "empty"),
        ({"priority": "high"}, "priority", "integer"),
        ({"priority": True}, "priority", "integer"),
        ({"due": "tomorrow"}, "due", "ISO 8601"),
        ({"follow_up": float("nan")}, "follow_up", "POSIX seconds"),
    ],
)
def test_a_bad_field_is_named(fields: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(TaskFieldError, match=words) as caught:
        TaskFields.from_event(Event(**fields), NOW)
    assert caught.value.field == field
    assert f"task field {field!r}" in str(caught.value)
    assert isinstance(caught.value, (WorkflowRuntimeError, ValueError))


def test_check_name_returns_a_good_name() -> None:
    assert check_name("finance-team") == "finance-team"
