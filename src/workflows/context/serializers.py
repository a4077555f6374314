"""Serializers: how values in a context snapshot are encoded.

:class:`JsonSerializer` (the default) writes plain JSON data and never executes code while
decoding: classes named in a payload are looked up in an allowlist made of the workflow's
own event types, the ``Context[Model]`` state type, the built-in events and the types
given as ``extra_types``; a name outside it is a :class:`~workflows.errors.ContextSerdeError`,
never an import. :class:`PickleSerializer` is an explicit opt-in for values JSON cannot
hold; it executes code on load and must never read untrusted data.
"""

from __future__ import annotations

import base64
import binascii
import math
import pickle
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError

from .. import events as _events
from ..errors import ContextSerdeError

__all__ = [
    "BaseSerializer",
    "JsonSerializer",
    "ModelCodec",
    "PickleSerializer",
    "TypeRegistry",
    "type_key",
]


def type_key(cls: type[Any]) -> str:
    """The name a class is written under in a snapshot: ``module.QualName``."""
    return f"{cls.__module__}.{cls.__qualname__}"


_BUILTIN_EVENTS: tuple[type[Any], ...] = tuple(getattr(_events, name) for name in _events.__all__)


class TypeRegistry:
    """The classes a snapshot may name: resolved by key, never imported.

    A class is written under ``module.QualName`` (:func:`type_key`). A class nested in
    another class or defined in a function is also found under ``module.Name``, the key
    llama-index-workflows writes for it, unless several allowed classes answer to it.
    """

    def __init__(self, types: Iterable[type[Any]] = ()) -> None:
        self._by_key: dict[str, type[Any]] = {}
        self._by_qualname: dict[str, type[Any] | None] = {}
        self._nested_by_name: dict[str, list[type[Any]]] = {}
        for cls in (*_BUILTIN_EVENTS, *types):
            self.add(cls)

    def add(self, cls: type[Any]) -> None:
        """Allow ``cls`` (a pydantic model class)."""
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
            raise TypeError(f"only pydantic model classes can be registered, got {cls!r}")
        self._by_key[type_key(cls)] = cls
        # A script's classes are `__main__.X` in one process and `script.X` in another:
        # an unambiguous qualified name still finds them (None marks an ambiguous name).
        known = self._by_qualname.get(cls.__qualname__, cls)
        self._by_qualname[cls.__qualname__] = cls if known is cls else None
        if cls.__name__ != cls.__qualname__:
            same_name = self._nested_by_name.setdefault(cls.__name__, [])
            if cls not in same_name:
                same_name.append(cls)

    def _nested_alias(self, key: str) -> type[Any] | None:
        """The nested class a reference key ``module.Name`` stands for, if any.

        The module must match, or one side must be a script (``__main__``).

        Raises:
            ContextSerdeError: several allowed classes answer to ``key``.
        """
        module, _, name = key.rpartition(".")
        candidates = self._nested_by_name.get(name)
        if not candidates:
            return None
        found = [c for c in candidates if c.__module__ == module]
        if not found:
            found = [c for c in candidates if "__main__" in (module, c.__module__) and module != ""]
        if len(found) > 1:
            names = ", ".join(sorted(type_key(cls) for cls in found))
            raise ContextSerdeError(
                f"type name {key[:200]!r} in snapshot is ambiguous: it may be any of {names}"
            )
        return found[0] if found else None

    def _script_alias(self, key: str) -> type[Any] | None:
        """The class a script's module name hides: ``__main__.X`` <-> ``script.X``."""
        if key.startswith("__main__."):
            return self._by_qualname.get(key[len("__main__.") :])
        for known_key, cls in self._by_key.items():
            if known_key.startswith("__main__.") and key.endswith("." + cls.__qualname__):
                return self._by_qualname.get(cls.__qualname__)
        return None

    def allows(self, cls: type[Any]) -> bool:
        """True if ``cls`` itself is in the allowlist."""
        return self._by_key.get(type_key(cls)) is cls

    def key_for(self, cls: type[Any]) -> str:
        """Return the key of an allowed class.

        Raises:
            ContextSerdeError: ``cls`` is not allowed.
        """
        key = type_key(cls)
        known = self._by_key.get(key)
        if known is None and _is_event_class(cls):
            # An event object in hand was made by the workflow's code: naming its class
            # is safe (only decoding is held to the allowlist), and allowing it here lets
            # it come back in this process too.
            self.add(cls)
            return key
        if known is not cls:
            raise ContextSerdeError(
                f"{key} is not a type this workflow's snapshots can hold: use it in a step "
                "signature, or register it with JsonSerializer(extra_types=[...])"
            )
        return key

    def resolve(self, key: Any) -> type[Any]:
        """Return the allowed class named ``key`` (``module.QualName`` or ``module.Name``).

        Raises:
            ContextSerdeError: the name is not in the allowlist, or stands for several
                allowed classes.
        """
        if not isinstance(key, str) or len(key) > 512:
            raise ContextSerdeError(f"invalid type name in snapshot: {str(key)[:80]!r}")
        cls = self._by_key.get(key) or self._script_alias(key) or self._nested_alias(key)
        if cls is None:
            raise ContextSerdeError(f"unknown type {key!r} in snapshot (not in the allowlist)")
        return cls


class BaseSerializer(ABC):
    """Encodes one value of a snapshot to JSON-safe data and back.

    Implementations must make ``decode(encode(v)) == v`` for the values they accept and
    raise :class:`ContextSerdeError` (and nothing else) for values or payloads they cannot
    handle.
    """

    name: str = "base"

    @abstractmethod
    def encode(self, value: Any, types: TypeRegistry) -> Any:
        """Return JSON-safe data for ``value``."""

    @abstractmethod
    def decode(self, data: Any, types: TypeRegistry) -> Any:
        """Return the value ``data`` was encoded from."""

    def extra_types(self) -> tuple[type[Any], ...]:
        """Types this serializer adds to the allowlist."""
        return ()

    def serialize(self, value: Any) -> str:
        """Encode one value to a JSON string (built-in event types only)."""
        import json

        registry = TypeRegistry(self.extra_types())
        return json.dumps(self.encode(value, registry))

    def deserialize(self, value: str) -> Any:
        """Decode a string written by :meth:`serialize`."""
        import json

        try:
            data = json.loads(value)
        except (ValueError, RecursionError) as exc:
            raise ContextSerdeError(f"not valid JSON: {exc}") from None
        return self.decode(data, TypeRegistry(self.extra_types()))


_TAGS = frozenset(
    {
        "$event",
        "$model",
        "$tuple",
        "$set",
        "$bytes",
        "$datetime",
        "$date",
        "$timedelta",
        "$map",
        "$float",
        "$exception",
    }
)

_ANY_FIELDS_CACHE: dict[type[Any], frozenset[str]] = {}


def _any_fields(cls: type[BaseModel]) -> frozenset[str]:
    """Fields typed ``Any``: pydantic cannot rebuild their values' types, we do."""
    found = _ANY_FIELDS_CACHE.get(cls)
    if found is None:
        found = frozenset(
            name for name, info in cls.model_fields.items() if info.annotation in (Any, object)
        )
        _ANY_FIELDS_CACHE[cls] = found
    return found


class ModelCodec(NamedTuple):
    """How :class:`JsonSerializer` writes and rebuilds one pydantic model class."""

    to_data: Callable[[Any], Any]
    """The instance as data of JSON types, tuples, sets or allowlisted models."""
    from_data: Callable[[Any], Any]
    """The instance rebuilt from what ``to_data`` returned (after a round trip)."""


class JsonSerializer(BaseSerializer):
    """The default serializer: JSON data, an allowlist of classes, bounded decoding.

    Args:
        extra_types: pydantic model classes (events or state values) that snapshots may
            hold besides the workflow's own event types and its state type.
        max_depth: deepest nesting of containers accepted, encoding or decoding.
        max_string_length: longest string accepted when decoding (characters).
        codecs: ``{model class: ModelCodec(to_data, from_data)}`` for pydantic models
            whose own ``model_dump``/``model_validate`` cannot round-trip them (a chat
            memory holding a tokenizer function, say). The classes join the allowlist;
            ``to_data`` returns JSON-encodable data (it is encoded like any other value),
            ``from_data`` rebuilds the instance from the decoded data.
    """

    name = "json"

    def __init__(
        self,
        extra_types: Iterable[type[Any]] = (),
        *,
        max_depth: int = 100,
        max_string_length: int = 16 * 1024 * 1024,
        codecs: Mapping[type[Any], ModelCodec] | None = None,
    ) -> None:
        self._codecs: dict[type[Any], ModelCodec] = dict(codecs or {})
        self._extra_types = tuple(dict.fromkeys((*extra_types, *self._codecs)))
        for cls in self._extra_types:
            if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
                raise TypeError(f"extra_types must be pydantic model classes, got {cls!r}")
        self.max_depth = max_depth
        self.max_string_length = max_string_length

    def extra_types(self) -> tuple[type[Any], ...]:
        """Types given as ``extra_types``."""
        return self._extra_types

    # -- encoding ----------------------------------------------------------------------
    def encode(self, value: Any, types: TypeRegistry) -> Any:
        """Return JSON-safe data for ``value``.

        Raises:
            ContextSerdeError: a value of a type JSON cannot hold, a class outside the
                allowlist, or nesting deeper than ``max_depth``.
        """
        return self._encode(value, types, 0)

    def _encode(self, value: Any, types: TypeRegistry, depth: int) -> Any:
        if value is None or value is True or value is False or type(value) in (int, str):
            return value
        if depth > self.max_depth:
            raise ContextSerdeError(f"value nested deeper than {self.max_depth} levels")
        if isinstance(value, float):
            return value if math.isfinite(value) else {"$float": repr(value)}
        if isinstance(value, list):
            return [self._encode(item, types, depth + 1) for item in value]
        if isinstance(value, dict):
            if all(type(k) is str and not k.startswith("$") for k in value):
                try:
                    return {k: self._encode(v, types, depth + 1) for k, v in value.items()}
                except ContextSerdeError as exc:
                    bad = next(k for k, v in value.items() if not _encodable(self, v, types, depth))
                    raise ContextSerdeError(f"at key {bad!r}: {exc}") from None
            return {
                "$map": [
                    [self._encode(k, types, depth + 1), self._encode(v, types, depth + 1)]
                    for k, v in value.items()
                ]
            }
        if isinstance(value, _events.Event):
            return self._encode_event(value, types, depth)
        if isinstance(value, BaseException):
            return {"$exception": {"type": type(value).__name__, "message": str(value)}}
        if isinstance(value, BaseModel):
            key = types.key_for(type(value))
            codec = self._codecs.get(type(value)) if self._codecs else None
            if codec is not None:
                try:
                    raw = codec.to_data(value)
                except Exception as exc:
                    raise ContextSerdeError(f"cannot encode {key}: {exc}") from None
                return {"$model": key, "data": {"$codec": self._encode(raw, types, depth + 1)}}
            return {"$model": key, "data": self._model_data(value, types, depth)}
        if isinstance(value, tuple):
            return {"$tuple": [self._encode(item, types, depth + 1) for item in value]}
        if isinstance(value, (set, frozenset)):
            return {"$set": [self._encode(item, types, depth + 1) for item in value]}
        if isinstance(value, bytes):
            return {"$bytes": base64.b64encode(value).decode("ascii")}
        if isinstance(value, datetime):
            return {"$datetime": value.isoformat()}
        if isinstance(value, date):
            return {"$date": value.isoformat()}
        if isinstance(value, timedelta):  # exact: days, seconds, microseconds
            return {"$timedelta": [value.days, value.seconds, value.microseconds]}
        if isinstance(value, int):  # bool and int subclasses such as IntEnum
            return int(value)
        if isinstance(value, str):
            return str(value)
        from ..context.state_store import DictState

        if isinstance(value, DictState):
            return self._encode(value.to_dict(), types, depth)
        raise ContextSerdeError(
            f"cannot encode a value of type {type(value).__qualname__} with JsonSerializer: "
            "use JSON types or pydantic models, or opt in to PickleSerializer"
        )

    def state_layout(self, state: Any, types: TypeRegistry) -> tuple[Any, list[str]] | None:
        """Where :meth:`encode` puts the top-level entries of a state: the encoded state
        with its entries left out, and the path inside it of the object that holds
        them (``[]``: the encoded state is that object). None when the entries are not
        an object's keys: a state that is neither a ``DictState`` nor a pydantic model,
        or a model written through a codec."""
        from ..context.state_store import DictState

        if isinstance(state, DictState):
            return {}, []
        if isinstance(state, BaseModel) and not (self._codecs and type(state) in self._codecs):
            return {"$model": types.key_for(type(state)), "data": {}}, ["data"]
        return None

    def encode_entries(
        self, state: Any, keys: Iterable[str], types: TypeRegistry
    ) -> dict[str, Any] | None:
        """The top-level entries ``keys`` of a state with a :meth:`state_layout`, each
        encoded exactly as :meth:`encode` encodes it inside the whole state; a key the
        encoded state does not hold is left out (a deleted key). A model's computed
        fields, which follow its other fields, are always included. None when a key of
        a ``DictState`` is not a plain string (its state is written as a ``$map``,
        which has no entries by key).

        Raises:
            ContextSerdeError: an entry that cannot be encoded, naming its key.
        """
        from ..context.state_store import DictState

        encoded: dict[str, Any] = {}
        if isinstance(state, DictState):
            data = state.to_dict()
            for key in keys:
                if type(key) is not str or key.startswith("$"):
                    return None
                if key in data:
                    try:
                        encoded[key] = self._encode(data[key], types, 1)
                    except ContextSerdeError as exc:
                        raise ContextSerdeError(f"at key {key!r}: {exc}") from None
            return encoded
        model: BaseModel = state
        cls = type(model)
        dynamic = _any_fields(cls)
        extra = model.__pydantic_extra__ or {}
        wanted = [*keys, *cls.model_computed_fields]
        dumped_names = {
            key
            for key in wanted
            if (key in cls.model_fields or key in cls.model_computed_fields) and key not in dynamic
        }
        try:
            dumped = (
                model.model_dump(mode="json", include=dumped_names, round_trip=True)
                if dumped_names
                else {}
            )
        except Exception as exc:
            raise ContextSerdeError(f"cannot encode {cls.__qualname__}: {exc}") from None
        for key in wanted:
            if key in dumped:
                encoded[key] = dumped[key]
            elif key in dynamic or key in extra:
                value = extra[key] if key in extra else getattr(model, key)
                encoded[key] = self._encode(value, types, 1)
        return encoded

    def _model_data(self, model: BaseModel, types: TypeRegistry, depth: int) -> dict[str, Any]:
        cls = type(model)
        dynamic = _any_fields(cls)
        try:
            data: dict[str, Any] = model.model_dump(
                mode="json", exclude=set(dynamic) if dynamic else None, round_trip=True
            )
        except Exception as exc:
            raise ContextSerdeError(f"cannot encode {cls.__qualname__}: {exc}") from None
        for name in dynamic:
            data[name] = self._encode(getattr(model, name), types, depth + 1)
        extra = model.__pydantic_extra__
        if extra:
            for name, val in extra.items():
                data[name] = self._encode(val, types, depth + 1)
        if isinstance(model, _events.StopEvent) and model._result is not None:
            # `result` is a private attribute model_dump leaves in JSON form: keep its types.
            data["result"] = self._encode(model._result, types, depth + 1)
        return data

    def _encode_event(self, event: _events.Event, types: TypeRegistry, depth: int) -> Any:
        cls = type(event)
        encoded: dict[str, Any] = {"$event": type_key(cls)}
        if not types.allows(cls):
            # Not in the allowlist (e.g. a prompt subclass no step signature names): keep
            # its allowlisted ancestors, so a reader rebuilds the nearest one with every
            # field kept as an extra value.
            encoded["bases"] = [
                type_key(base)
                for base in cls.__mro__[1:]
                if isinstance(base, type) and issubclass(base, _events.Event)
            ][:32]
        encoded["data"] = self._model_data(event, types, depth)
        return encoded

    # -- decoding ----------------------------------------------------------------------
    def decode(self, data: Any, types: TypeRegistry) -> Any:
        """Return the value ``data`` was encoded from.

        Raises:
            ContextSerdeError: malformed data, an unknown class name, a string longer than
                ``max_string_length``, or nesting deeper than ``max_depth``.
        """
        return self._decode(data, types, 0)

    def _decode(self, data: Any, types: TypeRegistry, depth: int) -> Any:
        if data is None or data is True or data is False:
            return data
        kind = type(data)
        if kind is int or kind is float:
            return data
        if kind is str:
            if len(data) > self.max_string_length:
                raise ContextSerdeError(
                    f"string of {len(data)} characters exceeds max_string_length "
                    f"({self.max_string_length})"
                )
            return data
        if depth > self.max_depth:
            raise ContextSerdeError(f"snapshot data nested deeper than {self.max_depth} levels")
        if kind is list:
            return [self._decode(item, types, depth + 1) for item in data]
        if kind is dict:
            if len(data) <= 3 and any(k in _TAGS for k in data):
                return self._decode_tagged(data, types, depth)
            for key in data:
                if type(key) is not str:
                    raise ContextSerdeError(f"object key {key!r} is not a string")
                if key.startswith("$"):
                    raise ContextSerdeError(f"unexpected tag {key[:40]!r} in snapshot data")
            return {k: self._decode(v, types, depth + 1) for k, v in data.items()}
        raise ContextSerdeError(f"unexpected {kind.__name__} in snapshot data (not JSON)")

    def _decode_tagged(self, data: dict[str, Any], types: TypeRegistry, depth: int) -> Any:
        if "$exception" in data:
            info = _expect(data["$exception"], dict, "$exception")
            return {
                "type": str(info.get("type", ""))[:200],
                "message": str(info.get("message", "")),
            }
        if "$event" in data or "$model" in data:
            tag = "$event" if "$event" in data else "$model"
            cls = self._resolve_with_bases(data, tag, types)
            payload = data.get("data")
            if type(payload) is not dict:
                raise ContextSerdeError(f"{tag} {data[tag]!r}: 'data' must be an object")
            if tag == "$event" and not issubclass(cls, _events.Event):
                raise ContextSerdeError(f"{data[tag]!r} is not an event type")
            return self._build_model(cls, payload, types, depth)
        (tag, body), *_ = data.items()
        try:
            if tag == "$tuple":
                return tuple(self._decode(_expect(body, list, tag), types, depth + 1))
            if tag == "$set":
                return set(self._decode(_expect(body, list, tag), types, depth + 1))
            if tag == "$bytes":
                return base64.b64decode(_expect(body, str, tag), validate=True)
            if tag == "$datetime":
                return datetime.fromisoformat(_expect(body, str, tag))
            if tag == "$date":
                return date.fromisoformat(_expect(body, str, tag))
            if tag == "$timedelta":
                return _timedelta(_expect(body, list, tag))
            if tag == "$float":
                if body not in ("nan", "inf", "-inf"):
                    raise ContextSerdeError(f"bad $float value {str(body)[:20]!r}")
                return float(body)
            if tag == "$map":
                pairs = _expect(body, list, tag)
                result: dict[Any, Any] = {}
                for pair in pairs:
                    if type(pair) is not list or len(pair) != 2:
                        raise ContextSerdeError("$map entries must be [key, value] pairs")
                    k = self._decode(pair[0], types, depth + 1)
                    try:
                        result[k] = self._decode(pair[1], types, depth + 1)
                    except TypeError:
                        raise ContextSerdeError(f"unhashable map key {k!r}") from None
                return result
        except (ValueError, OverflowError, binascii.Error, TypeError) as exc:
            raise ContextSerdeError(f"bad {tag} value: {exc}") from None
        raise ContextSerdeError(f"unknown tag {tag[:40]!r} in snapshot data")

    def _resolve_with_bases(self, data: dict[str, Any], tag: str, types: TypeRegistry) -> Any:
        try:
            return types.resolve(data[tag])
        except ContextSerdeError:
            bases = data.get("bases") if tag == "$event" else None
            if type(bases) is not list:
                raise
            for base in bases[:32]:
                if type(base) is str:
                    with suppress(ContextSerdeError):
                        return types.resolve(base)
            raise

    def _build_model(
        self, cls: type[Any], payload: dict[str, Any], types: TypeRegistry, depth: int
    ) -> Any:
        codec = self._codecs.get(cls) if self._codecs else None
        if codec is not None and "$codec" in payload:
            raw = self._decode(payload["$codec"], types, depth + 1)
            try:
                return codec.from_data(raw)
            except Exception as exc:
                raise ContextSerdeError(f"{cls.__qualname__}: cannot rebuild: {exc}") from None
        for value in payload.values():
            if type(value) is str and len(value) > self.max_string_length:
                raise ContextSerdeError(f"{cls.__qualname__}: string exceeds max_string_length")
        model_fields = cls.model_fields
        dynamic = _any_fields(cls)
        values: dict[str, Any] = {}
        for name, value in payload.items():
            if name in model_fields and name not in dynamic:
                values[name] = _check_plain(value, self, depth + 1)
            else:
                values[name] = self._decode(value, types, depth + 1)
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            errors = exc.errors()
            where = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
            message = errors[0]["msg"] if errors else str(exc)
            raise ContextSerdeError(f"{cls.__qualname__}: field {where!r}: {message}") from None
        except Exception as exc:
            raise ContextSerdeError(f"{cls.__qualname__}: cannot rebuild: {exc}") from None


def _encodable(serializer: JsonSerializer, value: Any, types: TypeRegistry, depth: int) -> bool:
    try:
        serializer._encode(value, types, depth + 1)
    except ContextSerdeError:
        return False
    return True


def _expect(body: Any, kind: type[Any], tag: str) -> Any:
    if type(body) is not kind:
        raise ContextSerdeError(f"{tag} value must be a {kind.__name__}")
    return body


def _check_plain(value: Any, serializer: JsonSerializer, depth: int) -> Any:
    """Bound the depth and string sizes of data handed to pydantic as-is."""
    stack: list[tuple[Any, int]] = [(value, depth)]
    while stack:
        node, level = stack.pop()
        kind = type(node)
        if kind is str:
            if len(node) > serializer.max_string_length:
                raise ContextSerdeError("string exceeds max_string_length")
        elif kind is list or kind is dict:
            if level > serializer.max_depth:
                raise ContextSerdeError(
                    f"snapshot data nested deeper than {serializer.max_depth} levels"
                )
            children = node.values() if kind is dict else node
            stack.extend((child, level + 1) for child in children)
        elif node is not None and kind not in (int, float, bool):
            raise ContextSerdeError(f"unexpected {kind.__name__} in snapshot data (not JSON)")
    return value


class PickleSerializer(JsonSerializer):
    """Opt-in serializer that pickles values JSON cannot hold.

    .. warning:: unpickling executes code chosen by whoever wrote the payload. Use it only
       for snapshots your own process wrote to storage you trust.
    """

    name = "pickle"

    def encode(self, value: Any, types: TypeRegistry) -> Any:
        """Pickle ``value`` into a base64 string."""
        try:
            blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise ContextSerdeError(f"cannot pickle {type(value).__qualname__}: {exc}") from None
        return {"$pickle": base64.b64encode(blob).decode("ascii")}

    def decode(self, data: Any, types: TypeRegistry) -> Any:
        """Unpickle a value written by :meth:`encode` (executes code: trusted data only)."""
        if type(data) is not dict or type(data.get("$pickle")) is not str:
            raise ContextSerdeError("expected a {'$pickle': ...} value")
        try:
            return pickle.loads(base64.b64decode(data["$pickle"], validate=True))
        except Exception as exc:
            raise ContextSerdeError(f"cannot unpickle value: {exc}") from None


def _is_event_class(cls: type[Any]) -> bool:
    from ..events import Event  # (events import this module's helpers)

    return issubclass(cls, Event)


def _timedelta(parts: list[Any]) -> timedelta:
    """The timedelta of a ``$timedelta`` body: ``[days, seconds, microseconds]``."""
    if len(parts) != 3 or not all(type(part) is int for part in parts):
        raise ContextSerdeError("$timedelta must be [days, seconds, microseconds] integers")
    days, seconds, microseconds = parts
    return timedelta(days=days, seconds=seconds, microseconds=microseconds)
