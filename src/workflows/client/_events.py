"""Events over HTTP: plain JSON (``EventOut``) to Python classes and back."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import PrivateAttr, ValidationError

from .. import events as _events
from ..context.serializers import type_key
from ..events import Event
from ..workflow import Workflow

__all__ = ["EventDecoder", "GenericEvent", "event_to_json"]


class GenericEvent(Event):
    """An event whose class the client does not know: its fields are kept as extras.

    ``event_type`` is the class name the server gave (e.g. ``"ProgressEvent"``) and
    ``event_type_key`` its ``module.QualName``. Sending a generic event back to a run
    sends it under that type.
    """

    _event_type: str = PrivateAttr(default="Event")
    _event_type_key: str = PrivateAttr(default="")

    @classmethod
    def of(cls, name: str, key: str, data: dict[str, Any]) -> GenericEvent:
        """A generic event of type ``name`` (``key``) with ``data`` as its fields."""
        event = cls(**data)
        event._event_type = name
        event._event_type_key = key or name
        return event

    @property
    def event_type(self) -> str:
        """The class name of the event on the server."""
        return self._event_type

    @property
    def event_type_key(self) -> str:
        """The ``module.QualName`` of the event's class on the server."""
        return self._event_type_key

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.items())
        return f"GenericEvent[{self._event_type}]({fields})"


_BUILTIN: tuple[type[Event], ...] = tuple(
    getattr(_events, name) for name in _events.__all__ if name != "Event"
)


class EventDecoder:
    """Turns ``EventOut`` JSON into events of the classes known from ``workflows``.

    A ``type_key`` is resolved among the workflows' event types and the built-in events;
    anything else (or data its class rejects) becomes a :class:`GenericEvent`.
    """

    def __init__(self, workflows: Iterable[Workflow] = ()) -> None:
        self._by_key: dict[str, type[Event]] = {type_key(cls): cls for cls in _BUILTIN}
        self._by_key[type_key(Event)] = Event
        for wf in workflows:
            for cls in wf.events:
                self._by_key[type_key(cls)] = cls

    def decode(self, data: Any) -> Event:
        """The event described by ``data`` (``{"type", "type_key", "data"}``)."""
        if not isinstance(data, dict):
            return GenericEvent.of("Event", "", {"value": data})
        name = str(data.get("type", "Event"))
        key = str(data.get("type_key", "") or name)
        fields = data.get("data")
        if not isinstance(fields, dict):
            fields = {}
        cls = self._by_key.get(key)
        if cls is not None:
            try:
                return cls.model_validate(fields)
            except ValidationError:
                pass  # the server's plain JSON does not rebuild this class: keep the data
        return GenericEvent.of(name, key, fields)


def event_to_json(event: Event) -> tuple[str, dict[str, Any]]:
    """``(type name to send, fields as plain JSON)`` of an event."""
    if isinstance(event, GenericEvent):
        return event.event_type_key, event.model_dump(mode="json")
    return type_key(type(event)), event.model_dump(mode="json")
