"""Events: the messages steps exchange, and the ones a run writes for its caller.

Every event is a pydantic model. Declared fields are typed and validated; any extra keyword
given to the constructor is kept and can be read as an attribute or dict-style::

    ev = Event(topic="news", count=3)
    ev.topic, ev["count"], ev.get("missing", 0), "topic" in ev, dict(ev.items())
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

__all__ = [
    "Event",
    "HumanResponseEvent",
    "InputRequiredEvent",
    "InternalDispatchEvent",
    "StartEvent",
    "StepFailedEvent",
    "StopEvent",
    "UnhandledEvent",
    "WorkflowCancelledEvent",
    "WorkflowFailedEvent",
    "WorkflowTimedOutEvent",
]


class Event(BaseModel):
    """Base class of every event.

    Subclasses declare typed fields as in any pydantic model. Extra keywords are accepted
    and stored beside the fields; setting an attribute that is not a field stores it the
    same way. The mapping methods (``ev[k]``, ``get``, ``keys``, ``items``, ``len``,
    iteration) see fields and extras alike.
    """

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def _as_mapping(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in type(self).model_fields}
        if self.__pydantic_extra__:
            data.update(self.__pydantic_extra__)
        return data

    def __getitem__(self, key: str) -> Any:
        if key in type(self).model_fields:
            return getattr(self, key)
        extra = self.__pydantic_extra__
        if extra is not None and key in extra:
            return extra[key]
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, key, value)

    def get(self, key: str, default: Any = None) -> Any:
        """Return the field or extra value ``key``, or ``default`` when it is absent."""
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        extra = self.__pydantic_extra__
        return key in type(self).model_fields or (extra is not None and key in extra)

    def keys(self) -> Any:
        """Names of the fields and extra values."""
        return self._as_mapping().keys()

    def values(self) -> Any:
        """Values of the fields and extra values."""
        return self._as_mapping().values()

    def items(self) -> Any:
        """``(name, value)`` pairs of the fields and extra values."""
        return self._as_mapping().items()

    def __len__(self) -> int:
        extra = self.__pydantic_extra__
        return len(type(self).model_fields) + (len(extra) if extra else 0)

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        return iter(self._as_mapping())

    def __bool__(self) -> bool:
        return True

    def to_dict(self) -> dict[str, Any]:
        """Fields and extras as a plain dictionary (values are not converted)."""
        return self._as_mapping()


class StartEvent(Event):
    """The event a run starts with; ``wf.run(**kwargs)`` builds it from the keywords."""


class StopEvent(Event):
    """Ends the run when a step returns it.

    ``await handler`` returns ``result`` for a plain ``StopEvent`` and the event itself
    for a subclass.
    """

    result: Any = None


class InputRequiredEvent(Event):
    """Asks the caller for input; written to the stream, needs no consuming step.

    Typical extra field: ``prefix`` (the prompt).
    """


class HumanResponseEvent(Event):
    """The caller's answer to an :class:`InputRequiredEvent`; needs no producing step.

    Typical extra field: ``response``.
    """


def _describe_exception(exc: Any) -> Any:
    if isinstance(exc, BaseException):
        return {"type": type(exc).__name__, "message": str(exc)}
    return exc


class WorkflowTimedOutEvent(StopEvent):
    """Written to the stream when the run exceeds its timeout."""

    timeout: float | None = None
    active_steps: list[str] = Field(default_factory=list)


class WorkflowCancelledEvent(StopEvent):
    """Written to the stream when the run is cancelled by its caller."""


class WorkflowFailedEvent(StopEvent):
    """Written to the stream when a step fails for good and no handler recovers."""

    step_name: str = ""
    exception: Any = None
    attempts: int = 0
    elapsed_seconds: float = 0.0

    @field_serializer("exception")
    def _dump_exception(self, value: Any) -> Any:
        return _describe_exception(value)


class StepFailedEvent(Event):
    """Delivered to a ``@catch_error`` step when a covered step exhausted its retries."""

    step_name: str
    input_event: Event
    exception: Any = None
    attempts: int = 1
    elapsed_seconds: float = 0.0
    failed_at: datetime | None = None

    @field_serializer("exception")
    def _dump_exception(self, value: Any) -> Any:
        return _describe_exception(value)


class InternalDispatchEvent(Event):
    """Base of the events the runtime writes for observers (``expose_internal=True``)."""


class UnhandledEvent(InternalDispatchEvent):
    """An event that no step accepted; it was dropped."""

    event_type: str
    event: Event | None = None
