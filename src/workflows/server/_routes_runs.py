"""``/workflows/{name}/runs`` and ``/runs``: start, inspect, send to and cancel runs."""

from __future__ import annotations

import asyncio

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import WorkflowConfigurationError
from ..stores import RUN_STATUSES, RunRecord
from ._errors import ApiError
from ._models import AcceptedOut, RunList, SendEventIn, StartRunIn
from ._parse import model_body, query_bool, query_choice, query_float, query_int, query_str
from ._sse import run_events
from ._state import ServerState, state_of
from ._views import ok

__all__ = ["run_routes"]


async def _record(state: ServerState, run_id: str) -> RunRecord:
    return await state.engine.store.get_run(run_id)  # RunNotFoundError -> 404


async def start_run(request: Request) -> Response:
    """Start a run; with ``wait=true``, answer once it finished or ``timeout`` passed."""
    state = state_of(request)
    name = request.path_params["name"]
    wait = query_bool(request, "wait")
    timeout = query_float(request, "timeout", 30.0, 0.0, state.max_wait)
    wf = state.engine.workflows.get(name)
    if wf is None:
        raise ApiError(404, f"no workflow named {name[:200]!r}")
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
    records = await state.engine.store.list_runs(
        status=status,  # type: ignore[arg-type]
        workflow=workflow,
        limit=limit,
        offset=offset,
    )
    return ok(RunList(runs=[state.views.run(r) for r in records]))


async def get_run(request: Request) -> Response:
    """One run."""
    state = state_of(request)
    return ok(state.views.run(await _record(state, request.path_params["run_id"])))


def _check_open_run(record: RunRecord) -> None:
    if record.is_finished:
        raise ApiError(409, f"run {record.run_id!r} is {record.status}")


async def send_event(request: Request) -> Response:
    """Store an event for a run and deliver it."""
    state = state_of(request)
    engine = state.engine
    record = await _record(state, request.path_params["run_id"])
    body = await model_body(request, SendEventIn)
    _check_open_run(record)
    wf = engine.workflows.get(record.workflow)
    if wf is None:
        raise ApiError(409, f"workflow {record.workflow!r} is not registered on this server")
    try:
        event_type = engine.event_type(record.workflow, body.type)
    except WorkflowConfigurationError as exc:  # an unknown type name
        raise ApiError(422, str(exc)) from None
    if body.step is not None and body.step not in wf.steps:
        raise ApiError(422, f"workflow {record.workflow!r} has no step {body.step[:200]!r}")
    try:
        event = event_type.model_validate(body.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "data"
        raise ApiError(422, f"invalid {event_type.__name__}: {where}: {first['msg']}") from None
    await engine.send_event(record.run_id, event, body.step)
    return ok(AcceptedOut(accepted=True), 202)


async def cancel_run(request: Request) -> Response:
    """Cancel a run that has not finished."""
    state = state_of(request)
    record = await _record(state, request.path_params["run_id"])
    _check_open_run(record)
    await state.engine.get(record.run_id).cancel_run()
    record = await _record(state, record.run_id)
    if record.status != "cancelled":
        raise ApiError(409, f"run {record.run_id!r} is {record.status}")
    return ok(state.views.run(record))


def run_routes() -> list[Route]:
    """Routes of this module."""
    return [
        Route("/workflows/{name}/runs", start_run, methods=["POST"]),
        Route("/runs", list_runs, methods=["GET"]),
        Route("/runs/{run_id}", get_run, methods=["GET"]),
        Route("/runs/{run_id}/events", run_events, methods=["GET"]),
        Route("/runs/{run_id}/events", send_event, methods=["POST"]),
        Route("/runs/{run_id}/cancel", cancel_run, methods=["POST"]),
    ]
