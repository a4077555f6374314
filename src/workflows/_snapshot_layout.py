"""The snapshot layout, declared once: the models below, and how each field is written.

A snapshot is a ``_SnapshotDoc``. Each model field holds the runtime attribute of the
same name (on ``RunState``, ``QueuedEvent``, ``Invocation``, ``Waiter`` or
``CollectionStream``); its type and constraints are what a reader accepts, and the
marker in its ``Annotated`` metadata says how :func:`write_snapshot` writes it (a field
without one is written as it is). Fields are written in declaration order, so the
declaration order is the key order of every snapshot. Reading validates into these
models (``_SnapshotDoc.model_validate``); ``_snapshot.py`` restores a run from them.

Versions: ``streams`` and the entries' ``scope`` (version 2) are written only while a
collection stream is open; ``joins`` and the entries' ``bound`` (version 3) only while a
join is pending. Every other snapshot is written as version 1, as before either existed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from .context.serializers import BaseSerializer, TypeRegistry
from .errors import ContextSerdeError

FORMAT_VERSION = 1
"""The base format: what a snapshot without an open stream or pending join is written as."""
STREAMS_FORMAT_VERSION = 2
"""Version 1 plus collection streams (``streams`` and the ``scope`` of entries)."""
JOINS_FORMAT_VERSION = 3
"""Version 2 plus pending joins (``joins`` and the ``bound`` batch of entries);
``streams`` is optional."""

_MAX_ID = 2**62

_Where = tuple[str, Any, Any]
"""Where a value sits, for an error message: a ``str.format`` template over ``key`` (the
entry's key in its section) and ``obj`` (the entry); formatted only when writing fails."""

_OMIT: Any = object()
"""What a marker's ``write`` returns for a field the snapshot leaves out."""
_CALL: Any = object()
"""``if_empty``: an empty value is written by calling ``write`` too."""
_KEEP: Any = object()
"""``if_empty``: ``None`` is written as it is (no event)."""


class _Writer:
    """Writes the values of one snapshot: the serializer, allowlist and header fields."""

    def __init__(
        self, serializer: BaseSerializer, types: TypeRegistry, header: dict[str, Any]
    ) -> None:
        self.encode = serializer.encode
        self.types = types
        self.header = header
        self.joined = False
        """Set once a join call's batch is written: the snapshot is then version 3."""

    def event(self, event: Any, where: _Where) -> Any:
        if event is None:
            return None
        try:
            return self.encode(event, self.types)
        except ContextSerdeError as exc:
            template, key, obj = where
            raise ContextSerdeError(f"{template.format(key=key, obj=obj)}: {exc}") from None


class _Marker:
    """How one field is written: :meth:`write` turns the runtime value into the snapshot's.

    ``if_empty`` says how an empty value is written without calling ``write``: ``_KEEP``
    ``None`` as it is, ``_OMIT`` an empty value left out, a factory of a new empty
    container, or ``_CALL`` to call ``write`` anyway. Most sections of most snapshots
    are empty.
    """

    if_empty: Any = _CALL
    optional = False
    """True if the field may be left out (:meth:`write` may return ``_OMIT``)."""

    def write(self, w: _Writer, value: Any, where: _Where) -> Any:
        raise NotImplementedError


class _Header(_Marker):
    """A value the writer is given (format version, serializer, workflow name, state)."""


class _Event(_Marker):
    """An event or ``None``; ``where`` names it in errors (default: its entry)."""

    if_empty = _KEEP

    def __init__(self, where: str | None = None) -> None:
        self.where = where

    def write(self, w: _Writer, value: Any, where: _Where) -> Any:
        return w.event(value, where if self.where is None else (self.where, None, None))


class _EventLists(_Marker):
    """Key -> a list of events (``None`` kept as is); ``where`` formats over the key."""

    if_empty = dict

    def __init__(self, where: str | None = None) -> None:
        self.where = where

    def write(self, w: _Writer, value: Any, where: _Where) -> Any:
        out = {}
        for key, events in value.items():
            at = where if self.where is None else (self.where, key, None)
            out[key] = None if events is None else [w.event(ev, at) for ev in _events(events)]
        return out


class _Joins(_EventLists):
    """The join buffers: written while a join is pending (``w.joined`` or any buffer)."""

    if_empty = _CALL
    optional = True

    def write(self, w: _Writer, value: Any, where: _Where) -> Any:
        if not value and not w.joined:
            return _OMIT
        return super().write(w, value or {}, where)


class _Scope(_Marker):
    """A tuple of stream ids, as a list; left out when empty unless ``always``."""

    def __init__(self, always: bool = False) -> None:
        self.always = always
        self.if_empty = list if always else _OMIT
        self.optional = not always

    def write(self, w: _Writer, value: Any, where: _Where) -> Any:
        return list(value) if value or self.always else _OMIT


class _Bound(_Marker):
    """A join call's batch of events; left out for a call that is not a join (``None``;
    a batch is never empty)."""

    if_empty = _OMIT
    optional = True

    def write(self, w: _Writer, value: Any, where: _Where) -> Any:
        if value is None:
            return _OMIT
        w.joined = True
        return [w.event(ev, where) for ev in value]


class _TypeKey(_Marker):
    """A class, as its allowlist key."""

    def write(self, w: _Writer, value: Any, where: _Where) -> Any:
        return w.types.key_for(value)


class _Value(_Marker):
    """Any value the serializer can encode."""

    def write(self, w: _Writer, value: Any, where: _Where) -> Any:
        return w.encode(value, w.types)


class _Entries(_Marker):
    """Entries of ``model``: a list of a dict's values, or (``keyed``) a dict by the same
    keys; ``omit_empty`` leaves the field out when there are none."""

    def __init__(
        self, model: type[_Strict], where: str, *, keyed: bool = False, omit_empty: bool = False
    ) -> None:
        self.model = model
        self.where = where
        self.keyed = keyed
        self.omit_empty = omit_empty
        self.if_empty = _OMIT if omit_empty else dict if keyed else list
        self.optional = omit_empty

    def write(self, w: _Writer, value: Any, where: _Where) -> Any:
        if value is None or (self.omit_empty and not value):
            return _OMIT
        write = writer_of(self.model)
        if not self.keyed:
            return [write(w, obj, (self.where, None, obj)) for obj in value.values()]
        return {key: write(w, obj, (self.where, key, obj)) for key, obj in value.items()}


class _Queues(_Marker):
    """Step -> its queued entries of ``model``; an empty queue is left out."""

    if_empty = dict

    def __init__(self, model: type[_Strict], where: str) -> None:
        self.model = model
        self.where = where

    def write(self, w: _Writer, value: Any, where: _Where) -> Any:
        write = writer_of(self.model)
        return {
            step: [write(w, item, (self.where, step, item)) for item in queue]
            for step, queue in value.items()
            if queue
        }


def _events(events: Any) -> Iterable[Any]:
    """The events of a buffer (a list, or a join buffer that lists them on demand)."""
    return events if isinstance(events, list) else events.events()


# -- the layout ------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


_ScopeIds = list[Annotated[str, Field(max_length=256)]]
_Id = Annotated[int, Field(ge=1, le=_MAX_ID)]
_Count = Annotated[int, Field(ge=0, le=_MAX_ID)]


class _QueuedDoc(_Strict):
    """An event in a step's queue (``RunState.queues``)."""

    event: Annotated[Any, _Event()]
    lineage: _Count
    scope: Annotated[_ScopeIds, _Scope()] = Field(default_factory=list, max_length=1000)
    """The streams the event belongs to, innermost last."""
    bound: Annotated[list[Any] | None, _Bound()] = Field(default=None, max_length=1000)
    """A join call's batch, one event per parameter in declaration order (``event`` is the
    one that arrived last)."""


class _InvocationDoc(_Strict):
    """A step call that started and has not finished (``RunState.in_flight``); ``scope``
    and ``bound`` as in a queued entry."""

    id: _Id
    step: str = Field(max_length=512)
    event: Annotated[Any, _Event()]
    lineage: _Count
    attempts: _Count
    emits_done: _Count = 0
    writes_done: _Count = 0
    prompted: list[str] = Field(default_factory=list, max_length=10_000)
    first_started_at: float | int | None = None
    last_error: str | None = Field(default=None, max_length=65536)
    last_failed_at: float | int | None = None
    scope: Annotated[_ScopeIds, _Scope()] = Field(default_factory=list, max_length=1000)
    bound: Annotated[list[Any] | None, _Bound()] = Field(default=None, max_length=1000)


class _WaiterDoc(_Strict):
    """A ``ctx.wait_for_event`` call (``RunState.waiters``)."""

    key: str = Field(max_length=256)
    invocation_id: _Id
    event_type: Annotated[str, _TypeKey()] = Field(max_length=512)
    requirements: Annotated[Any, _Value()]
    waiter_id: str | None = Field(default=None, max_length=4096)
    waiter_event: Annotated[Any, _Event()] = None
    emitted: bool
    resolved: Annotated[Any, _Event()] = None
    deadline: float | int | None = None


class _StreamDoc(_Strict):
    """An open collection stream (``RunState.streams``), keyed by its id."""

    source: str = Field(max_length=512)
    scope: Annotated[_ScopeIds, _Scope(always=True)] = Field(max_length=1000)
    open: _Id
    """The stream's live work items."""
    buffers: Annotated[dict[str, list[Any] | None], _EventLists()]
    """Binding id -> members gathered so far; ``None`` once its ``Take(n)`` has fired."""


class _SnapshotDoc(_Strict):
    """A snapshot: a ``RunState``, its encoded state store, and what it was written with."""

    format_version: Annotated[int, _Header()]
    serializer: Annotated[str, _Header()] = Field(max_length=64)
    workflow: Annotated[str, _Header()] = Field(max_length=512)
    run_id: str = Field(max_length=256)
    started: bool
    stop_event: Annotated[Any, _Event("stop_event")] = None
    state: Annotated[Any, _Header()]
    queues: Annotated[dict[str, list[_QueuedDoc]], _Queues(_QueuedDoc, "queue of {key!r}")]
    in_flight: Annotated[
        list[_InvocationDoc], _Entries(_InvocationDoc, "in-flight step {obj.step!r}")
    ]
    waiters: Annotated[list[_WaiterDoc], _Entries(_WaiterDoc, "waiter {obj.key}")]
    collect: Annotated[dict[str, list[Any]], _EventLists("collect buffer {key!r}")]
    stream_seq: _Count
    next_invocation_id: _Id
    pending_prompts: _Count
    joins: Annotated[dict[str, list[Any]] | None, _Joins("join buffer of {key!r}")] = None
    """Join step -> its events waiting for a batch, oldest first."""
    streams: Annotated[
        dict[str, _StreamDoc] | None,
        _Entries(_StreamDoc, "stream {obj.id!r}", keyed=True, omit_empty=True),
    ] = None


_Layout = tuple[tuple[str, "_Marker | None"], ...]
_EntryWriter = Callable[[_Writer, Any, _Where], dict[str, Any]]
_LAYOUTS: dict[type[BaseModel], _Layout] = {}
_WRITERS: dict[type[BaseModel], _EntryWriter] = {}


def layout_of(model: type[BaseModel]) -> _Layout:
    """``(field name, marker or None)`` of each field of ``model``, in declaration order."""
    found = _LAYOUTS.get(model)
    if found is None:
        found = _LAYOUTS[model] = tuple(
            (name, next((m for m in info.metadata if isinstance(m, _Marker)), None))
            for name, info in model.model_fields.items()
        )
    return found


def fields_of(doc: BaseModel, **decoded: Any) -> dict[str, Any]:
    """A validated entry's fields by name, those given in ``decoded`` replaced: the
    keyword arguments that rebuild the runtime object (its attributes bear these names)."""
    return doc.__dict__ | decoded


def writer_of(model: type[BaseModel]) -> _EntryWriter:
    """The function that writes an object as a ``model`` entry (built once per model).

    It is compiled from the model's fields, as :mod:`dataclasses` compiles ``__init__``:
    one dict display reading each field's attribute, with the marked fields written by
    their marker unless empty. Snapshots are written at every durable commit, so this
    costs what a hand-written literal would (a loop over the fields costs twice that).
    The source is made of the declaration's field names only, never of snapshot data.
    Fields a snapshot may leave out must come after those it always holds.
    """
    found = _WRITERS.get(model)
    if found is None:
        source, namespace = _writer_source(model)
        exec(compile(source, f"<snapshot writer of {model.__name__}>", "exec"), namespace)
        found = _WRITERS[model] = namespace["write"]
    return found


def _writer_source(model: type[BaseModel]) -> tuple[str, dict[str, Any]]:
    """The source of :func:`writer_of`'s function and the names it uses."""
    namespace: dict[str, Any] = {"_OMIT": _OMIT}
    items: list[str] = []
    optional: list[str] = []
    for i, (name, marker) in enumerate(layout_of(model)):
        read, write = f"obj.{name}", f"m{i}(w, v, where)"
        if marker is not None:
            namespace[f"m{i}"], namespace[f"f{i}"] = marker.write, marker.if_empty
        if marker is None:
            items.append(f"{name!r}: {read}")
        elif isinstance(marker, _Header):
            items.append(f"{name!r}: w.header[{name!r}]")
        elif marker.optional and marker.if_empty is _OMIT:
            optional.append(f"if (v := {read}):\n        out[{name!r}] = {write}")
        elif marker.optional:
            optional.append(
                f"if (v := m{i}(w, {read}, where)) is not _OMIT:\n        out[{name!r}] = v"
            )
        elif marker.if_empty is _CALL:
            items.append(f"{name!r}: m{i}(w, {read}, where)")
        elif marker.if_empty is _KEEP:
            items.append(f"{name!r}: None if (v := {read}) is None else {write}")
        else:
            items.append(f"{name!r}: {write} if (v := {read}) else f{i}()")
        if optional and not (marker is not None and marker.optional):
            raise TypeError(f"{model.__name__}.{name}: follows a field that may be left out")
    lines = ["def write(w, obj, where):", f"    out = {{{', '.join(items)}}}"]
    lines.extend(f"    {statement}" for statement in optional)
    lines.append("    return out")
    return "\n".join(lines) + "\n", namespace


def write_snapshot(
    state: Any, serializer: BaseSerializer, types: TypeRegistry, header: dict[str, Any]
) -> dict[str, Any]:
    """Write ``state`` (a ``RunState``) and the ``header`` values as a snapshot dict.

    ``header`` holds ``serializer``, ``workflow`` and ``state`` (already encoded); the
    ``format_version`` is the lowest that holds what is written.

    Raises:
        ContextSerdeError: a value cannot be encoded (the message says where it sits).
    """
    header["format_version"] = FORMAT_VERSION
    w = _Writer(serializer, types, header)
    data = writer_of(_SnapshotDoc)(w, state, ("", None, None))
    if "joins" in data:
        data["format_version"] = JOINS_FORMAT_VERSION
    elif "streams" in data:
        data["format_version"] = STREAMS_FORMAT_VERSION
    return data


for _model in (_QueuedDoc, _InvocationDoc, _WaiterDoc, _StreamDoc, _SnapshotDoc):
    writer_of(_model)  # built at import: a declaration that cannot be written fails here
del _model
