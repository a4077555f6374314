"""Events: the messages steps exchange, and the ones a run writes for its caller.

Every event is a pydantic model. Declared fields are typed and validated; any other
keyword given to the constructor is kept as *dynamic data*, readable as an attribute
and dict-style::

    ev = Event(topic="news", count=3)
    ev.topic, ev["count"], ev.get("missing", 0), "topic" in ev, dict(ev.items())

The dict-style views (``keys``, ``values``, ``items``, ``len``, iteration, ``to_dict``)
cover the dynamic data only, as in the reference API; ``ev[k]``, ``ev.get(k)`` and
``k in ev`` also find declared fields by name.

Internal events (:class:`InternalDispatchEvent` subclasses) are for observers: a
handler yields them only from ``stream_events(expose_internal=True)``.
"""

from __future__ import annotations

import builtins
import sys
from collections.abc import Iterator
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    model_serializer,
)

from .errors import UnreconstructedException

if TYPE_CHECKING:
    from _collections_abc import dict_items, dict_keys, dict_values

    from pydantic.main import TupleGenerator

__all__ = [
    "CollectionReleaseEvent",
    "DictLikeModel",
    "Event",
    "HumanResponseEvent",
    "IdleReleasedEvent",
    "InputRequiredEvent",
    "InternalDispatchEvent",
    "RequestOverdueEvent",
    "StartEvent",
    "StepFailedEvent",
    "StepStateChanged",
    "StopEvent",
    "UnhandledEvent",
    "WorkflowCancelledEvent",
    "WorkflowFailedEvent",
    "WorkflowIdleEvent",
    "WorkflowTimedOutEvent",
]
# Also public, outside ``__all__``: ``StepState`` (an enum), ``UnreconstructedException``
# (defined in ``workflows.errors``), and the type aliases ``EventType``,
# ``SerializableEvent`` and ``SerializableException``. Until the registries that turn
# ``__all__`` into event classes (serializers, engine, client) skip non-model names,
# ``__all__`` lists pydantic models only.


class DictLikeModel(BaseModel):
    """A pydantic model that also keeps undeclared keywords, readable like a dict.

    Declared fields behave as in any pydantic model. Every other keyword given to the
    constructor (and every non-field attribute set later) is stored as dynamic data:
    ``m.x``, ``m["x"]``, ``m.get("x", default)`` and ``"x" in m`` read it, and
    ``keys()``, ``values()``, ``items()``, ``len(m)``, iteration and ``to_dict()`` list
    it. A keyword naming a private attribute (``_name``) sets that attribute.

    ``model_dump()`` writes dynamic data as top-level keys next to the fields, and
    ``model_validate`` reads it back the same way.
    """

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def __init__(self, **params: Any):
        """Validate the declared fields; keep every other keyword as dynamic data."""
        _build(self, params)

    def _adopt_underscored(self, extra: dict[str, Any]) -> None:
        privates = type(self).__private_attributes__
        for name in [n for n in extra if n[:1] == "_"]:
            if name in privates:
                setattr(self, name, extra.pop(name))
            elif name == "_data" and isinstance(extra[name], dict):
                # A dump made by the reference implementation nests dynamic data here;
                # it comes first, and a top-level key of the same name wins.
                nested = extra.pop(name)
                rest = dict(extra)
                extra.clear()
                extra.update(nested)
                extra.update(rest)

    def _dynamic(self) -> dict[str, Any]:
        extra = self.__pydantic_extra__
        if extra is None:
            extra = {}
            object.__setattr__(self, "__pydantic_extra__", extra)
        return extra

    def __getitem__(self, key: str) -> Any:
        extra = self.__pydantic_extra__
        if extra is not None and key in extra:
            return extra[key]
        if key in type(self).model_fields:
            return getattr(self, key)
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        if key in type(self).model_fields:
            setattr(self, key, value)
        else:
            self._dynamic()[key] = value

    def get(self, key: str, default: Any = None) -> Any:
        """The dynamic value (or declared field) ``key``, or ``default`` when absent."""
        extra = self.__pydantic_extra__
        if extra is not None and key in extra:
            return extra[key]
        if key in type(self).model_fields:
            return getattr(self, key)
        return default

    def __contains__(self, key: object) -> bool:
        extra = self.__pydantic_extra__
        if extra is not None and key in extra:
            return True
        return isinstance(key, str) and key in type(self).model_fields

    def keys(self) -> dict_keys[str, Any]:
        """Names of the dynamic values."""
        return self._dynamic().keys()

    def values(self) -> dict_values[str, Any]:
        """The dynamic values."""
        return self._dynamic().values()

    def items(self) -> dict_items[str, Any]:
        """``(name, value)`` pairs of the dynamic values."""
        return self._dynamic().items()

    def __len__(self) -> int:
        extra = self.__pydantic_extra__
        return len(extra) if extra else 0

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        return iter(self._dynamic())

    def to_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The dynamic values, as the live dictionary that holds them (not a copy).

        Extra arguments are accepted and ignored, as in the reference API.
        """
        return self._dynamic()

    def __bool__(self) -> bool:
        """Always true, so that ``if event:`` tests for presence, not for content."""
        return True

    def __repr_args__(self) -> TupleGenerator:
        # Declared fields only, as the reference shows them (dynamic data is not listed).
        fields = type(self).model_fields
        for name, value in self.__dict__.items():
            info = fields.get(name)
            if info is not None and info.repr:
                yield name, value

    @model_serializer(mode="wrap")
    def custom_model_dump(self, handler: Any) -> dict[str, Any]:
        """Serialize the fields and the dynamic values (as top-level keys)."""
        data: dict[str, Any] = handler(self)
        return data


class Event(DictLikeModel):
    """Base class of every event.

    Subclasses declare typed fields as in any pydantic model; extra keywords become
    dynamic data (see :class:`DictLikeModel`)::

        class Scored(Event):
            score: int = Field(ge=0)

        ev = Scored(score=10, note="kept")
        ev.score, ev.note, ev["note"]
    """

    def __init__(self, **params: Any):
        """Build the event from its fields and any dynamic keywords."""
        _build(self, params)


def _build(model: DictLikeModel, params: dict[str, Any]) -> None:
    """What ``BaseModel.__init__`` does, then private attributes and nested dynamic data.

    The constructors call this directly rather than chaining ``super().__init__``: an
    event is built at every step hop, and each Python frame shows in the hop time.
    """
    model.__pydantic_validator__.validate_python(params, self_instance=model)
    extra = model.__pydantic_extra__
    if extra:
        for name in extra:
            if name[:1] == "_":
                model._adopt_underscored(extra)
                break


# -- field types that cross a serialization boundary ---------------------------------------


def _type_key(cls: type[Any]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _loaded_event_class(key: str) -> type[Event] | None:
    """The already-defined Event subclass named ``module.QualName`` (nothing is imported)."""
    pending: list[type[Event]] = [Event]
    seen: set[type[Event]] = set()
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        if _type_key(cls) == key:
            return cls
        pending.extend(cls.__subclasses__())
    return None


def _dump_event(event: Event) -> dict[str, Any]:
    return {
        "__is_pydantic": True,
        "value": event.model_dump(mode="json"),
        "qualified_name": _type_key(type(event)),
    }


def _load_event(data: Any) -> Event:
    if isinstance(data, Event):
        return data
    if not isinstance(data, dict):
        raise ValueError(f"expected an event or an event envelope, got {type(data).__name__}")
    if "qualified_name" not in data:
        return Event.model_validate(data)
    key = str(data["qualified_name"])
    cls = _loaded_event_class(key)
    if cls is None:
        raise ValueError(f"unknown event type {key[:200]!r}")
    value = data.get("value")
    return cls.model_validate(value if isinstance(value, dict) else {})


SerializableEvent = Annotated[
    Event,
    PlainSerializer(_dump_event, return_type=Any),
    PlainValidator(_load_event),
]
"""An :class:`Event` field that keeps the event's class across a dump and a reload.

Dumped as ``{"qualified_name": "module.Class", "value": {...}}``; loaded back into that
class when it is defined in the running process (nothing is imported). An event
instance is kept as is.
"""


def _dump_exception(exc: BaseException) -> dict[str, Any]:
    return {"exception_type": _type_key(type(exc)), "exception_message": str(exc)}


def _loaded_exception_class(key: str) -> type[BaseException] | None:
    """The exception class ``key`` names among builtins and loaded modules (no import)."""
    module_name, _, qualname = key.rpartition(".")
    owner: Any = builtins if module_name in ("", "builtins") else sys.modules.get(module_name)
    for part in qualname.split(".") if owner is not None else ():
        owner = getattr(owner, part, None)
    if isinstance(owner, type) and issubclass(owner, Exception):
        return owner
    return None


def _load_exception(data: Any) -> BaseException:
    if isinstance(data, BaseException):
        return data
    if not isinstance(data, dict):
        raise ValueError(f"expected an exception, got {type(data).__name__}")
    key = str(data.get("exception_type", data.get("type", "")))
    message = str(data.get("exception_message", data.get("message", "")))
    cls = _loaded_exception_class(key)
    if cls is not None:
        try:
            return cls(message)
        except Exception:
            pass
    return UnreconstructedException(message, original_type=key or None)


SerializableException = Annotated[
    BaseException,
    PlainSerializer(_dump_exception, return_type=dict[str, Any]),
    PlainValidator(_load_exception),
]
"""An exception field: dumped as ``{"exception_type", "exception_message"}``.

Loading rebuilds the exception when its class is a builtin or is defined in an already
imported module and takes a message; otherwise it is an
:class:`~workflows.errors.UnreconstructedException` carrying the message.
"""

EventType = type[Event]
"""The type of an event class (``type[Event]``)."""


# -- the events of a run ------------------------------------------------------------------


class StartEvent(Event):
    """The event a run starts with; ``wf.run(**kwargs)`` builds it from the keywords."""


class StopEvent(Event):
    """Ends the run when a step returns it.

    ``result`` is what the run produced: ``await handler`` returns it for a plain
    ``StopEvent`` and the event itself for a subclass. Subclasses may override
    ``_get_result`` to compute ``result`` from their fields.

    Args:
        result: the run's result (also accepted positionally).
        **kwargs: declared fields of a subclass, and dynamic data.
    """

    _result: Any = PrivateAttr(default=None)

    def __init__(self, result: Any = None, **kwargs: Any) -> None:
        """Build the stop event; ``result`` is kept apart from fields and dynamic data."""
        if "_result" in kwargs:
            raise TypeError(f"{type(self).__name__}() got both 'result' and '_result'")
        _build(self, kwargs)
        private = self.__pydantic_private__
        assert private is not None  # set by validation, as the model has private attributes
        private["_result"] = result

    def _get_result(self) -> Any:
        """The value of ``result``; override to derive it from other fields."""
        return self._result

    @property
    def result(self) -> Any:
        """The run's result."""
        return self._get_result()

    @result.setter
    def result(self, value: Any) -> None:
        self._result = value

    @model_serializer(mode="wrap")
    def custom_model_dump(self, handler: Any) -> dict[str, Any]:
        """Serialize the fields and dynamic values, plus ``result`` unless it is None."""
        data: dict[str, Any] = handler(self)
        if self._result is not None:
            data["result"] = self._result
        return data

    def __repr__(self) -> str:
        parts = dict(self._dynamic())
        fields = type(self).model_fields
        for name, value in self.__dict__.items():
            info = fields.get(name)
            if info is not None and info.repr:
                parts[name] = value
        if self._result is not None:
            parts["result"] = self._result
        args = ", ".join(f"{key}={value!r}" for key, value in parts.items())
        return f"{type(self).__name__}({args})"

    def __str__(self) -> str:
        return str(self._result)


class InputRequiredEvent(Event):
    """Asks the caller for input; written to the stream, needs no consuming step.

    Typical dynamic value: ``prefix`` (the prompt).
    """


class HumanResponseEvent(Event):
    """The caller's answer to an :class:`InputRequiredEvent`; needs no producing step.

    Typical dynamic value: ``response``.
    """


class RequestOverdueEvent(Event):
    """Sent into a run when one of its input requests is still open at its ``due`` time
    (see :mod:`workflows.tasks`); needs no producing step.

    A step that accepts it may escalate (ask someone else), decide by default, or ignore
    it; a workflow with no such step is not disturbed. It is sent once per request.

    Attributes:
        request_id: The overdue request.
        due: When it was due (POSIX seconds).
    """

    request_id: str
    due: float


class WorkflowTimedOutEvent(StopEvent):
    """Written to the stream when the run exceeds its timeout, before the handler raises
    :class:`~workflows.errors.WorkflowTimeoutError`.

    Attributes:
        timeout: the timeout, in seconds, that was exceeded.
        active_steps: names of the steps still running at that moment.
    """

    timeout: float
    active_steps: list[str]


class WorkflowCancelledEvent(StopEvent):
    """Written to the stream when the run is cancelled by its caller, before the handler
    raises :class:`~workflows.errors.WorkflowCancelledByUser`."""


class IdleReleasedEvent(StopEvent):
    """Marks a run released from memory while it waits for outside input.

    It is not written to the stream and raises nothing: the run is not over.
    """


class WorkflowFailedEvent(StopEvent):
    """Written to the stream when a step fails for good and no handler recovers.

    Attributes:
        step_name: the step that failed.
        exception: what it raised (rebuilt from its type and message after a reload).
        attempts: attempts made before giving up, or None when not a step failure.
        elapsed_seconds: seconds from the first attempt to the final failure, or None.
    """

    step_name: str
    exception: SerializableException
    attempts: int | None = None
    elapsed_seconds: float | None = None


class CollectionReleaseEvent(Event):
    """A batch of collected events released to a collecting step at once.

    Attributes:
        events: the released events, in arrival order.
        stream_id: the stream the batch was collected from.
        binding_id: the collection binding that released it.
    """

    events: list[SerializableEvent] = Field(default_factory=list)
    stream_id: str = ""
    binding_id: str = ""


class StepFailedEvent(Event):
    """Delivered to a ``@catch_error`` step when a covered step exhausted its retries.

    Attributes:
        step_name: the step that failed.
        input_event: the event it failed on.
        exception: what it raised.
        attempts: attempts made.
        elapsed_seconds: seconds from the first attempt to the final failure.
        failed_at: when the final attempt failed (UTC).
    """

    step_name: str
    input_event: SerializableEvent
    exception: SerializableException
    attempts: int
    elapsed_seconds: float
    failed_at: datetime


class InternalDispatchEvent(Event):
    """Base of the events the runtime writes for observers.

    A handler yields them only from ``stream_events(expose_internal=True)``.
    """


class WorkflowIdleEvent(InternalDispatchEvent):
    """The run has gone idle: nothing is queued and every running step waits for
    outside input. It carries no data; work resuming shows as a
    :class:`StepStateChanged` with ``StepState.RUNNING``."""


class UnhandledEvent(InternalDispatchEvent):
    """An event that no step or waiter accepted; it was dropped.

    Attributes:
        event_type: class name of the dropped event.
        qualified_name: ``module.Class`` of the dropped event.
        step_name: the step it was addressed to, if any.
        idle: whether the run was idle after dropping it.
    """

    event_type: str = Field(description="Class name of the unhandled event.")
    qualified_name: str = Field(description="Fully qualified name of the event type.")
    step_name: str | None = Field(
        default=None, description="Target step name if the event was addressed to a step."
    )
    idle: bool = Field(description="Whether the workflow is idle after processing.")


class StepState(Enum):
    """What a step invocation is doing, as reported by :class:`StepStateChanged`."""

    PREPARING = "preparing"
    """An event is queued for the step, but all of its workers are busy."""
    RUNNING = "running"
    """The step is running on a worker."""
    NOT_RUNNING = "not_running"
    """The invocation has ended (returned, or raised)."""


_StepState = StepState
# Kept out of the module namespace (served by __getattr__) until `__all__` may list it.
del StepState


class StepStateChanged(InternalDispatchEvent):
    """A step invocation started, finished, or is waiting for a free worker.

    Attributes:
        name: the step.
        step_state: what it is doing now.
        worker_id: the worker slot (``"0"`` to ``num_workers - 1``), or ``"<enqueued>"``.
        input_event_name: the event it runs on.
        output_event_name: on ``NOT_RUNNING``, the type of what it returned (None if it
            raised).
    """

    name: str = Field(description="Name of the step")
    step_state: _StepState = Field(description="State of the step")
    worker_id: str = Field(description="ID of the worker that the step is running on")
    input_event_name: str = Field(description="Name of the input event")
    output_event_name: str | None = Field(description="Name of the output event", default=None)


def __getattr__(name: str) -> Any:
    if name == "StepState":
        return _StepState
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "StepState"])
