"""Turning engine records into the API's response models (plain JSON throughout)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError, to_jsonable_python
from starlette.responses import JSONResponse, Response

from ..context.serializers import TypeRegistry, type_key
from ..engine import Engine
from ..engine.views import registry_for, response_type_for_prompts
from ..errors import WorkflowError
from ..events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent
from ..stores import AuditEntry, DeliveryAttempt, InputRequest, RunRecord, StreamEntry
from ..workflow import Workflow
from ._models import (
    AuditEntryOut,
    DeliveryAttemptOut,
    EventOut,
    GraphEdgeOut,
    GraphNodeOut,
    HistoryEventOut,
    RequestOut,
    RunErrorOut,
    RunOut,
    WorkflowGraphOut,
    WorkflowOut,
)

__all__ = ["Views", "current_steps", "ok", "plain", "workflow_graph"]


def ok(model: BaseModel, status: int = 200) -> Response:
    """A JSON response of a response model."""
    return JSONResponse(model.model_dump(mode="json"), status_code=status)


def plain(value: Any) -> Any:
    """``value`` as plain JSON data (models dumped, tuples as lists, odd objects as repr)."""
    if isinstance(value, BaseModel):
        try:
            return value.model_dump(mode="json")
        except (PydanticSerializationError, ValueError, TypeError):
            pass
    return to_jsonable_python(value, fallback=repr)


class Views:
    """Builds response models for one engine; caches each workflow's type allowlist."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._registries: dict[str, TypeRegistry] = {}

    def registry(self, workflow: str) -> TypeRegistry | None:
        """The type allowlist of a registered workflow, else None."""
        registry = self._registries.get(workflow)
        if registry is None:
            wf = self.engine.workflows.get(workflow)
            if wf is None:
                return None
            registry = self._registries[workflow] = registry_for(wf, self.engine.serializer_for(wf))
        return registry

    def decode(self, workflow: str, data: Any) -> Any:
        """Decode a stored value; the raw data when it cannot be decoded."""
        registry = self.registry(workflow)
        if registry is None:
            return data
        serializer = self.engine.serializer_for(self.engine.workflows[workflow])
        try:
            return serializer.decode(data, registry)
        except WorkflowError:
            return data

    def event(self, event: Event) -> EventOut:
        """An event object as :class:`EventOut`."""
        cls = type(event)
        data = plain(event)
        return EventOut(
            type=cls.__name__,
            type_key=type_key(cls),
            data=data if isinstance(data, dict) else {"value": data},
        )

    def stored_event(self, workflow: str, key: str, payload: Any) -> EventOut:
        """A stored event payload (``{"$event": key, "data": {...}}``) as :class:`EventOut`."""
        value = self.decode(workflow, payload)
        if isinstance(value, Event):
            return self.event(value)
        data = payload.get("data") if isinstance(payload, dict) else None
        key = key or (payload.get("$event", "") if isinstance(payload, dict) else "")
        return EventOut(
            type=str(key).rpartition(".")[2],
            type_key=str(key),
            data=plain(data) if isinstance(data, dict) else {},
        )

    def run(self, record: RunRecord) -> RunOut:
        """A run record as :class:`RunOut`."""
        error = None
        if record.error:
            error = RunErrorOut(
                type=str(record.error.get("type", "Error")),
                message=str(record.error.get("message", "")),
            )
        result = plain(self.decode(record.workflow, record.result))
        return RunOut(
            run_id=record.run_id,
            workflow=record.workflow,
            status=record.status,
            created_at=record.created_at,
            updated_at=record.updated_at,
            result=result,
            error=error,
            current_steps=current_steps(record, self.engine.workflows.get(record.workflow)),
            input=None
            if record.input is None
            else self.stored_event(record.workflow, "", record.input),
        )

    def history_event(self, workflow: str, entry: StreamEntry) -> HistoryEventOut:
        """A stream log entry of a run of ``workflow`` as :class:`HistoryEventOut`; a
        damaged entry keeps its type and time, with empty data and its damage."""
        if entry.corrupt is not None:
            key = str(entry.event_type)
            out = EventOut(type=key.rpartition(".")[2] or "Event", type_key=key, data={})
            corrupt: dict[str, str] | None = {str(k): str(v) for k, v in entry.corrupt.items()}
        else:
            out = self.stored_event(workflow, entry.event_type, entry.payload)
            corrupt = None
        return HistoryEventOut(
            seq=entry.seq, created_at=entry.created_at, corrupt=corrupt, **out.model_dump()
        )

    def request(self, request: InputRequest) -> RequestOut:
        """An input request as :class:`RequestOut`."""
        if request.event_type:
            prompt = self.stored_event(request.workflow, request.event_type, request.payload)
        else:  # a wait_for_event without a waiter event: an empty prompt
            prompt = self.event(InputRequiredEvent())
        return RequestOut(
            request_id=request.request_id,
            run_id=request.run_id,
            workflow=request.workflow,
            status=request.status,
            created_at=request.created_at,
            deadline=request.deadline,
            prompt=prompt,
            response_schema=request.response_schema,
            response=request.response,
            answered_at=request.answered_at,
            answered_by=request.answered_by,
            assignee=request.assignee,
            candidate_users=list(request.candidate_users),
            candidate_groups=list(request.candidate_groups),
            priority=request.priority,
            due=request.due,
            follow_up=request.follow_up,
            overdue_at=request.overdue_at,
        )

    @staticmethod
    def audit_entry(entry: AuditEntry) -> AuditEntryOut:
        """An audit entry as :class:`AuditEntryOut`."""
        return AuditEntryOut(
            id=entry.id,
            request_id=entry.request_id,
            run_id=entry.run_id,
            workflow=entry.workflow,
            at=entry.at,
            action=entry.action,
            actor=entry.actor,
            detail=plain(entry.detail),
        )

    @staticmethod
    def delivery(attempt: DeliveryAttempt) -> DeliveryAttemptOut:
        """A webhook delivery attempt as :class:`DeliveryAttemptOut`."""
        return DeliveryAttemptOut(
            endpoint=attempt.endpoint,
            audit_id=attempt.audit_id,
            request_id=attempt.request_id,
            attempt=attempt.attempt,
            at=attempt.at,
            status_code=attempt.status_code,
            error=attempt.error,
            delivered=attempt.delivered,
        )

    @staticmethod
    def workflow(name: str, wf: Workflow) -> WorkflowOut:
        """A registered workflow as :class:`WorkflowOut`."""
        return WorkflowOut(
            name=name,
            start_schema=wf.start_event_class.model_json_schema(),
            response_schema=response_type_for_prompts(wf).model_json_schema(),
            event_types=sorted({cls.__name__ for cls in wf.events}),
            mermaid=wf.draw_mermaid(),
            graph=workflow_graph(wf),
        )


def _event_kind(cls: type[Event]) -> Literal["start", "stop", "input", "response", "event"]:
    if issubclass(cls, StartEvent):
        return "start"
    if issubclass(cls, StopEvent):
        return "stop"
    if issubclass(cls, InputRequiredEvent):
        return "input"
    if issubclass(cls, HumanResponseEvent):
        return "response"
    return "event"


def workflow_graph(wf: Workflow) -> WorkflowGraphOut:
    """The step/event graph of ``wf`` (the same one ``draw_mermaid`` draws), as data:
    StartEvent types first, then each step in declaration order with the events it
    returns."""
    nodes: dict[str, GraphNodeOut] = {}
    edges: dict[tuple[str, str], None] = {}

    def event_node(cls: type[Event]) -> str:
        node_id = "event:" + type_key(cls)
        if node_id not in nodes:
            nodes[node_id] = GraphNodeOut(id=node_id, label=cls.__name__, kind=_event_kind(cls))
        return node_id

    steps = wf.steps
    for spec in steps.values():
        for cls in spec.accepted:
            if issubclass(cls, StartEvent):
                event_node(cls)
    for name, spec in steps.items():
        step_id = "step:" + name
        nodes[step_id] = GraphNodeOut(id=step_id, label=name, kind="step")
        for cls in spec.accepted:
            edges[(event_node(cls), step_id)] = None
        for cls in spec.emits:
            edges[(step_id, event_node(cls))] = None
    return WorkflowGraphOut(
        nodes=list(nodes.values()),
        edges=[GraphEdgeOut(source=a, target=b) for a, b in edges],
    )


def current_steps(record: RunRecord, wf: Workflow | None) -> list[str]:
    """Where an unfinished run stands: the steps with an invocation in flight or events
    queued (from its snapshot), else, for a run waiting for a person, the steps that
    take a HumanResponseEvent. Empty for a finished run or an unreadable snapshot."""
    if record.is_finished:
        return []
    snapshot = record.snapshot if isinstance(record.snapshot, dict) else {}
    found: dict[str, None] = {}
    in_flight = snapshot.get("in_flight")
    if isinstance(in_flight, list):
        for invocation in in_flight:
            step_name = invocation.get("step") if isinstance(invocation, dict) else None
            if isinstance(step_name, str):
                found[step_name] = None
    queues = snapshot.get("queues")
    if isinstance(queues, dict):
        for step_name, queued in queues.items():
            if isinstance(step_name, str) and queued:
                found[step_name] = None
    if not found and record.status == "waiting" and wf is not None:
        for step_name, spec in wf.steps.items():
            if any(issubclass(cls, HumanResponseEvent) for cls in spec.accepted):
                found[step_name] = None
    return list(found)
