"""Values in a LlamaIndex Workflows snapshot, re-encoded for this library's ``JsonSerializer``.

The reference writes events and state values as JSON strings holding
``{"__is_pydantic": true, "value": ..., "qualified_name": "module.Class"}`` envelopes.
:class:`Translator` rewrites them into ``JsonSerializer``'s tagged encoding, resolving
every class name through the workflow's allowlist (nothing is imported, no code runs).
Used by :mod:`workflows._reference_snapshot`.
"""

from __future__ import annotations

import json
from typing import Any

from .context.serializers import JsonSerializer, TypeRegistry, _any_fields
from .errors import ContextSerdeError
from .events import Event

WHO = "LlamaIndex Workflows snapshot"
"""How errors name the payload."""


class Translator:
    """Rewrites the reference's encoded values into ``JsonSerializer``'s encoding."""

    def __init__(self, types: TypeRegistry, serializer: JsonSerializer) -> None:
        self.types = types
        self.serializer = serializer
        self.max_depth = serializer.max_depth
        self.max_string_length = serializer.max_string_length

    def event(self, text: str, where: str) -> dict[str, Any]:
        """An event string (``serializer.serialize(ev)``) as an encoded event."""
        try:
            encoded = self._wrapped(self._load(text), 0)
        except ContextSerdeError as exc:
            raise ContextSerdeError(f"{WHO}: {where}: {exc}") from None
        if type(encoded) is not dict or "$event" not in encoded:
            raise ContextSerdeError(f"{WHO}: {where}: not an event")
        return encoded

    def event_type(self, name: str, where: str) -> type[Event]:
        """The allowed event class a reference type name stands for."""
        try:
            cls = self.types.resolve(name)
        except ContextSerdeError as exc:
            raise ContextSerdeError(f"{WHO}: {where}: {exc}") from None
        if not issubclass(cls, Event):
            raise ContextSerdeError(f"{WHO}: {where}: {name[:80]!r} is not an event type")
        return cls

    def plain(self, value: Any, depth: int = 0) -> Any:
        """Plain JSON data, escaped where ``JsonSerializer`` would read it as a tag."""
        if depth > self.max_depth:
            raise ContextSerdeError(f"data nested deeper than {self.max_depth} levels")
        if type(value) is dict:
            return self._mapping({k: self.plain(v, depth + 1) for k, v in value.items()})
        if type(value) is list:
            return [self.plain(item, depth + 1) for item in value]
        return value

    def state(self, payload: dict[str, Any]) -> Any:
        """The reference's state store payload as an encoded state."""
        try:
            return self._state(payload)
        except ContextSerdeError as exc:
            raise ContextSerdeError(f"{WHO}: state: {exc}") from None

    def _state(self, payload: dict[str, Any]) -> Any:
        if not payload:
            return {}  # written with include_state=False: a fresh state
        store_type = payload.get("store_type", "in_memory")
        if store_type != "in_memory":
            raise ContextSerdeError(
                f"store_type {brief(store_type)}: a handle to a state store, not the state"
            )
        data = payload.get("state_data")
        if data is None:
            return {}
        if type(data) is str:
            data = self._load(data)
            if type(data) is dict and "_data" in data:
                return self._dict_state(data["_data"], items_are_strings=True)
            return self._model_state(data)
        if type(data) is dict:
            tree = data.get("_tree")
            if tree == "dict":
                return self._dict_state(data.get("_data"), items_are_strings=False)
            if tree == "model":
                return self._model_state({k: v for k, v in data.items() if k != "_tree"})
            if tree is not None:
                raise ContextSerdeError(f"unknown state layout {brief(tree)}")
            if "_data" in data:
                return self._dict_state(data["_data"], items_are_strings=True)
            return self._model_state(data)
        raise ContextSerdeError(f"unrecognised state_data of type {type(data).__name__}")

    def _dict_state(self, items: Any, *, items_are_strings: bool) -> Any:
        if type(items) is not dict:
            raise ContextSerdeError("DictState items must be an object")
        values: dict[str, Any] = {}
        for key, raw in items.items():
            if items_are_strings:
                if type(raw) is not str:
                    raise ContextSerdeError(f"key {brief(key)}: expected an encoded string")
                raw = self._load(raw)
            values[key] = self._wrapped(raw, 1)
        return self._mapping(values)

    def _model_state(self, data: Any) -> Any:
        encoded = self._wrapped(data, 0)
        if type(encoded) is not dict or "$model" not in encoded:
            raise ContextSerdeError("a typed state must be an encoded pydantic model")
        return encoded

    def _load(self, text: str) -> Any:
        if len(text) > self.max_string_length:
            raise ContextSerdeError("encoded value exceeds max_string_length")
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ContextSerdeError(f"not a JSON value ({str(exc)[:80]})") from None

    def _wrapped(self, value: Any, depth: int) -> Any:
        """Data from the reference's ``serialize_value``: models carry a class name."""
        if depth > self.max_depth:
            raise ContextSerdeError(f"data nested deeper than {self.max_depth} levels")
        if type(value) is dict:
            if value.get("__is_pydantic") and value.get("qualified_name"):
                return self._model(value["qualified_name"], value.get("value"), depth)
            if value.get("__is_component") and value.get("qualified_name"):
                raise ContextSerdeError("LlamaIndex component values are not supported")
            return self._mapping({k: self._wrapped(v, depth + 1) for k, v in value.items()})
        if type(value) is list:
            return [self._wrapped(item, depth + 1) for item in value]
        return value

    def _model(self, name: Any, value: Any, depth: int) -> dict[str, Any]:
        cls = self.types.resolve(name)
        if type(value) is not dict:
            raise ContextSerdeError(f"{name[:80]!r}: the model value must be an object")
        is_event = issubclass(cls, Event)
        fields = cls.model_fields
        dynamic = _any_fields(cls)
        data: dict[str, Any] = {}
        for field, item in value.items():
            if is_event and field == "_data":
                continue
            # Mirrors JsonSerializer: typed fields go to pydantic as they are, the rest
            # (``Any`` fields, extra values) through its decoder.
            keep = field in fields and field not in dynamic
            data[field] = item if keep else self.plain(item, depth + 1)
        extra = value.get("_data") if is_event else None
        if extra is not None:
            if type(extra) is not dict:
                raise ContextSerdeError(f"{name[:80]!r}: '_data' must be an object")
            for field, item in extra.items():
                data.setdefault(field, self.plain(item, depth + 1))
        return {"$event" if is_event else "$model": self.types.key_for(cls), "data": data}

    @staticmethod
    def _mapping(values: dict[Any, Any]) -> Any:
        escape = False
        for key in values:
            if type(key) is not str:
                raise ContextSerdeError(f"object key {brief(key)} is not a string")
            escape = escape or key.startswith("$")
        if escape:  # JsonSerializer reads "$" keys as tags: write such objects as pairs
            return {"$map": [[key, item] for key, item in values.items()]}
        return values


def brief(value: Any) -> str:
    """A short description of a value that is safe to format, however deep it is."""
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    if isinstance(value, str):
        return repr(value[:40])
    return f"of type {type(value).__name__}"
