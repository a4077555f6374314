"""Snapshots written by LlamaIndex Workflows (``llama-index-workflows`` 2.26.1), read here.

``Context.from_dict`` accepts what the reference's ``ctx.to_dict()`` writes with its
default ``JsonSerializer``: the current layout (``"version": 2``), the one before it
(``1``) and the legacy layout without a version. :func:`from_reference_snapshot`
translates such a payload into this library's own snapshot layout (``_snapshot_layout.py``),
which is then validated and decoded the usual way. Class names are resolved only
through the workflow's allowlist (:class:`~workflows.context.serializers.TypeRegistry`):
nothing is imported and no code runs.

Mapping (reference -> here; docs/human-in-the-loop.md tells the whole story)::

    is_running                    started: wf.run(ctx=...) continues the run
    state.state_data              state (DictState items, or the typed state model)
    workers[s].queue              queues[s] (a retry not yet due: in_flight)
    workers[s].in_progress        in_flight, re-run from the start with their event
    workers[s].collected_waiters  in_flight (one per suspended work item, re-run from
                                  the start) + its waiters, in call order
    workers[s].collected_events   collect["s/<buffer_id>"]
    workers[s].static_collect_events  joins[s]: a join step's waiting events
    bound_events                  bound: a join call's batch, in parameter order
    deliveries                    queues of the steps that accept them (join buffers)
    streams, scope_path, ...      streams and scopes (:mod:`._reference_streams`)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._reference_streams import RefPayload, RefRelease, RefStream, StreamTranslator
from ._reference_values import WHO, Translator, brief
from ._run_state import waiter_key
from ._snapshot_layout import FORMAT_VERSION, JOINS_FORMAT_VERSION, STREAMS_FORMAT_VERSION
from ._validation_text import validation_summary
from .context.context import new_run_id
from .context.serializers import BaseSerializer, JsonSerializer, TypeRegistry
from .errors import ContextSerdeError
from .events import InputRequiredEvent, StopEvent

if TYPE_CHECKING:
    from ._graph import WorkflowGraph
    from .workflow import Workflow

__all__ = ["from_reference_snapshot", "is_reference_snapshot"]

_MAX_ID = 2**62

_Count = Annotated[int, Field(ge=0, le=2**31)]

_OWN_KEYS = frozenset({"format_version", "in_flight", "next_invocation_id", "pending_prompts"})

_LEGACY_KEYS = frozenset(
    {
        "streaming_queue",
        "queues",
        "event_buffers",
        "in_progress",
        "accepted_events",
        "broker_log",
        "waiting_ids",
    }
)


# -- the reference's layout --------------------------------------------------------------
# Unknown keys are ignored (as the reference does); known ones must have the right type.
class _Doc(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class _RefException(_Doc):
    exception_type: str = Field(max_length=512)
    exception_message: str = Field(default="", max_length=65536)


class _RefAttempt(_Doc):
    event: str
    bound_events: dict[str, str] | None = None
    attempts: int = Field(default=0, ge=0, le=_MAX_ID)
    first_attempt_at: float | None = None
    last_exception: _RefException | None = None
    last_failed_at: float | None = None
    recovery_counts: dict[str, _Count] = Field(default_factory=dict)
    scope_path: list[str] = Field(default_factory=list, max_length=1000)
    collection_release_payload: RefPayload | None = None
    work_item_id: str | None = Field(default=None, max_length=512)


class _RefWaiter(_Doc):
    waiter_id: str = Field(max_length=4096)
    event: str
    bound_events: dict[str, str] | None = None
    waiting_for_event: str = Field(max_length=512)
    has_requirements: bool = False
    requirements: Any = None  # payloads older than has_requirements kept the dict
    resolved_event: str | None = None
    scope_path: list[str] = Field(default_factory=list, max_length=1000)
    collection_release_payload: RefPayload | None = None
    work_item_id: str | None = Field(default=None, max_length=512)


class _RefWorker(_Doc):
    queue: list[_RefAttempt] = Field(default_factory=list)
    in_progress: list[_RefAttempt | str] = Field(default_factory=list)  # v1: bare events
    collected_events: dict[str, list[str]] = Field(default_factory=dict)
    static_collect_events: list[str] = Field(default_factory=list)
    collected_waiters: list[_RefWaiter] = Field(default_factory=list)


class _RefDelivery(_Doc):
    event: str
    step_id: str | None = Field(default=None, max_length=512)
    recovery_counts: dict[str, _Count] = Field(default_factory=dict)
    scope_path: list[str] = Field(default_factory=list, max_length=1000)


class _RefContext(_Doc):
    version: int
    state: dict[str, Any] = Field(default_factory=dict)
    is_running: bool = False
    workers: dict[str, _RefWorker] = Field(default_factory=dict)
    deliveries: list[_RefDelivery] = Field(default_factory=list)
    streams: dict[str, RefStream] = Field(default_factory=dict)
    collection_release_states: dict[str, RefRelease] = Field(default_factory=dict)


class _RefContextV0(_Doc):
    state: dict[str, Any] = Field(default_factory=dict)
    queues: dict[str, str] = Field(default_factory=dict)
    event_buffers: dict[str, dict[str, list[str]]] = Field(default_factory=dict)
    in_progress: dict[str, list[str]] = Field(default_factory=dict)
    is_running: bool = False
    waiting_ids: list[str] = Field(default_factory=list)


# -- entry points ----------------------------------------------------------------------
def is_reference_snapshot(data: dict[str, Any]) -> bool:
    """True if ``data`` looks like a LlamaIndex Workflows ``ctx.to_dict()`` payload."""
    if not _OWN_KEYS.isdisjoint(data):
        return False  # this library's own layout, even with its version missing
    return (
        "version" in data
        or "workers" in data
        or "is_running" in data
        or not _LEGACY_KEYS.isdisjoint(data)
    )


def from_reference_snapshot(
    data: dict[str, Any],
    workflow: Workflow,
    types: TypeRegistry,
    serializer: BaseSerializer,
    workflow_name: str,
) -> dict[str, Any]:
    """Translate a LlamaIndex Workflows snapshot into this library's snapshot layout.

    Args:
        data: what the reference's ``ctx.to_dict()`` returned (through JSON or not).
        workflow: the workflow the run is resumed with.
        types: the allowlist of classes the snapshot may name.
        serializer: the serializer given to ``from_dict``; must be a ``JsonSerializer``.
        workflow_name: the name to record (the one the decoder expects).

    Returns:
        A snapshot dict in this library's format, values encoded for ``serializer``.

    Raises:
        ContextSerdeError: naming what is malformed or not supported in ``data``.
    """
    if not isinstance(serializer, JsonSerializer) or serializer.name != "json":
        raise ContextSerdeError(
            f"a {WHO} is decoded with JsonSerializer (it was written with the reference's "
            f"JsonSerializer), not {type(serializer).__name__}"
        )
    doc = _parse(data)
    builder = _Builder(workflow._graph(), Translator(types, serializer))
    for step, worker in doc.workers.items():
        builder.add_worker(step, worker)
    for index, delivery in enumerate(doc.deliveries):
        builder.add_delivery(index, delivery)
    builder.add_waiters()
    streams = builder.streams.streams(doc.streams, doc.collection_release_states)
    builder.streams.count_open(streams, builder.queues, builder.in_flight)
    idle = not (builder.queues or builder.in_flight)
    version = FORMAT_VERSION
    extra: dict[str, Any] = {}
    if streams:
        version, extra["streams"] = STREAMS_FORMAT_VERSION, streams
    if builder.joins or builder.bound:
        version, extra["joins"] = JOINS_FORMAT_VERSION, builder.joins
    return {
        **extra,
        "format_version": version,
        "serializer": serializer.name,
        "workflow": workflow_name,
        "run_id": new_run_id(),
        "started": doc.is_running,
        "stop_event": None,
        "state": builder.translator.state(doc.state),
        "queues": builder.queues,
        "in_flight": builder.in_flight,
        "waiters": builder.waiters,
        "collect": builder.collect,
        "stream_seq": 0,
        "next_invocation_id": len(builder.in_flight) + 1,
        # A running run with no work left can only be moved by an answer from outside:
        # count it as asked, so its timeout clock stops while it waits (as it would here).
        "pending_prompts": builder.prompts + (1 if doc.is_running and idle else 0),
    }


# -- parsing ---------------------------------------------------------------------------
def _parse(data: dict[str, Any]) -> _RefContext:
    version = data.get("version")
    try:
        if version is None or (type(version) is int and version == 0):
            return _from_legacy(_RefContextV0.model_validate(data))
        if type(version) is not int or version not in (1, 2):
            raise ContextSerdeError(
                f"{WHO}: version {brief(version)} is not supported "
                "(this library reads the versions llama-index-workflows 2.26.1 reads: 0-2)"
            )
        return _RefContext.model_validate(data)
    except ValidationError as exc:
        raise ContextSerdeError(
            f"{WHO}: {validation_summary(exc, limit=1, where='snapshot')}"
        ) from None


def _from_legacy(legacy: _RefContextV0) -> _RefContext:
    """The legacy layout, in the current one (in-progress events are queued again)."""
    workers: dict[str, _RefWorker] = {}
    steps = set(legacy.queues) | set(legacy.in_progress) | set(legacy.event_buffers)
    for step in sorted(steps - set(legacy.waiting_ids)):
        events = list(legacy.in_progress.get(step, []))
        if step in legacy.queues:
            try:
                queued = json.loads(legacy.queues[step])
            except (ValueError, RecursionError):
                queued = None
            if type(queued) is not list or any(type(ev) is not str for ev in queued):
                raise ContextSerdeError(f"{WHO}: queues.{step[:80]}: not a list of events")
            events.extend(queued)
        buffered = [ev for evs in legacy.event_buffers.get(step, {}).values() for ev in evs]
        workers[step] = _RefWorker(
            queue=[_RefAttempt(event=ev) for ev in events],
            collected_events={"default": buffered} if buffered else {},
        )
    return _RefContext(version=0, state=legacy.state, is_running=legacy.is_running, workers=workers)


# -- run state -------------------------------------------------------------------------
def _error_text(exc: _RefException | None) -> str | None:
    if exc is None:
        return None
    return f"{exc.exception_type.rsplit('.', 1)[-1]}: {exc.exception_message}"[:65536]


def _lineage(recovery_counts: dict[str, int]) -> int:
    return sum(recovery_counts.values())


def _is_empty(worker: _RefWorker) -> bool:
    return not (
        worker.queue
        or worker.in_progress
        or worker.collected_waiters
        or worker.static_collect_events
        or any(worker.collected_events.values())
    )


def _requirements(waiter: _RefWaiter) -> tuple[dict[str, Any] | None, str | None]:
    """The requirements of a wait (None: unknown) and the waiter id the step passed.

    The reference keeps only whether a wait had requirements; when the step let it name
    the wait, the name is ``waiter_<type>_<requirements as JSON>_<work item>``.
    """
    prefix = f"waiter_{waiter.waiting_for_event}_"
    if waiter.waiter_id.startswith(prefix):
        middle = waiter.waiter_id[len(prefix) :]
        suffix = f"_{waiter.work_item_id}"
        if waiter.work_item_id and middle.endswith(suffix):
            middle = middle[: -len(suffix)]
        try:
            parsed = json.loads(middle)
        except (ValueError, RecursionError):
            parsed = None
        if type(parsed) is dict:
            return parsed, None
    if type(waiter.requirements) is dict and waiter.requirements:
        return waiter.requirements, waiter.waiter_id
    return (None if waiter.has_requirements else {}), waiter.waiter_id


class _Builder:
    """Collects the translated queues, invocations, waiters and buffers of a run."""

    def __init__(self, graph: WorkflowGraph, translator: Translator) -> None:
        self.graph = graph
        self.translator = translator
        self.queues: dict[str, list[dict[str, Any]]] = {}
        self.in_flight: list[dict[str, Any]] = []
        self.waiters: list[dict[str, Any]] = []
        self.collect: dict[str, list[Any]] = {}
        self.joins: dict[str, list[Any]] = {}
        self.bound = False
        """True once some queued or running join call carries its batch."""
        self.streams = StreamTranslator(graph, translator)
        self.prompts = 0
        self._suspended: list[tuple[dict[str, Any], int, _RefWaiter, str]] = []

    def _work(self, step: str, item: _RefAttempt, where: str) -> dict[str, Any]:
        """The event, lineage, scope and join batch of a queued or running work item."""
        payload = item.collection_release_payload
        if payload is not None:
            event = self.streams.release_event(payload, f"{where}.collection_release_payload")
        else:
            event = self.translator.event(item.event, f"{where}.event")
        work: dict[str, Any] = {"event": event, "lineage": _lineage(item.recovery_counts)}
        if item.scope_path:
            work["scope"] = list(item.scope_path)
        spec = self.graph.specs[step]
        if item.bound_events is not None or spec.join is not None:
            work["bound"] = self._bound(step, item.bound_events or {}, where)
            self.bound = True
        return work

    def _bound(self, step: str, events: dict[str, str], where: str) -> list[Any]:
        slots = self.graph.specs[step].join
        if slots is None or set(events) != {name for name, _ in slots}:
            names = ", ".join(sorted(events)[:8]) or "none"
            raise ContextSerdeError(
                f"{WHO}: {where}.bound_events: step {step[:80]!r} does not join the "
                f"parameters {names}"
            )
        return [
            self.translator.event(events[name], f"{where}.bound_events.{name}") for name, _ in slots
        ]

    def _invocation(self, step: str, attempt: _RefAttempt, where: str) -> dict[str, Any]:
        invocation = {
            "id": len(self.in_flight) + 1,
            "step": step,
            **self._work(step, attempt, where),
            "attempts": attempt.attempts,
            "emits_done": 0,
            "writes_done": 0,
            "prompted": [],
            "first_started_at": attempt.first_attempt_at,
            "last_error": _error_text(attempt.last_exception),
            "last_failed_at": attempt.last_failed_at,
        }
        self.in_flight.append(invocation)
        return invocation

    def add_worker(self, step: str, worker: _RefWorker) -> None:
        """Translate one step's queue, running invocations, waits and collect buffers."""
        if _is_empty(worker):
            return
        where = f"workers.{step[:80]}"
        if step not in self.graph.specs:
            raise ContextSerdeError(f"{WHO}: {where}: the workflow has no such step")
        if worker.static_collect_events:
            if self.graph.specs[step].join is None:
                raise ContextSerdeError(
                    f"{WHO}: {where}.static_collect_events: not a multi-event step here"
                )
            self.joins[step] = [
                self.translator.event(text, f"{where}.static_collect_events.{index}")
                for index, text in enumerate(worker.static_collect_events)
            ]
        by_item: dict[str, dict[str, Any]] = {}
        for index, entry in enumerate(worker.in_progress):
            attempt = _RefAttempt(event=entry) if isinstance(entry, str) else entry
            invocation = self._invocation(step, attempt, f"{where}.in_progress.{index}")
            if attempt.work_item_id:
                by_item[attempt.work_item_id] = invocation
        queued: list[tuple[int, _RefAttempt]] = []
        for index, attempt in enumerate(worker.queue):
            if attempt.attempts:  # a retry not yet due: here, retries keep their invocation
                invocation = self._invocation(step, attempt, f"{where}.queue.{index}")
                if attempt.work_item_id:
                    by_item[attempt.work_item_id] = invocation
            else:
                queued.append((index, attempt))
        groups: dict[str, list[_RefWaiter]] = {}
        for waiter in worker.collected_waiters:
            groups.setdefault(waiter.work_item_id or f"event:{waiter.event}", []).append(waiter)
        for item, waits in groups.items():
            invocation = by_item.get(item) or self._suspended_work(step, waits[0], queued, where)
            for call_index, waiter in enumerate(waits):
                self._suspended.append((invocation, call_index, waiter, where))
        if queued:
            self.queues[step] = [
                self._work(step, attempt, f"{where}.queue.{index}") for index, attempt in queued
            ]
        for buffer_id, events in worker.collected_events.items():
            if events:
                self.collect[f"{step}/{buffer_id}"] = [
                    self.translator.event(text, f"{where}.collected_events.{buffer_id[:40]}")
                    for text in events
                ]

    def _suspended_work(
        self, step: str, waiter: _RefWaiter, queued: list[tuple[int, _RefAttempt]], where: str
    ) -> dict[str, Any]:
        """The invocation a suspended work item becomes."""
        found = next((q for q in queued if q[1].work_item_id == waiter.work_item_id), None)
        if waiter.work_item_id and found is not None:
            # An answered wait whose re-run is queued: that entry is the invocation.
            queued.remove(found)
            index, attempt = found
            return self._invocation(step, attempt, f"{where}.queue.{index}")
        attempt = _RefAttempt(
            event=waiter.event,
            work_item_id=waiter.work_item_id,
            bound_events=waiter.bound_events,
            scope_path=waiter.scope_path,
            collection_release_payload=waiter.collection_release_payload,
        )
        return self._invocation(step, attempt, f"{where}.collected_waiters")

    def add_delivery(self, index: int, delivery: _RefDelivery) -> None:
        """Queue an event a step emitted that had not reached its targets yet."""
        where = f"deliveries.{index}"
        event = self.translator.event(delivery.event, f"{where}.event")
        cls = self.translator.event_type(event["$event"], where)
        graph = self.graph
        if delivery.step_id is not None:
            if delivery.step_id not in graph.specs:
                raise ContextSerdeError(f"{WHO}: {where}: the workflow has no such step")
            targets: tuple[str, ...] = (delivery.step_id,)
        elif issubclass(cls, StopEvent):
            raise ContextSerdeError(f"{WHO}: {where}: the run was ending (a StopEvent)")
        else:
            targets = (*graph.routes(cls), *graph.collectors(cls), *graph.joins(cls))
            if issubclass(cls, InputRequiredEvent):
                self.prompts += 1
            elif not targets:
                raise ContextSerdeError(f"{WHO}: {where}: no step accepts {cls.__qualname__}")
        for step in targets:
            spec = graph.specs[step]
            if spec.collect is not None or (spec.join is not None and delivery.scope_path):
                # Routing it here would mean rebuilding the stream's accounting by hand.
                raise ContextSerdeError(
                    f"{WHO}: {where}: an event on its way to step {step!r} inside a "
                    "collection stream; take the snapshot again once the run has settled"
                )
            if spec.join is not None:
                # Waits in the buffer; a full batch fires when the run resumes.
                self.joins.setdefault(step, []).append(event)
                continue
            item: dict[str, Any] = {"event": event, "lineage": _lineage(delivery.recovery_counts)}
            if delivery.scope_path:
                item["scope"] = list(delivery.scope_path)
            self.queues.setdefault(step, []).append(item)

    def add_waiters(self) -> None:
        """Turn the suspended waits into waiters of their invocations."""
        translator = self.translator
        resolved_types = [
            (translator.event_type(w.waiting_for_event, f"{where}.collected_waiters"), w)
            for _, _, w, where in self._suspended
        ]
        still_open = [cls for cls, w in resolved_types if w.resolved_event is None]
        for (invocation, call_index, waiter, where), (cls, _) in zip(
            self._suspended, resolved_types, strict=True
        ):
            requirements, waiter_id = _requirements(waiter)
            resolved = None
            if waiter.resolved_event is not None:
                resolved = translator.event(waiter.resolved_event, f"{where}.resolved_event")
            elif requirements is None:
                if sum(issubclass(o, cls) or issubclass(cls, o) for o in still_open) > 1:
                    # Which answer is whose is unknown: left to the step's re-run, which
                    # waits again with the requirements (and writes its prompt again).
                    continue
                requirements = {}  # the only wait an answer of this type can go to
            if waiter_id is not None and waiter_id not in invocation["prompted"]:
                invocation["prompted"].append(waiter_id)  # the step asked already
            self.waiters.append(
                {
                    "key": waiter_key(invocation["id"], invocation["attempts"], call_index),
                    "invocation_id": invocation["id"],
                    "event_type": translator.types.key_for(cls),
                    "requirements": translator.plain(requirements or {}),
                    "waiter_id": waiter_id,
                    "waiter_event": None,
                    "emitted": True,
                    "resolved": resolved,
                    "deadline": None,
                }
            )
