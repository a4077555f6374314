"""``/workflows/{name}/runs`` and ``/runs``: start, inspect, send to and cancel runs."""

from __future__ import annotations

import asyncio

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..engine.views import waiter_key_of
from ..errors import WorkflowConfigurationError
from ..events import (
    CollectionReleaseEvent,
    Event,
    InputRequiredEvent,
    InternalDispatchEvent,
    StartEvent,
    StepFailedEvent,
    StopEvent,
)
from ..runtime.validation_text import validation_summary
from ..stores import RUN_STATUSES, RunRecord
from ..workflow import Workflow
from ._access import check_may_answer_run
from ._errors import ApiError
from ._identity import identity_of
from ._models import AcceptedOut, RunHistoryOut, RunList, SendEventIn, StartRunIn
from ._parse import (
    acting_user,
    model_body,
    path_id,
    query_bool,
    query_choice,
    query_float,
    query_int,
    query_str,
)
from ._sse import run_events, stored_run
from ._state import ServerState, state_of
from ._views import ok

__all__ = ["CONTROL_EVENTS", "run_routes"]

CONTROL_EVENTS: tuple[type[Event], ...] = (
    StartEvent,
    StopEvent,
    InputRequiredEvent,
    StepFailedEvent,
    CollectionReleaseEvent,
    InternalDispatchEvent,
)
"""Events (with their subclasses) that steer the engine rather than feed a step: a
StopEvent (or WorkflowFailedEvent, WorkflowCancelledEvent, ...) ends the run with any
result, a StartEvent restarts it, an InputRequiredEvent asks in its name. Refused over
HTTP unless the app opts the workflow in (``create_app(control_events=...)``)."""


async def _record(state: ServerState, run_id: str) -> RunRecord:
    return await stored_run(state, run_id)


async def start_run(request: Request) -> Response:
    """Start a run; with ``wait=true``, answer once it finished or ``timeout`` passed."""
    state = state_of(request)
    name = request.path_params["name"]
    wait = query_bool(request, "wait")
    timeout = query_float(request, "timeout", 30.0, 0.0, state.max_wait)
    wf = state.engine.workflows.get(name)
    if wf is None:
        raise ApiError("unknown_workflow", f"no workflow named {name[:200]!r}")
    body = await model_body(request, StartRunIn, optional=True)
    start_event = wf.start_event_class.model_validate(body.input)  # ValidationError -> 422
    handle = await state.engine.start(name, start_event)
    if not wait:
        return ok(state.views.run(await handle.record()), 201)
    try:
        await asyncio.wait_for(asyncio.shield(handle.result()), timeout)
    except asyncio.TimeoutError:
        pass
    except asyncio.CancelledError:
        raise
    except Exception:  # the run failed or was cancelled: its record says how
        pass
    return ok(state.views.run(await handle.record()))


async def list_runs(request: Request) -> Response:
    """Stored runs, newest first."""
    state = state_of(request)
    status = query_choice(request, "status", RUN_STATUSES)
    workflow = query_str(request, "workflow")
    limit = query_int(request, "limit", 100, 1, 1000)
    offset = query_int(request, "offset", 0, 0, None)
    records = await state.engine.runs(status, workflow, limit, offset)
    return ok(RunList(runs=[state.views.run(r) for r in records]))


async def get_run(request: Request) -> Response:
    """One run."""
    state = state_of(request)
    return ok(state.views.run(await _record(state, path_id(request, "run_id", "run"))))


async def run_history(request: Request) -> Response:
    """The run's committed stream events with the time each was committed, oldest
    first (``after`` a sequence number, at most ``limit``): the run page's timeline."""
    state = state_of(request)
    record = await _record(state, path_id(request, "run_id", "run"))
    after = query_int(request, "after", 0, 0, None)
    limit = query_int(request, "limit", 1000, 1, 1000)
    entries = await state.engine.history(record.run_id, after=after, limit=limit)
    return ok(
        RunHistoryOut(events=[state.views.history_event(record.workflow, e) for e in entries])
    )


def _check_open_run(record: RunRecord) -> None:
    if record.is_finished:
        raise ApiError("run_finished", f"run {record.run_id!r} is {record.status}")


async def send_event(request: Request) -> Response:
    """Store an event for a run and deliver it, if the run can take it (checked first:
    a refused event is never stored). An event that answers an input request records
    the ``X-Workflows-User`` header as who answered."""
    state = state_of(request)
    engine = state.engine
    record = await _record(state, path_id(request, "run_id", "run"))
    if request.headers.get("idempotency-key") is not None:
        raise ApiError(
            "bad_parameter",
            "POST /runs/{run_id}/events takes no Idempotency-Key: sent events are not "
            "deduplicated (answer input requests with POST /requests/{id}/response for that)",
        )
    user = acting_user(request)
    body = await model_body(request, SendEventIn)
    _check_open_run(record)
    wf = engine.workflows.get(record.workflow)
    if wf is None:
        raise ApiError(
            "workflow_not_registered",
            f"workflow {record.workflow!r} is not registered on this server",
        )
    try:
        event_type = engine.event_type(record.workflow, body.type)
    except WorkflowConfigurationError as exc:  # an unknown type name
        raise ApiError("unknown_event_type", str(exc)) from None
    if not (isinstance(event_type, type) and issubclass(event_type, Event)):
        raise ApiError("unknown_event_type", f"{body.type[:200]!r} is not an event type")
    await _check_taken(state, record, wf, event_type, body.step)
    await check_may_answer_run(state, identity_of(request), record.run_id, "send it events")
    try:
        event = event_type.model_validate(body.data)
    except ValidationError as exc:
        summary = validation_summary(exc, limit=1, where="data")
        raise ApiError("validation_failed", f"invalid {event_type.__name__}: {summary}") from None
    await engine.send_event(record.run_id, event, body.step, sent_by=user)
    return ok(AcceptedOut(accepted=True), 202)


async def _check_taken(
    state: ServerState, record: RunRecord, wf: Workflow, event_type: type[Event], step: str | None
) -> None:
    """Refuse (422) an event the run would not take: a control event the workflow did
    not opt in to, one no step accepts (unless the run waits in ``wait_for_event``), or
    one the named step does not accept."""
    name = event_type.__name__
    control = issubclass(event_type, CONTROL_EVENTS)
    if control and not state.takes_control_events(record.workflow):
        raise ApiError(
            "control_events_disabled",
            f"{name} is a control event of the engine and is not taken over HTTP: workflow "
            f"{record.workflow!r} has not opted in (create_app(control_events=...))",
        )
    steps = wf.steps
    if step is not None:
        spec = steps.get(step)
        if spec is None:
            raise ApiError(
                "unknown_step", f"workflow {record.workflow!r} has no step {step[:200]!r}"
            )
        if spec.collect is not None or spec.catch_for_steps is not None:
            raise ApiError(
                "event_not_accepted",
                f"step {step!r} cannot be sent events (it only gathers or catches)",
            )
        if not spec.accepts_type(event_type):
            raise ApiError("event_not_accepted", f"step {step!r} does not accept {name}")
        return
    if control:
        return  # opted in: the engine handles it (a StopEvent ends the run)
    if any(
        spec.collect is None and spec.catch_for_steps is None and spec.accepts_type(event_type)
        for spec in steps.values()
    ):
        return
    if await _has_open_waiter(state, record.run_id):
        return
    raise ApiError(
        "event_not_accepted",
        f"no step of workflow {record.workflow!r} accepts {name}, and run "
        f"{record.run_id!r} is not waiting in wait_for_event",
    )


async def _has_open_waiter(state: ServerState, run_id: str) -> bool:
    pending = await state.engine.requests(run_id=run_id, status="pending", limit=1000)
    return any(waiter_key_of(run_id, r.request_id) is not None for r in pending)


async def cancel_run(request: Request) -> Response:
    """Cancel a run that has not finished."""
    state = state_of(request)
    record = await _record(state, path_id(request, "run_id", "run"))
    _check_open_run(record)
    await state.engine.get(record.run_id).cancel_run()
    record = await _record(state, record.run_id)
    if record.status != "cancelled":
        raise ApiError("run_finished", f"run {record.run_id!r} is {record.status}")
    return ok(state.views.run(record))


def run_routes() -> list[Route]:
    """Routes of this module."""
    return [
        Route("/workflows/{name}/runs", start_run, methods=["POST"]),
        Route("/runs", list_runs, methods=["GET"]),
        Route("/runs/{run_id}", get_run, methods=["GET"]),
        Route("/runs/{run_id}/events", run_events, methods=["GET"]),
        Route("/runs/{run_id}/events", send_event, methods=["POST"]),
        Route("/runs/{run_id}/history", run_history, methods=["GET"]),
        Route("/runs/{run_id}/cancel", cancel_run, methods=["POST"]),
    ]
