"""One run owned by the engine: turns each step boundary into a store commit."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..context.serializers import BaseSerializer, TypeRegistry, type_key
from ..errors import (
    ContextSerdeError,
    TaskFieldError,
    WorkflowCancelledByUser,
    WorkflowTimeoutError,
)
from ..events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    RequestOverdueEvent,
    StopEvent,
    WorkflowCancelledEvent,
    WorkflowFailedEvent,
    WorkflowTimedOutEvent,
)
from ..runtime.host import (
    Run,
    graph_of,
    registry_for,
    run_of,
    snapshot_to_dict,
    state_changes,
)
from ..stores import STATE_ROWS_KEY, CheckpointWrite, InputRequest, StateChanges
from ..tasks import TaskFields
from ..workflow import Workflow
from ._history import CheckpointChain, StateMirror, checkpoint_meta, request_suffixes
from ._state_commit import merge_state_changes, snapshot_for_commit

if TYPE_CHECKING:
    from ..handler import WorkflowHandler
    from ._engine import Engine

WAITER_PREFIX = "w"
CANCEL_PAYLOAD: dict[str, Any] = {"cancel": True}
"""The inbound payload that asks a run's executor to cancel it."""
SENT_BY = "sent_by"
"""The key of an inbound event's payload that says who sent it (recorded as who
answered the request the event answers, if it answers one)."""
_UNSTORABLE_STEP = "(snapshot)"
"""The step name of the failure of a run whose state cannot be encoded."""

logger = logging.getLogger("workflows.engine")


@dataclass
class CommitPart:
    """What one or more boundaries of a run add to its next commit."""

    snapshot: dict[str, Any]
    status: str
    state: StateChanges | None = None
    result: Any = None
    error: dict[str, Any] | None = None
    stream: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    new_requests: list[InputRequest] = field(default_factory=list)
    closed_requests: list[tuple[str, str]] = field(default_factory=list)
    consumed_inbound: list[int] = field(default_factory=list)
    publish: list[Event] = field(default_factory=list)
    answered_by: dict[str, str] = field(default_factory=dict)
    full: dict[str, Any] | None = None
    """The whole snapshot, state included, for a checkpoint (history kept only)."""
    causes: tuple[str, ...] = ()
    """What the boundaries folded into this part mark (``"step:name"``, ...)."""
    requests: list[str] | None = None
    """The input requests open at the latest boundary (ids without the run id)."""

    def merge(self, later: CommitPart) -> None:
        """Fold a later boundary into this pending commit."""
        self.snapshot = later.snapshot
        self.state = merge_state_changes(self.state, later.state)
        self.status = later.status
        self.result = later.result
        self.error = later.error
        self.stream.extend(later.stream)
        self.new_requests.extend(later.new_requests)
        self.closed_requests.extend(later.closed_requests)
        self.consumed_inbound.extend(later.consumed_inbound)
        self.publish.extend(later.publish)
        self.answered_by.update(later.answered_by)
        self.full = later.full
        if later.causes:
            self.causes += later.causes
        self.requests = later.requests


_UNSTORABLE = (ContextSerdeError, TaskFieldError)
"""What a boundary cannot commit: the run fails with it (see ``DurableRun.boundary``)."""


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
    for spec in graph_of(workflow).specs.values():
        for accepted in spec.accepted:
            if issubclass(accepted, HumanResponseEvent):
                return accepted
    return HumanResponseEvent


def accepts_overdue(workflow: Workflow) -> bool:
    """Whether a step of the workflow takes :class:`RequestOverdueEvent` (else an overdue
    request is only marked in the store)."""
    return any(
        issubclass(accepted, RequestOverdueEvent)
        for spec in graph_of(workflow).specs.values()
        for accepted in spec.accepted
    )


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
        self.prompts_answered: list[tuple[str, str | None]] = []
        """Prompt requests answered by a response event sent to the run (not through the
        inbox), with who sent it: closed as answered by the next commit."""
        self.sending: tuple[Event, str] | None = None
        """The event being delivered from outside and who sent it, while it is handed to
        the run: a waiter it resolves is closed as answered by that sender."""
        self.start_input: dict[str, Any] | None = None
        """The encoded start event, stored with the run when it is created."""
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
        self.rows_stored = False
        """The run's state rows are as the boundaries built so far leave them (False
        until one wrote them all: a new or loaded run's rows are rewritten once)."""
        self.retention = engine.retention_for(name)
        """Which of its commits the run keeps as checkpoints."""
        enabled = self.retention.enabled
        self.mirror: StateMirror | None = StateMirror() if enabled else None
        """The run's state entries, to build whole checkpoints (history kept only)."""
        self.chain: CheckpointChain | None = CheckpointChain() if enabled else None
        """How the run's next checkpoint is written (history kept only)."""

    def attach(self, handler: WorkflowHandler) -> None:
        """Take the in-memory run behind ``handler``. Its outcome reaches callers through
        the store (the engine's handles), so nobody awaits the handler itself: what it
        raises is marked retrieved instead of being logged as never retrieved."""
        self.run = run_of(handler)
        handler.add_done_callback(_retrieve_exception)

    # -- RunListener ---------------------------------------------------------------------
    def boundary(self, run: Run) -> None:
        """Snapshot the run and hand the commit to the engine's writer.

        A boundary whose snapshot, stream events, requests or result cannot be encoded
        (or whose prompt has a bad task field) changes nothing (no commit, no event
        taken from the run). A run that can go on is failed with that ContextSerdeError
        or TaskFieldError, whose own boundary then ends here too: see
        :meth:`_fail_unstorable`.
        """
        try:
            self._boundary(run)
        except _UNSTORABLE as exc:
            # The engine's handle reports the error; the in-memory handler's copy of it
            # is not awaited by anyone.
            run.handler.add_done_callback(_retrieve_exception)
            if not run.done:
                run.fail(_UNSTORABLE_STEP, exc, attempts=1, elapsed=0.0)
                return
            self._fail_unstorable(run, exc)

    def _boundary(self, run: Run) -> None:
        state = run.state
        status = status_of(run)
        encode = self.serializer.encode
        # Everything that can fail to encode comes first; the run and this object are
        # changed only once the whole commit is built.
        if self.created or self.first_snapshot is not None:
            snapshot, row_changes = snapshot_for_commit(
                run.ctx, self.serializer, self.name, rows_stored=self.rows_stored
            )
        else:  # the first boundary of a new run: created whole, in one row
            snapshot, row_changes = snapshot_to_dict(run.ctx, self.serializer, self.name), None
        events = list(run.unpublished)
        part = CommitPart(snapshot=snapshot, status=status, state=row_changes)
        waiter_events = {id(w.waiter_event) for w in state.waiters.values() if w.waiter_event}
        first_seq = state.stream_seq - len(events) + 1
        now = time.time()
        new_pending: dict[str, str | None] = {}
        for offset, event in enumerate(events):
            seq = first_seq + offset
            payload = encode(event, self.types)
            part.stream.append((seq, type_key(type(event)), payload))
            if isinstance(event, InputRequiredEvent) and id(event) not in waiter_events:
                request_id = f"{self.run_id}:{seq}"
                schema = response_schema(response_type_for_prompts(self.workflow))
                part.new_requests.append(
                    InputRequest.new(
                        request_id,
                        self.run_id,
                        self.name,
                        type_key(type(event)),
                        payload,
                        schema,
                        now=now,
                        **TaskFields.from_event(event, now).as_keywords(),
                    )
                )
                new_pending[request_id] = None
        for key, waiter in state.open_waiters.items():
            if key in self.requested_waiters or not waiter.emitted:
                continue
            request_id = f"{self.run_id}:{WAITER_PREFIX}{key}"
            payload = encode(waiter.waiter_event, self.types) if waiter.waiter_event else {}
            part.new_requests.append(
                InputRequest.new(
                    request_id,
                    self.run_id,
                    self.name,
                    type_key(type(waiter.waiter_event)) if waiter.waiter_event else "",
                    payload,
                    response_schema(waiter.event_type),
                    deadline=waiter.deadline,
                    now=now,
                    **TaskFields.from_event(waiter.waiter_event, now).as_keywords(),
                )
            )
            new_pending[request_id] = key
        if state.stop_event is not None:
            part.result, part.error = self._outcome(state.stop_event, run)
        # -- the commit is built: record it -----------------------------------------------
        if self.mirror is not None:
            part.full = self.mirror.whole(snapshot, row_changes)
            kind, name = run.cause
            part.causes = (f"{kind}:{name}" if name else kind,)
        del run.unpublished[: len(events)]
        state_changes(run.ctx).taken()
        self.rows_stored = STATE_ROWS_KEY in snapshot
        self.last_snapshot = snapshot
        if self.first_snapshot is None:
            self.first_snapshot = snapshot
        self.requested_waiters.update(key for key in new_pending.values() if key is not None)
        self.pending_requests.update(new_pending)
        for request_id, pending_key in list(self.pending_requests.items()):
            if pending_key is not None and pending_key not in state.open_waiters:
                gone = state.waiters.get(pending_key)
                resolved = gone.resolved if gone is not None else None
                closed_as = "answered" if resolved is not None else "expired"
                part.closed_requests.append((request_id, closed_as))
                sending = self.sending
                if resolved is not None and sending is not None and resolved is sending[0]:
                    part.answered_by[request_id] = sending[1]
                del self.pending_requests[request_id]
        if state.stop_event is not None:
            self._close_pending_requests(part)
        if self.mirror is not None and self.pending_requests:
            part.requests = request_suffixes(self.run_id, self.pending_requests)
        self._take_inbound(part)
        part.publish = events
        self.engine.writer.submit(self, part)

    def checkpoint_for(self, part: CommitPart) -> CheckpointWrite | None:
        """The checkpoint the commit of ``part`` keeps (as the run's retention says), to
        write with it; call ``chain.committed()`` once the commit is stored."""
        chain = self.chain
        if chain is None or part.full is None or not self.retention.keeps(part.status):
            return None
        keep = self.retention.count
        meta = checkpoint_meta(part.causes, part.requests, keep_last=keep)
        return chain.write(self.version + 1, part.full, meta, keep)

    def _fail_unstorable(self, run: Run, exc: ContextSerdeError | TaskFieldError) -> None:
        """End a run whose end cannot be encoded: stored as ``failed`` with ``exc``.

        The stored snapshot stays the last one that could be encoded (a run never
        committed gets the snapshot of a fresh context): nothing half-encoded is
        written. The stream gets the events of the end that can be encoded, and ends
        with a WorkflowFailedEvent carrying ``exc`` in place of the run's StopEvent, so
        readers of the stream see the run fail. Awaiting the run raises ``exc``.
        """
        stop = run.state.stop_event
        if isinstance(stop, WorkflowFailedEvent) and isinstance(stop.exception, _UNSTORABLE):
            exc = stop.exception  # the run was failed by boundary() for this very reason
            failed_end: StopEvent = stop
        else:
            failed_end = WorkflowFailedEvent(step_name=_UNSTORABLE_STEP, exception=exc)
        logger.error("run %s: its end cannot be stored, the run fails: %s", self.run_id, exc)
        snapshot = self.last_snapshot or snapshot_to_dict(
            type(run.ctx)(self.workflow), self.serializer, self.name
        )
        # The state rows are as the last snapshot built left them; a fresh snapshot
        # holds its state whole.
        state = StateChanges(reset=True) if self.rows_stored and not self.last_snapshot else None
        part = CommitPart(snapshot=snapshot, status="failed", state=state)
        part.error = {"type": type(exc).__name__, "message": str(exc), "step": _UNSTORABLE_STEP}
        events, run.unpublished = run.unpublished, []
        first_seq = run.state.stream_seq - len(events) + 1
        for offset, event in enumerate(events):
            if isinstance(event, StopEvent):
                event = events[offset] = failed_end
            try:
                payload = self.serializer.encode(event, self.types)
            except ContextSerdeError:
                continue  # lost with the state it belonged to
            part.stream.append((first_seq + offset, type_key(type(event)), payload))
        part.publish = events
        self._take_inbound(part)
        self._close_pending_requests(part)
        self.error = exc
        self.engine.writer.submit(self, part)

    def _take_inbound(self, part: CommitPart) -> None:
        """Put the inbound events taken in since the last commit into ``part``."""
        part.consumed_inbound, self.consumed_inbound = self.consumed_inbound, []
        for request_id, sender in self.prompts_answered:
            part.closed_requests.append((request_id, "answered"))
            if sender is not None:
                part.answered_by[request_id] = sender
        self.prompts_answered.clear()

    def _close_pending_requests(self, part: CommitPart) -> None:
        """Close every open request of this run as cancelled (the run has ended)."""
        for request_id in self.pending_requests:
            part.closed_requests.append((request_id, "cancelled"))
        self.pending_requests.clear()

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

    def _answer_oldest_prompt(self, sender: str | None) -> None:
        """A response event reached the run without naming a request: it answers the
        oldest open prompt, which must leave the inbox (and accept no other answer)."""
        for request_id, waiter_key in self.pending_requests.items():
            if waiter_key is None:
                del self.pending_requests[request_id]
                self.prompts_answered.append((request_id, sender))
                return

    def deliver(self, inbound_id: int, payload: dict[str, Any]) -> None:
        """Hand a stored inbound event to the in-memory run (consumed by the next commit)."""
        run = self.run
        assert run is not None
        if inbound_id in self.delivered:
            return
        self.delivered.add(inbound_id)
        self.consumed_inbound.append(inbound_id)
        delivered = False
        if payload.get("cancel") is True:
            if not run.done:
                run.cancel()
            return
        request_id = payload.get("request_id")
        overdue = payload.get("overdue")
        if isinstance(overdue, str):
            delivered = self._deliver_overdue(run, overdue, payload.get("due"))
        elif isinstance(request_id, str):
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
            event = self.decode_event(payload.get("event"))
            sender = payload.get(SENT_BY)
            sender = sender if isinstance(sender, str) else None
            if isinstance(event, HumanResponseEvent):
                self._answer_oldest_prompt(sender)
            self.sending = None if sender is None else (event, sender)
            try:
                run.send_from_outside(event, payload.get("step"))
            finally:
                self.sending = None
            delivered = True
        if not delivered and not run.done:
            self.boundary(run)

    def _deliver_overdue(self, run: Run, request_id: str, due: Any) -> bool:
        """Send a :class:`RequestOverdueEvent` for a request the store marked overdue,
        unless it is no longer open here or no step takes the event."""
        if request_id not in self.pending_requests or not accepts_overdue(self.workflow):
            return False
        when = float(due) if isinstance(due, (int, float)) else time.time()
        run.send_from_outside(RequestOverdueEvent(request_id=request_id, due=when))
        return True


def _retrieve_exception(future: asyncio.Future[Any]) -> None:
    """Mark a settled future's exception as retrieved (asyncio logs unretrieved ones)."""
    if not future.cancelled():
        future.exception()


def waiter_key_of(run_id: str, request_id: str) -> str | None:
    """The waiter key a request id names (``<run>:w<key>``), or None for a prompt."""
    rest = request_id[len(run_id) + 1 :] if request_id.startswith(f"{run_id}:") else ""
    return rest[len(WAITER_PREFIX) :] if rest.startswith(WAITER_PREFIX) else None


@functools.lru_cache(maxsize=512)
def response_schema(event_type: type[Event]) -> dict[str, Any]:
    """The JSON schema an answer of ``event_type`` must fit, as requests store it.

    Computed once per class (pydantic's ``model_json_schema`` costs more than the rest of
    a prompt's commit); the dict is shared: do not modify it.
    """
    return _object_schema(event_type.model_json_schema())


def _object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Keep the parts of a pydantic JSON schema the inbox validates and shows."""
    kept = {
        k: v
        for k, v in schema.items()
        if k in ("type", "properties", "required", "title", "$defs", "definitions")
    }
    kept.setdefault("type", "object")
    return kept
