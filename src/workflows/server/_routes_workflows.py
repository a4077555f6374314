"""``/health`` and ``/workflows``: what the server offers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import WorkflowError
from ._errors import ApiError
from ._models import HealthOut, WorkflowList
from ._state import state_of
from ._views import ok

__all__ = ["workflow_routes"]


async def health(request: Request) -> Response:
    """Whether the server, its engine and its store answer (503 if not)."""
    state = state_of(request)
    engine_health = state.engine.health()
    if engine_health.status == "failed":
        failure = state.engine.failure
        why = f": {failure}" if failure is not None else ""
        raise ApiError("not_ready", f"engine {engine_health.engine}{why}")
    try:
        await state.engine.runs(limit=1)
    except WorkflowError as exc:
        raise ApiError("store_unavailable", f"store unavailable: {exc}") from None
    return ok(
        HealthOut(
            status=engine_health.status,
            store=state.store_scheme,
            engine=engine_health.to_dict(),
        )
    )


async def list_workflows(request: Request) -> Response:
    """Every registered workflow with its schemas."""
    state = state_of(request)
    items = [state.views.workflow(name, wf) for name, wf in sorted(state.engine.workflows.items())]
    return ok(WorkflowList(workflows=items))


async def get_workflow(request: Request) -> Response:
    """One registered workflow."""
    state = state_of(request)
    name = request.path_params["name"]
    wf = state.engine.workflows.get(name)
    if wf is None:
        raise ApiError("unknown_workflow", f"no workflow named {name[:200]!r}")
    return ok(state.views.workflow(name, wf))


def workflow_routes() -> list[Route]:
    """Routes of this module."""
    return [
        Route("/health", health, methods=["GET"]),
        Route("/workflows", list_workflows, methods=["GET"]),
        Route("/workflows/{name}", get_workflow, methods=["GET"]),
    ]
