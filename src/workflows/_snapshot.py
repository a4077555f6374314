"""Context snapshots: ``RunState`` + state store <-> a versioned, JSON-safe dict.

The layout is declared once, in :mod:`._snapshot_layout`: :func:`snapshot_to_dict`
writes a run through it, and :func:`snapshot_from_dict` validates a snapshot into it,
then restores the run section by section, checking each against the workflow's graph.
A snapshot written by LlamaIndex Workflows is translated into the layout first
(:mod:`._reference_snapshot`).

The outer structure is validated strictly; every value inside goes through the
serializer, which resolves classes only from the workflow's allowlist.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from ._collection import CollectionStream
from ._join import JoinBuffer, buffer_of
from ._reference_snapshot import from_reference_snapshot, is_reference_snapshot
from ._run_state import Invocation, QueuedEvent, RunState, Waiter
from ._snapshot_layout import (
    FORMAT_VERSION,
    JOINS_FORMAT_VERSION,
    STREAMS_FORMAT_VERSION,
    _InvocationDoc,
    _QueuedDoc,
    _SnapshotDoc,
    _StreamDoc,
    _WaiterDoc,
    fields_of,
    write_snapshot,
)
from ._type_discovery import referenced_event_types
from ._validation_text import validation_summary
from .context.serializers import BaseSerializer, JsonSerializer, TypeRegistry
from .errors import ContextSerdeError
from .events import CollectionReleaseEvent, Event, StopEvent

if TYPE_CHECKING:
    from .context.context import Context
    from .workflow import Workflow

__all__ = [
    "FORMAT_VERSION",
    "JOINS_FORMAT_VERSION",
    "STREAMS_FORMAT_VERSION",
    "registry_for",
    "snapshot_from_dict",
    "snapshot_to_dict",
]

_READABLE = (FORMAT_VERSION, STREAMS_FORMAT_VERSION, JOINS_FORMAT_VERSION)

_DEFAULT_SERIALIZER = JsonSerializer()

_ENCODE_STATE: Any = object()


def _brief(value: Any) -> str:
    """A short description of a value that is safe to format, however deep it is."""
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    if isinstance(value, str):
        return repr(value[:20])
    return f"of type {type(value).__name__}"


def registry_for(workflow: Workflow, serializer: BaseSerializer) -> TypeRegistry:
    """The allowlist of classes a snapshot of ``workflow`` may name."""
    graph = workflow._graph()
    cache: dict[Any, TypeRegistry] = serializer.__dict__.setdefault("_registries", {})
    found = cache.get(graph)
    if found is None:
        found = cache[graph] = _build_registry(graph, serializer, type(workflow))
    return found


def _build_registry(graph: Any, serializer: BaseSerializer, owner: type[Any]) -> TypeRegistry:
    types: list[type[Any]] = list(graph.event_types)
    # Events used only in wait_for_event or written only to the stream, found in the code.
    types.extend(referenced_event_types((spec.func for spec in graph.specs.values()), [owner]))
    if isinstance(graph.state_type, type) and issubclass(graph.state_type, BaseModel):
        types.append(graph.state_type)
    if graph.collecting:
        types.append(CollectionReleaseEvent)
    types.extend(serializer.extra_types())
    return TypeRegistry(types)


def snapshot_to_dict(
    ctx: Context[Any],
    serializer: BaseSerializer | None,
    workflow_name: str | None = None,
    *,
    encoded_state: Any = _ENCODE_STATE,
) -> dict[str, Any]:
    """Encode a context (the layout: :mod:`._snapshot_layout`).

    ``workflow_name`` overrides the name recorded (the engine records its registry name).
    ``encoded_state`` is written as the ``state`` instead of encoding the context's
    state (the engine writes the state's entries apart, in state rows).

    Raises:
        ContextSerdeError: a value cannot be encoded (the message says where it sits).
    """
    serializer = serializer or ctx._workflow.serializer or _DEFAULT_SERIALIZER
    types = registry_for(ctx._workflow, serializer)
    if encoded_state is _ENCODE_STATE:
        try:
            encoded_state = serializer.encode(ctx._store._snapshot_state(), types)
        except ContextSerdeError as exc:
            raise ContextSerdeError(f"state: {exc}") from None
    header = {
        "serializer": serializer.name,
        "workflow": workflow_name or ctx._workflow.workflow_name,
        "state": encoded_state,
    }
    return write_snapshot(ctx._state, serializer, types, header)


def snapshot_from_dict(
    cls: type[Context[Any]],
    workflow: Workflow,
    data: Any,
    serializer: BaseSerializer | None,
    workflow_name: str | None = None,
) -> Context[Any]:
    """Decode a snapshot into a new context of ``workflow``.

    ``workflow_name`` is the name the snapshot must carry (default: the workflow's).

    Raises:
        ContextSerdeError: naming what is wrong with ``data``.
    """
    serializer = serializer or workflow.serializer or _DEFAULT_SERIALIZER
    doc = _read_doc(data, workflow, serializer, workflow_name or workflow.workflow_name)
    reader = _Reader(workflow, serializer)
    ctx = cls(workflow)
    ctx._state = _restore_run(doc, reader)
    ctx._store._restore_state(_restore_store_state(doc.state, reader))
    return ctx


# -- reading ---------------------------------------------------------------------------
def _read_doc(data: Any, workflow: Workflow, serializer: BaseSerializer, name: str) -> _SnapshotDoc:
    """``data`` validated into the layout, written for this serializer and workflow."""
    if not isinstance(data, dict):
        raise ContextSerdeError(f"a snapshot must be a dict, got {type(data).__name__}")
    if is_reference_snapshot(data):  # written by LlamaIndex Workflows: translate it first
        types = registry_for(workflow, serializer)
        data = from_reference_snapshot(data, workflow, types, serializer, name)
    version = data.get("format_version")
    if type(version) is not int or version not in _READABLE:
        raise ContextSerdeError(
            f"unsupported snapshot format_version {_brief(version)} "
            f"(this library reads versions {FORMAT_VERSION} to {JOINS_FORMAT_VERSION})"
        )
    try:
        doc = _SnapshotDoc.model_validate(data)
    except ValidationError as exc:
        summary = validation_summary(exc, limit=1, where="snapshot")
        raise ContextSerdeError(f"bad snapshot: {summary}") from None
    _check_version_parts(doc, version)
    if doc.serializer != serializer.name:
        raise ContextSerdeError(
            f"snapshot was written with the {doc.serializer!r} serializer; "
            f"pass serializer= that matches (got {serializer.name!r})"
        )
    if doc.workflow != name:
        raise ContextSerdeError(f"snapshot belongs to workflow {doc.workflow[:80]!r}, not {name!r}")
    return doc


def _check_version_parts(doc: _SnapshotDoc, version: int) -> None:
    """Refuse parts the declared ``format_version`` cannot hold (or lacks)."""
    problem = None
    has_bound = any(
        item.bound is not None for items in doc.queues.values() for item in items
    ) or any(inv.bound is not None for inv in doc.in_flight)
    if version == STREAMS_FORMAT_VERSION and doc.streams is None:
        problem = "streams: required"
    elif version == FORMAT_VERSION and doc.streams is not None:
        problem = "streams: not allowed"
    elif version != JOINS_FORMAT_VERSION and doc.joins is not None:
        problem = "joins: not allowed"
    elif version != JOINS_FORMAT_VERSION and has_bound:
        problem = "bound: not allowed"
    if problem is not None:
        raise ContextSerdeError(f"bad snapshot: {problem} in format_version {version}")


class _Reader:
    """Decodes the values of a validated snapshot and checks them against the graph."""

    def __init__(self, workflow: Workflow, serializer: BaseSerializer) -> None:
        self.serializer = serializer
        self.types = registry_for(workflow, serializer)
        self.graph = workflow._graph()
        self.streams: dict[str, CollectionStream] = {}
        """The run's open streams, once restored (entries' scopes name them)."""

    def value(self, value: Any) -> Any:
        return self.serializer.decode(value, self.types)

    def event(self, value: Any, where: str) -> Event:
        decoded = self.serializer.decode(value, self.types)
        if not isinstance(decoded, Event):
            raise ContextSerdeError(f"{where}: expected an event, got {type(decoded).__name__}")
        return decoded

    def step(self, name: str, where: str) -> str:
        if name not in self.graph.specs:
            raise ContextSerdeError(f"{where}: workflow has no step {name[:80]!r}")
        return name

    def scope(self, ids: list[str], where: str) -> tuple[str, ...]:
        for stream_id in ids:
            if stream_id not in self.streams:
                raise ContextSerdeError(f"{where}: scope names no open stream {stream_id[:80]!r}")
        return tuple(ids)

    def bound(self, step: str, items: list[Any] | None, where: str) -> tuple[Event, ...] | None:
        spec = self.graph.specs[step]
        if items is None:
            if spec.join is not None:
                raise ContextSerdeError(f"{where}: a call of join step {step[:80]!r} needs bound")
            return None
        if spec.join is None or len(items) != len(spec.join):
            raise ContextSerdeError(
                f"{where}: bound: step {step[:80]!r} does not join {len(items)} events"
            )
        bound = tuple(self.event(value, f"{where}: bound") for value in items)
        for (param, slot_type), ev in zip(spec.join, bound, strict=True):
            fits = isinstance(ev, slot_type) if spec.accept_subclasses else type(ev) is slot_type
            if not fits:
                raise ContextSerdeError(
                    f"{where}: bound: {type(ev).__name__} does not fit parameter {param!r}"
                )
        return bound


def _restore_run(doc: _SnapshotDoc, r: _Reader) -> RunState:
    """The ``RunState`` a validated snapshot holds, section by section."""
    state = RunState(
        doc.run_id,
        started=doc.started,
        stream_seq=doc.stream_seq,
        pending_prompts=doc.pending_prompts,
    )
    if doc.stop_event is not None:
        stop = r.event(doc.stop_event, "stop_event")
        if not isinstance(stop, StopEvent):
            raise ContextSerdeError("stop_event: not a StopEvent")
        state.stop_event = stop
    r.streams = _restore_streams(doc.streams or {}, r)
    for step, items in doc.queues.items():
        queue = _restore_queue(r.step(step, "queues"), items, r)
        state.queues[step] = queue
        state.queued_count += len(queue)
    for inv_doc in doc.in_flight:
        r.step(inv_doc.step, "in_flight")
        if inv_doc.id in state.in_flight:
            raise ContextSerdeError(f"in_flight: duplicate invocation id {inv_doc.id}")
        state.in_flight[inv_doc.id] = _restore_invocation(inv_doc, r)
    for w_doc in doc.waiters:
        if w_doc.invocation_id not in state.in_flight:
            raise ContextSerdeError(f"waiter {w_doc.key[:40]!r} belongs to no in-flight step")
        state.add_waiter(_restore_waiter(w_doc, r))
    for key, buffer in doc.collect.items():
        state.collect[key] = [r.event(ev, f"collect buffer {key[:40]!r}") for ev in buffer]
    state.streams = r.streams or None
    state.joins = _restore_joins(doc.joins or {}, r) or None
    state.next_invocation_id = max(doc.next_invocation_id, max(state.in_flight, default=0) + 1)
    return state


def _restore_queue(step: str, items: list[_QueuedDoc], r: _Reader) -> deque[QueuedEvent]:
    """A step's queue."""
    where = f"queue of {step[:80]!r}"
    return deque(
        QueuedEvent(
            **fields_of(
                item,
                event=r.event(item.event, f"queue of {step!r}"),
                scope=r.scope(item.scope, where),
                bound=r.bound(step, item.bound, where),
            )
        )
        for item in items
    )


def _restore_invocation(doc: _InvocationDoc, r: _Reader) -> Invocation:
    """A step call in flight."""
    where = f"in-flight step {doc.step[:80]!r}"
    return Invocation(
        **fields_of(
            doc,
            event=r.event(doc.event, f"in-flight step {doc.step!r}"),
            scope=r.scope(doc.scope, where),
            bound=r.bound(doc.step, doc.bound, where),
        )
    )


def _restore_waiter(doc: _WaiterDoc, r: _Reader) -> Waiter:
    """A ``wait_for_event`` call of an invocation in flight."""
    event_type = r.types.resolve(doc.event_type)
    if not issubclass(event_type, Event):
        raise ContextSerdeError(f"waiter {doc.key[:40]!r}: not an event type")
    requirements = r.value(doc.requirements)
    if not isinstance(requirements, dict):
        raise ContextSerdeError(f"waiter {doc.key[:40]!r}: requirements must be a dict")
    return Waiter(
        **fields_of(
            doc,
            event_type=event_type,
            requirements=requirements,
            waiter_event=r.event(doc.waiter_event, "waiter_event") if doc.waiter_event else None,
            resolved=r.event(doc.resolved, "resolved") if doc.resolved else None,
        )
    )


def _restore_store_state(encoded: Any, r: _Reader) -> Any:
    """The state store's value, as the workflow's state type."""
    stored = r.value(encoded)
    state_type = r.graph.state_type
    if isinstance(stored, dict) and not isinstance(stored, state_type):
        try:
            stored = (
                state_type(stored)
                if not issubclass(state_type, BaseModel)
                else (state_type.model_validate(stored))
            )
        except (ValidationError, TypeError) as exc:
            raise ContextSerdeError(f"state: does not fit {state_type.__name__}: {exc}") from None
    if not isinstance(stored, state_type):
        raise ContextSerdeError(
            f"state: expected {state_type.__name__}, got {type(stored).__name__}"
        )
    return stored


def _restore_streams(docs: dict[str, _StreamDoc], r: _Reader) -> dict[str, CollectionStream]:
    """The open collection streams, checked against the workflow's fan-out steps."""
    graph = r.graph
    streams: dict[str, CollectionStream] = {}
    for stream_id, doc in docs.items():
        where = f"stream {stream_id[:80]!r}"
        if len(stream_id) > 256:
            raise ContextSerdeError(f"{where}: id too long")
        spec = graph.specs.get(doc.source)
        if spec is None or not spec.fan_out:
            raise ContextSerdeError(f"{where}: workflow has no fan-out step {doc.source[:80]!r}")
        bindings = graph.bindings.get(doc.source, ())
        known = {binding.id for binding in bindings}
        buffers: dict[str, list[Event] | None] = {}
        for key, items in doc.buffers.items():
            if key not in known:
                raise ContextSerdeError(f"{where}: step {doc.source!r} has no binding {key[:80]!r}")
            buffers[key] = None if items is None else [r.event(ev, where) for ev in items]
        streams[stream_id] = CollectionStream(
            stream_id, doc.source, tuple(doc.scope), bindings, doc.open, buffers
        )
    for stream in streams.values():
        for outer in stream.scope:
            if outer not in streams or outer == stream.id:
                raise ContextSerdeError(
                    f"stream {stream.id[:80]!r}: scope names no enclosing stream {outer[:80]!r}"
                )
    return streams


def _restore_joins(docs: dict[str, list[Any]], r: _Reader) -> dict[str, JoinBuffer]:
    """The join buffers, each event checked against its step's parameters."""
    joins: dict[str, JoinBuffer] = {}
    for step, items in docs.items():
        where = f"join buffer of {step[:80]!r}"
        spec = r.graph.specs.get(step)
        if spec is None or spec.join is None:
            raise ContextSerdeError(f"{where}: workflow has no join step {step[:80]!r}")
        events = [r.event(value, where) for value in items]
        for ev in events:
            if not spec.accepts(ev):
                raise ContextSerdeError(f"{where}: the step takes no {type(ev).__name__}")
        if events:
            joins[step] = buffer_of(events)
    return joins
