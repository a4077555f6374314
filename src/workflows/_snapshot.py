"""Context snapshots: ``RunState`` + state store <-> a versioned, JSON-safe dict.

Format (version 1; version 2 below adds collection streams)::

    {
      "format_version": 1, "serializer": "json", "workflow": "<workflow name>",
      "run_id": "...", "started": true, "stop_event": <event> | null,
      "state": <encoded state>,
      "queues": {"<step>": [{"event": <event>, "lineage": 0}, ...]},
      "in_flight": [{"id": 3, "step": "...", "event": <event>, "lineage": 0,
                     "attempts": 0, "emits_done": 0, "writes_done": 0, "prompted": [],
                     "first_started_at": 1.0, "last_error": null, "last_failed_at": null}],
      "waiters": [{"key": "3:0:0", "invocation_id": 3, "event_type": "<type>",
                   "requirements": {...}, "waiter_id": "...", "waiter_event": <event>|null,
                   "emitted": true, "resolved": <event>|null, "deadline": 1.0|null}],
      "collect": {"<buffer>": [<event>, ...]},
      "stream_seq": 7, "next_invocation_id": 4, "pending_prompts": 1
    }

Version 2 is written only while a collection stream is open (a step returned ``list[E]``
and its branches have not all ended), so that a snapshot without one reads as before.
It adds a top-level key and a ``scope`` to queued and in-flight entries::

      "streams": {"stream-3": {"source": "<fan-out step>", "scope": [], "open": 2,
                               "buffers": {"<binding id>": [<event>, ...] | null}}},
      "queues": {"<step>": [{"event": <event>, "lineage": 0, "scope": ["stream-3"]}]},
      "in_flight": [{..., "scope": ["stream-3"]}]

``scope`` lists the streams an event belongs to, innermost last (omitted when empty);
``open`` counts the stream's live work items; a buffer is ``null`` once its
``Take(n)`` collector has fired. Version 1 snapshots are read as they always were.

Version 3 is written only while a join is pending (a step with several event parameters
holds events waiting for a batch, or a batch is queued or running). It may carry
``streams`` as version 2 does (or not), and adds::

      "joins": {"<join step>": [<event>, ...]},          waiting events, oldest first
      "queues": {"<join step>": [{"event": <event>, "lineage": 0,
                                  "bound": [<event>, ...]}]},
      "in_flight": [{..., "bound": [<event>, ...]}]

``bound`` is a join call's batch, one event per parameter in declaration order (``event``
is the one that arrived last).

The outer structure is validated strictly; every value inside goes through the
serializer, which resolves classes only from the workflow's allowlist.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._collection import CollectionStream
from ._join import JoinBuffer, buffer_of
from ._reference_snapshot import from_reference_snapshot, is_reference_snapshot
from ._run_state import Invocation, QueuedEvent, RunState, Waiter
from ._type_discovery import referenced_event_types
from ._validation_text import validation_summary
from .context.serializers import BaseSerializer, JsonSerializer, TypeRegistry
from .errors import ContextSerdeError
from .events import CollectionReleaseEvent, Event, StopEvent

if TYPE_CHECKING:
    from .context.context import Context
    from .workflow import Workflow

FORMAT_VERSION = 1
"""The base format: what a snapshot without an open collection stream is written as."""
STREAMS_FORMAT_VERSION = 2
"""Version 1 plus collection streams (``streams`` and the ``scope`` of entries)."""
JOINS_FORMAT_VERSION = 3
"""Version 2 plus pending joins (``joins`` and the ``bound`` batch of entries);
``streams`` is optional."""
_READABLE = (FORMAT_VERSION, STREAMS_FORMAT_VERSION, JOINS_FORMAT_VERSION)

_DEFAULT_SERIALIZER = JsonSerializer()

_MAX_ID = 2**62

_ENCODE_STATE: Any = object()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


_Scope = list[Annotated[str, Field(max_length=256)]]


_Bound = list[Any] | None


class _QueuedDoc(_Strict):
    event: Any
    lineage: int = Field(ge=0, le=_MAX_ID)
    scope: _Scope = Field(default_factory=list, max_length=1000)
    bound: _Bound = Field(default=None, max_length=1000)


class _InvocationDoc(_Strict):
    id: int = Field(ge=1, le=_MAX_ID)
    step: str = Field(max_length=512)
    event: Any
    lineage: int = Field(ge=0, le=_MAX_ID)
    scope: _Scope = Field(default_factory=list, max_length=1000)
    bound: _Bound = Field(default=None, max_length=1000)
    attempts: int = Field(ge=0, le=_MAX_ID)
    emits_done: int = Field(default=0, ge=0, le=_MAX_ID)
    writes_done: int = Field(default=0, ge=0, le=_MAX_ID)
    prompted: list[str] = Field(default_factory=list, max_length=10_000)
    first_started_at: float | int | None = None
    last_error: str | None = Field(default=None, max_length=65536)
    last_failed_at: float | int | None = None


class _WaiterDoc(_Strict):
    key: str = Field(max_length=256)
    invocation_id: int = Field(ge=1, le=_MAX_ID)
    event_type: str = Field(max_length=512)
    requirements: Any
    waiter_id: str | None = Field(default=None, max_length=4096)
    waiter_event: Any = None
    emitted: bool
    resolved: Any = None
    deadline: float | int | None = None


class _StreamDoc(_Strict):
    source: str = Field(max_length=512)
    scope: _Scope = Field(max_length=1000)
    open: int = Field(ge=1, le=_MAX_ID)
    buffers: dict[str, list[Any] | None]


class _SnapshotDoc(_Strict):
    format_version: int
    serializer: str = Field(max_length=64)
    workflow: str = Field(max_length=512)
    run_id: str = Field(max_length=256)
    started: bool
    stop_event: Any = None
    state: Any
    queues: dict[str, list[_QueuedDoc]]
    in_flight: list[_InvocationDoc]
    waiters: list[_WaiterDoc]
    collect: dict[str, list[Any]]
    streams: dict[str, _StreamDoc] | None = None
    joins: dict[str, list[Any]] | None = None
    stream_seq: int = Field(ge=0, le=_MAX_ID)
    next_invocation_id: int = Field(ge=1, le=_MAX_ID)
    pending_prompts: int = Field(ge=0, le=_MAX_ID)


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
    """Encode a context (see the module docstring for the format).

    ``workflow_name`` overrides the name recorded (the engine records its registry name).
    ``encoded_state`` is written as the ``state`` instead of encoding the context's
    state (the engine writes the state's entries apart, in state rows).
    """
    serializer = serializer or ctx._workflow.serializer or _DEFAULT_SERIALIZER
    types = registry_for(ctx._workflow, serializer)
    state = ctx._state
    enc = serializer.encode

    def event(ev: Event | None, where: str) -> Any:
        if ev is None:
            return None
        try:
            return enc(ev, types)
        except ContextSerdeError as exc:
            raise ContextSerdeError(f"{where}: {exc}") from None

    joined = False  # a join call is queued or running: written as version 3

    def entry(
        doc: dict[str, Any], scope: tuple[str, ...], bound: tuple[Event, ...] | None, where: str
    ) -> dict[str, Any]:
        nonlocal joined
        if scope:
            doc["scope"] = list(scope)
        if bound is not None:
            doc["bound"] = [event(ev, where) for ev in bound]
            joined = True
        return doc

    if encoded_state is _ENCODE_STATE:
        try:
            encoded_state = enc(ctx._store._snapshot_state(), types)
        except ContextSerdeError as exc:
            raise ContextSerdeError(f"state: {exc}") from None
    data = {
        "format_version": FORMAT_VERSION,
        "serializer": serializer.name,
        "workflow": workflow_name or ctx._workflow.workflow_name,
        "run_id": state.run_id,
        "started": state.started,
        "stop_event": event(state.stop_event, "stop_event"),
        "state": encoded_state,
        "queues": {
            step: [
                entry(
                    {"event": event(item.event, f"queue of {step!r}"), "lineage": item.lineage},
                    item.scope,
                    item.bound,
                    f"queue of {step!r}",
                )
                for item in queue
            ]
            for step, queue in state.queues.items()
            if queue
        },
        "in_flight": [
            entry(
                {
                    "id": inv.id,
                    "step": inv.step,
                    "event": event(inv.event, f"in-flight step {inv.step!r}"),
                    "lineage": inv.lineage,
                    "attempts": inv.attempts,
                    "emits_done": inv.emits_done,
                    "writes_done": inv.writes_done,
                    "prompted": inv.prompted,
                    "first_started_at": inv.first_started_at,
                    "last_error": inv.last_error,
                    "last_failed_at": inv.last_failed_at,
                },
                inv.scope,
                inv.bound,
                f"in-flight step {inv.step!r}",
            )
            for inv in state.in_flight.values()
        ],
        "waiters": [
            {
                "key": w.key,
                "invocation_id": w.invocation_id,
                "event_type": types.key_for(w.event_type),
                "requirements": enc(w.requirements, types),
                "waiter_id": w.waiter_id,
                "waiter_event": event(w.waiter_event, f"waiter {w.key}"),
                "emitted": w.emitted,
                "resolved": event(w.resolved, f"waiter {w.key}"),
                "deadline": w.deadline,
            }
            for w in state.waiters.values()
        ],
        "collect": {
            key: [event(ev, f"collect buffer {key!r}") for ev in buffer]
            for key, buffer in state.collect.items()
        },
        "stream_seq": state.stream_seq,
        "next_invocation_id": state.next_invocation_id,
        "pending_prompts": state.pending_prompts,
    }
    if state.joins or joined:
        data["format_version"] = JOINS_FORMAT_VERSION
        data["joins"] = {
            step: [event(ev, f"join buffer of {step!r}") for ev in buffer.events()]
            for step, buffer in (state.joins or {}).items()
        }
    if state.streams:
        if not state.joins and not joined:
            data["format_version"] = STREAMS_FORMAT_VERSION
        data["streams"] = {
            stream.id: {
                "source": stream.source,
                "scope": list(stream.scope),
                "open": stream.open,
                "buffers": {
                    key: None
                    if buffer is None
                    else [event(ev, f"stream {stream.id!r}") for ev in buffer]
                    for key, buffer in stream.buffers.items()
                },
            }
            for stream in state.streams.values()
        }
    return data


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
    if not isinstance(data, dict):
        raise ContextSerdeError(f"a snapshot must be a dict, got {type(data).__name__}")
    if is_reference_snapshot(data):  # written by LlamaIndex Workflows: translate it first
        types = registry_for(workflow, serializer)
        name = workflow_name or workflow.workflow_name
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
    expected_name = workflow_name or workflow.workflow_name
    if doc.workflow != expected_name:
        raise ContextSerdeError(
            f"snapshot belongs to workflow {doc.workflow[:80]!r}, not {expected_name!r}"
        )
    types = registry_for(workflow, serializer)
    graph = workflow._graph()

    def event(value: Any, where: str) -> Event:
        decoded = serializer.decode(value, types)
        if not isinstance(decoded, Event):
            raise ContextSerdeError(f"{where}: expected an event, got {type(decoded).__name__}")
        return decoded

    def known_step(name: str, where: str) -> str:
        if name not in graph.specs:
            raise ContextSerdeError(f"{where}: workflow has no step {name[:80]!r}")
        return name

    ctx = cls(workflow)
    state = RunState(run_id=doc.run_id)
    state.started = doc.started
    if doc.stop_event is not None:
        stop = event(doc.stop_event, "stop_event")
        if not isinstance(stop, StopEvent):
            raise ContextSerdeError("stop_event: not a StopEvent")
        state.stop_event = stop
    streams = _restore_streams(doc.streams or {}, graph, event)

    def scope_of(ids: list[str], where: str) -> tuple[str, ...]:
        for stream_id in ids:
            if stream_id not in streams:
                raise ContextSerdeError(f"{where}: scope names no open stream {stream_id[:80]!r}")
        return tuple(ids)

    def bound_of(step: str, items: list[Any] | None, where: str) -> tuple[Event, ...] | None:
        spec = graph.specs[step]
        if items is None:
            if spec.join is not None:
                raise ContextSerdeError(f"{where}: a call of join step {step[:80]!r} needs bound")
            return None
        if spec.join is None or len(items) != len(spec.join):
            raise ContextSerdeError(
                f"{where}: bound: step {step[:80]!r} does not join {len(items)} events"
            )
        bound = tuple(event(value, f"{where}: bound") for value in items)
        for (param, slot_type), ev in zip(spec.join, bound, strict=True):
            fits = isinstance(ev, slot_type) if spec.accept_subclasses else type(ev) is slot_type
            if not fits:
                raise ContextSerdeError(
                    f"{where}: bound: {type(ev).__name__} does not fit parameter {param!r}"
                )
        return bound

    for step, items in doc.queues.items():
        known_step(step, "queues")
        queue: deque[QueuedEvent] = deque()
        for item in items:
            where = f"queue of {step[:80]!r}"
            queue.append(
                QueuedEvent(
                    event(item.event, f"queue of {step!r}"),
                    item.lineage,
                    scope_of(item.scope, where),
                    bound_of(step, item.bound, where),
                )
            )
        state.queues[step] = queue
        state.queued_count += len(queue)
    for inv_doc in doc.in_flight:
        known_step(inv_doc.step, "in_flight")
        if inv_doc.id in state.in_flight:
            raise ContextSerdeError(f"in_flight: duplicate invocation id {inv_doc.id}")
        state.in_flight[inv_doc.id] = Invocation(
            id=inv_doc.id,
            step=inv_doc.step,
            event=event(inv_doc.event, f"in-flight step {inv_doc.step!r}"),
            lineage=inv_doc.lineage,
            scope=scope_of(inv_doc.scope, f"in-flight step {inv_doc.step[:80]!r}"),
            bound=bound_of(inv_doc.step, inv_doc.bound, f"in-flight step {inv_doc.step[:80]!r}"),
            attempts=inv_doc.attempts,
            emits_done=inv_doc.emits_done,
            writes_done=inv_doc.writes_done,
            prompted=list(inv_doc.prompted),
            first_started_at=inv_doc.first_started_at,
            last_error=inv_doc.last_error,
            last_failed_at=inv_doc.last_failed_at,
        )
    for w_doc in doc.waiters:
        if w_doc.invocation_id not in state.in_flight:
            raise ContextSerdeError(f"waiter {w_doc.key[:40]!r} belongs to no in-flight step")
        event_type = types.resolve(w_doc.event_type)
        if not issubclass(event_type, Event):
            raise ContextSerdeError(f"waiter {w_doc.key[:40]!r}: not an event type")
        requirements = serializer.decode(w_doc.requirements, types)
        if not isinstance(requirements, dict):
            raise ContextSerdeError(f"waiter {w_doc.key[:40]!r}: requirements must be a dict")
        state.add_waiter(
            Waiter(
                key=w_doc.key,
                invocation_id=w_doc.invocation_id,
                event_type=event_type,
                requirements=requirements,
                waiter_id=w_doc.waiter_id,
                waiter_event=(
                    event(w_doc.waiter_event, "waiter_event") if w_doc.waiter_event else None
                ),
                emitted=w_doc.emitted,
                resolved=event(w_doc.resolved, "resolved") if w_doc.resolved else None,
                deadline=w_doc.deadline,
            )
        )
    for key, buffer in doc.collect.items():
        state.collect[key] = [event(ev, f"collect buffer {key[:40]!r}") for ev in buffer]
    state.streams = streams or None
    state.joins = _restore_joins(doc.joins or {}, graph, event) or None
    state.stream_seq = doc.stream_seq
    state.next_invocation_id = max(doc.next_invocation_id, max(state.in_flight, default=0) + 1)
    state.pending_prompts = doc.pending_prompts
    ctx._state = state

    stored = serializer.decode(doc.state, types)
    state_type = graph.state_type
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
    ctx._store._restore_state(stored)
    return ctx


def _restore_streams(
    docs: dict[str, _StreamDoc], graph: Any, event: Callable[[Any, str], Event]
) -> dict[str, CollectionStream]:
    """Rebuild the open collection streams, checking them against the workflow's graph."""
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
            buffers[key] = None if items is None else [event(ev, where) for ev in items]
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


def _restore_joins(
    docs: dict[str, list[Any]], graph: Any, event: Callable[[Any, str], Event]
) -> dict[str, JoinBuffer]:
    """Rebuild the join buffers, checking each event against its step's parameters."""
    joins: dict[str, JoinBuffer] = {}
    for step, items in docs.items():
        where = f"join buffer of {step[:80]!r}"
        spec = graph.specs.get(step)
        if spec is None or spec.join is None:
            raise ContextSerdeError(f"{where}: workflow has no join step {step[:80]!r}")
        events = [event(value, where) for value in items]
        for ev in events:
            if not spec.accepts(ev):
                raise ContextSerdeError(f"{where}: the step takes no {type(ev).__name__}")
        if events:
            joins[step] = buffer_of(events)
    return joins
