"""One run owned by the engine: turns each step boundary into a store commit."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._runtime import Run
from .._snapshot import registry_for, snapshot_to_dict
from ..context.serializers import BaseSerializer, TypeRegistry, type_key
from ..errors import ContextSerdeError, WorkflowCancelledByUser, WorkflowTimeoutError
from ..events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StopEvent,
    WorkflowCancelledEvent,
    WorkflowFailedEvent,
    WorkflowTimedOutEvent,
)
from ..stores import InputRequest
from ..workflow import Workflow

if TYPE_CHECKING:
    from ._engine import Engine

WAITER_PREFIX = "w"

logger = logging.getLogger("workflows.engine")


@dataclass
class CommitPart:
    """What one or more boundaries of a run add to its next commit."""

    snapshot: dict[str, Any]
    status: str
    result: Any = None
    error: dict[str, Any] | None = None
    stream: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    new_requests: list[InputRequest] = field(default_factory=list)
    closed_requests: list[tuple[str, str]] = field(default_factory=list)
    consumed_inbound: list[int] = field(default_factory=list)
    publish: list[Event] = field(default_factory=list)

    def merge(self, later: CommitPart) -> None:
        """Fold a later boundary into this pending commit."""
        self.snapshot = later.snapshot
        self.status = later.status
        self.result = later.result
        self.error = later.error
        self.stream.extend(later.stream)
        self.new_requests.extend(later.new_requests)
        self.closed_requests.extend(later.closed_requests)
        self.consumed_inbound.extend(later.consumed_inbound)
        self.publish.extend(later.publish)


def status_of(run: Run) -> str:
    """The store status of a run's current state."""
    stop = run.state.stop_event
    if stop is None:
        return "waiting" if run.state.awaits_outside_input else "running"
    if isinstance(stop, WorkflowCancelledEvent):
        return "cancelled"
    if isinstance(stop, WorkflowTimedOutEvent):
        return "timed_out"
    if isinstance(stop, WorkflowFailedEvent):
        return "failed"
    return "completed"


def response_type_for_prompts(workflow: Workflow) -> type[HumanResponseEvent]:
    """The HumanResponseEvent (sub)class the workflow's steps accept, for inbox answers."""
    for spec in workflow._graph().specs.values():
        for accepted in spec.accepted:
            if issubclass(accepted, HumanResponseEvent):
                return accepted
    return HumanResponseEvent


class DurableRun:
    """Listener of one in-memory run; builds a :class:`CommitPart` at each boundary."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        workflow: Workflow,
        run_id: str,
        version: int,
        serializer: BaseSerializer,
    ) -> None:
        self.engine = engine
        self.name = name
        self.workflow = workflow
        self.run_id = run_id
        self.version = version
        self.serializer = serializer
        self.types: TypeRegistry = registry_for(workflow, serializer)
        self.run: Run | None = None
        self.requested_waiters: set[str] = set()
        self.pending_requests: dict[str, str | None] = {}
        """Open request ids of this run -> waiter key (None for a returned prompt)."""
        self.consumed_inbound: list[int] = []
        self.delivered: set[int] = set()
        """Inbound ids handed to the run (so a wake-up does not deliver one twice)."""
        self.created = False
        self.stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        """Settled once the run's first commit is in the store (or failed)."""
        self.error: BaseException | None = None
        self.idle_timer: Any = None
        self.last_snapshot: dict[str, Any] = {}
        self.first_snapshot: dict[str, Any] | None = None
        """The state right after the start event was queued: what ``create_run`` stores."""

    # -- RunListener ---------------------------------------------------------------------
    def boundary(self, run: Run) -> None:
        """Snapshot the run and hand the commit to the engine's writer.

        A value that cannot be encoded fails the run with the ContextSerdeError (the
        previous commit stays as it was) instead of leaving it stuck.
        """
        try:
            self._boundary(run)
        except ContextSerdeError as exc:
            if not run.done:
                run.fail("(snapshot)", exc, attempts=1, elapsed=0.0)
                return
            # Even the final state cannot be encoded: store the end without it.
            logger.error("run %s: final state cannot be stored: %s", self.run_id, exc)
            stop = run.state.stop_event
            assert stop is not None
            part = CommitPart(snapshot=self.last_snapshot, status=status_of(run))
            part.result, part.error = None, {"type": "ContextSerdeError", "message": str(exc)}
            part.publish, run.unpublished = run.unpublished, []
            part.consumed_inbound, self.consumed_inbound = self.consumed_inbound, []
            for request_id in self.pending_requests:
                part.closed_requests.append((request_id, "cancelled"))
            self.pending_requests.clear()
            self.error = exc
            self.engine._writer.submit(self, part)

    def _boundary(self, run: Run) -> None:
        state = run.state
        status = status_of(run)
        encode = self.serializer.encode
        events, run.unpublished = run.unpublished, []
        snapshot = snapshot_to_dict(run.ctx, self.serializer, self.name)
        self.last_snapshot = snapshot
        if self.first_snapshot is None:
            self.first_snapshot = snapshot
        part = CommitPart(snapshot=snapshot, status=status)
        waiter_events = {id(w.waiter_event) for w in state.waiters.values() if w.waiter_event}
        first_seq = state.stream_seq - len(events) + 1
        now = time.time()
        for offset, event in enumerate(events):
            seq = first_seq + offset
            payload = encode(event, self.types)
            part.stream.append((seq, type_key(type(event)), payload))
            if isinstance(event, InputRequiredEvent) and id(event) not in waiter_events:
                request_id = f"{self.run_id}:{seq}"
                schema = response_type_for_prompts(self.workflow).model_json_schema()
                part.new_requests.append(
                    InputRequest.new(
                        request_id,
                        self.run_id,
                        self.name,
                        type_key(type(event)),
                        payload,
                        _object_schema(schema),
                        now=now,
                    )
                )
                self.pending_requests[request_id] = None
        for key, waiter in state.open_waiters.items():
            if key in self.requested_waiters or not waiter.emitted:
                continue
            self.requested_waiters.add(key)
            request_id = f"{self.run_id}:{WAITER_PREFIX}{key}"
            payload = encode(waiter.waiter_event, self.types) if waiter.waiter_event else {}
            part.new_requests.append(
                InputRequest.new(
                    request_id,
                    self.run_id,
                    self.name,
                    type_key(type(waiter.waiter_event)) if waiter.waiter_event else "",
                    payload,
                    _object_schema(waiter.event_type.model_json_schema()),
                    deadline=waiter.deadline,
                    now=now,
                )
            )
            self.pending_requests[request_id] = key
        for request_id, pending_key in list(self.pending_requests.items()):
            if pending_key is not None and pending_key not in state.open_waiters:
                gone = state.waiters.get(pending_key)
                part.closed_requests.append(
                    (request_id, "answered" if gone is not None and gone.resolved else "expired")
                )
                del self.pending_requests[request_id]
        if state.stop_event is not None:
            for request_id in self.pending_requests:
                part.closed_requests.append((request_id, "cancelled"))
            self.pending_requests.clear()
            part.result, part.error = self._outcome(state.stop_event, run)
        part.consumed_inbound, self.consumed_inbound = self.consumed_inbound, []
        part.publish = events
        self.engine._writer.submit(self, part)

    def _outcome(self, stop: StopEvent, run: Run) -> tuple[Any, dict[str, Any] | None]:
        if isinstance(stop, WorkflowFailedEvent):
            exc = stop.exception
            self.error = exc if isinstance(exc, BaseException) else None
            return None, {
                "type": type(exc).__name__ if isinstance(exc, BaseException) else "Error",
                "message": str(exc),
                "step": stop.step_name,
            }
        if isinstance(stop, WorkflowCancelledEvent):
            self.error = WorkflowCancelledByUser("the run was cancelled")
            return None, {"type": "WorkflowCancelledByUser", "message": "the run was cancelled"}
        if isinstance(stop, WorkflowTimedOutEvent):
            self.error = WorkflowTimeoutError(f"Operation timed out after {stop.timeout} seconds")
            return None, {"type": "WorkflowTimeoutError", "message": str(self.error)}
        value = stop.result if type(stop) is StopEvent else stop
        return self.serializer.encode(value, self.types), None

    # -- delivery --------------------------------------------------------------------------
    async def pull_inbound(self) -> None:
        """Deliver inbound events stored by other processes since the run was loaded."""
        for item in await self.engine.store.list_inbound(self.run_id):
            if self.run is None or self.run.done:
                return
            self.deliver(item.id, item.payload)

    def decode_event(self, data: Any) -> Event:
        """Decode an event payload with this workflow's allowlist."""
        event = self.serializer.decode(data, self.types)
        if not isinstance(event, Event):
            raise TypeError(f"payload is not an event: {type(event).__name__}")
        return event

    def deliver(self, inbound_id: int, payload: dict[str, Any]) -> None:
        """Hand a stored inbound event to the in-memory run (consumed by the next commit)."""
        run = self.run
        assert run is not None
        if inbound_id in self.delivered:
            return
        self.delivered.add(inbound_id)
        self.consumed_inbound.append(inbound_id)
        delivered = False
        request_id = payload.get("request_id")
        if isinstance(request_id, str):
            waiter_key = self.pending_requests.pop(request_id, None)
            response = payload.get("response") or {}
            if waiter_key is not None:
                waiter = run.state.open_waiters.get(waiter_key)
                if waiter is not None:
                    fields = {**response, **waiter.requirements}
                    answer = waiter.event_type.model_validate(fields)
                    delivered = run.deliver_to_waiter(waiter_key, answer)
            else:
                event_type = response_type_for_prompts(self.workflow)
                run.send_from_outside(event_type.model_validate(response))
                delivered = True
        else:
            run.send_from_outside(self.decode_event(payload.get("event")), payload.get("step"))
            delivered = True
        if not delivered and not run.done:
            self.boundary(run)


def waiter_key_of(run_id: str, request_id: str) -> str | None:
    """The waiter key a request id names (``<run>:w<key>``), or None for a prompt."""
    rest = request_id[len(run_id) + 1 :] if request_id.startswith(f"{run_id}:") else ""
    return rest[len(WAITER_PREFIX) :] if rest.startswith(WAITER_PREFIX) else None


def _object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Keep the parts of a pydantic JSON schema the inbox validates and shows."""
    kept = {
        k: v
        for k, v in schema.items()
        if k in ("type", "properties", "required", "title", "$defs", "definitions")
    }
    kept.setdefault("type", "object")
    return kept
