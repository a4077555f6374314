"""``/runs/{run_id}/checkpoints``, ``/state`` and ``/fork``: a run's checkpoint history,
one checkpoint read back, a change of a waiting run's state, and a fork.

Reading is open to every caller who may read runs. A change of state decides what the
person asked will see and what the run does with their answer, so only a caller who may
answer every pending request of the run (or an admin) may make it; it is recorded with
the caller's name and reason. A fork only reads the original and starts a new run, as
``POST /workflows/{name}/runs`` does, and names the caller as who forked it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..engine import Checkpoint, CheckpointView, OpenWait, PendingEvent
from ..errors import WorkflowValidationError
from ..stores import ForkLink, RunRecord
from ._access import check_may_answer_run
from ._errors import ApiError
from ._identity import identity_of
from ._models import (
    CheckpointList,
    CheckpointOut,
    CheckpointViewOut,
    ForkIn,
    ForkLinkOut,
    OpenWaitOut,
    PendingEventOut,
    StateEditIn,
)
from ._parse import acting_user, model_body, path_id
from ._sse import stored_run
from ._state import ServerState, state_of
from ._views import Views, ok, plain

__all__ = ["checkpoint_routes"]

_MAX_SEQ_DIGITS = 19


def checkpoint_seq(run_id: str, given: str | int) -> int:
    """The seq a checkpoint id (``<run id>:c<seq>``) or a seq of ``run_id`` names.

    Raises:
        ApiError: 404 ``checkpoint_not_found`` for anything else (an id of another run,
            text that is no checkpoint id).
    """
    if isinstance(given, int) and not isinstance(given, bool):
        if given >= 0:
            return given
    elif isinstance(given, str):
        prefix = f"{run_id}:c"
        digits = given[len(prefix) :] if given.startswith(prefix) else given
        if digits.isascii() and digits.isdigit() and len(digits) <= _MAX_SEQ_DIGITS:
            return int(digits)
    raise ApiError(
        "checkpoint_not_found",
        f"run {run_id!r} has no checkpoint {str(given)[:200]!r}: give its id "
        f"({run_id}:c<seq>) or its seq",
    )


def checkpoint_out(checkpoint: Checkpoint) -> CheckpointOut:
    """A history entry as :class:`CheckpointOut`."""
    return CheckpointOut(
        checkpoint_id=checkpoint.checkpoint_id,
        run_id=checkpoint.run_id,
        seq=checkpoint.seq,
        at=checkpoint.at,
        status=checkpoint.status,
        causes=list(checkpoint.causes),
        step=checkpoint.step,
        event=checkpoint.event,
        by=checkpoint.by,
        reason=checkpoint.reason,
        forked_from=checkpoint.forked_from,
    )


def _link_out(link: ForkLink) -> ForkLinkOut:
    return ForkLinkOut(
        run_id=link.run_id,
        parent_run_id=link.parent_run_id,
        parent_seq=link.parent_seq,
        parent_checkpoint_id=f"{link.parent_run_id}:c{link.parent_seq}",
        created_at=link.created_at,
    )


def _pending_out(views: Views, pending: PendingEvent) -> PendingEventOut:
    event = None if pending.event is None else views.event(pending.event)
    return PendingEventOut(step=pending.step, event=event)


def _wait_out(views: Views, wait: OpenWait) -> OpenWaitOut:
    return OpenWaitOut(
        key=wait.key,
        step=wait.step,
        waits_for=wait.waits_for,
        prompt=None if wait.prompt is None else views.event(wait.prompt),
        requirements=plain(wait.requirements),
        deadline=wait.deadline,
        request_id=wait.request_id,
    )


def view_out(views: Views, view: CheckpointView) -> CheckpointViewOut:
    """A checkpoint read back as :class:`CheckpointViewOut` (its state as plain JSON)."""
    return CheckpointViewOut(
        checkpoint=checkpoint_out(view.checkpoint),
        state=plain(view.state),
        pending_events=[_pending_out(views, p) for p in view.pending_events],
        in_flight=[_pending_out(views, p) for p in view.in_flight],
        open_waits=[_wait_out(views, w) for w in view.open_waits],
    )


async def _registered_run(state: ServerState, request: Request) -> RunRecord:
    """The run of the path, whose workflow this server must have (to read or write its
    state); 404 / 409 ``workflow_not_registered`` otherwise."""
    record = await stored_run(state, path_id(request, "run_id", "run"))
    if record.workflow not in state.engine.workflows:
        raise ApiError(
            "workflow_not_registered",
            f"workflow {record.workflow!r} is not registered on this server",
        )
    return record


async def list_checkpoints(request: Request) -> Response:
    """The run's kept checkpoints, oldest first, with its fork links."""
    state = state_of(request)
    run_id = path_id(request, "run_id", "run")
    kept = await state.engine.checkpoints(run_id)  # RunNotFoundError -> 404
    lineage = await state.engine.lineage(run_id)
    own = lineage.forked_from
    return ok(
        CheckpointList(
            checkpoints=[checkpoint_out(c) for c in kept],
            forked_from=None if own is None else _link_out(own),
            forks=[_link_out(link) for link in lineage.forks],
        )
    )


async def get_checkpoint(request: Request) -> Response:
    """One checkpoint read back: its state, the events waiting for steps, the waits."""
    state = state_of(request)
    record = await _registered_run(state, request)
    seq = checkpoint_seq(record.run_id, request.path_params["checkpoint"])
    view = await state.engine.checkpoint(record.run_id, seq)
    return ok(view_out(state.views, view))


async def update_state(request: Request) -> Response:
    """Change the state of a run that waits for input (a merge patch or the whole
    state); the change is a checkpoint recorded with the caller and their reason."""
    state = state_of(request)
    acting_user(request)  # the X-Workflows-User header, if given, must be well-formed
    identity = identity_of(request)
    body = await model_body(request, StateEditIn)
    record = await _registered_run(state, request)
    await check_may_answer_run(state, identity, record.run_id, "change its state")
    if (body.patch is None) == (body.replace is None):
        raise ApiError("validation_failed", "give exactly one of 'patch' and 'replace'")
    engine, run_id, who, why = state.engine, record.run_id, identity.user, body.reason
    try:
        if body.patch is not None:
            edit = await engine.update_state(run_id, patch=body.patch, by=who, reason=why)
        else:
            edit = await engine.update_state(run_id, replace=body.replace, by=who, reason=why)
    except WorkflowValidationError as exc:  # the new state does not fit its type
        raise ApiError("validation_failed", str(exc)) from None
    return ok(checkpoint_out(edit))


async def fork_run(request: Request) -> Response:
    """Start a new run from a checkpoint of the run (its state patched if asked)."""
    state = state_of(request)
    acting_user(request)
    identity = identity_of(request)
    body = await model_body(request, ForkIn)
    record = await _registered_run(state, request)
    seq = checkpoint_seq(record.run_id, body.checkpoint)
    try:
        fork_id = await state.engine.fork(
            record.run_id, seq, body.state_patch, by=identity.user, reason=body.reason
        )
    except WorkflowValidationError as exc:  # the patched state does not fit its type
        raise ApiError("validation_failed", str(exc)) from None
    return ok(state.views.run(await stored_run(state, fork_id)), 201)


def checkpoint_routes() -> list[Route]:
    """Routes of this module."""
    return [
        Route("/runs/{run_id}/checkpoints", list_checkpoints, methods=["GET"]),
        Route("/runs/{run_id}/checkpoints/{checkpoint}", get_checkpoint, methods=["GET"]),
        Route("/runs/{run_id}/state", update_state, methods=["POST"]),
        Route("/runs/{run_id}/fork", fork_run, methods=["POST"]),
    ]
