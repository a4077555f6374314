"""What a host of runs, such as the durable engine, needs from the core.

For the layers of this package, not for users; may change between minor versions.

A host launches a workflow's run with a :class:`RunListener` (told of every step
boundary), reads the run's state and the change log of its state store at each
boundary, and writes and restores snapshots. Everything here is per run or per
boundary, never per event: the event hand-off between steps does not pass through
this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeGuard

from .._graph import WorkflowGraph
from .._runtime import Run, RunListener
from .._snapshot import registry_for, snapshot_from_dict, snapshot_to_dict
from ..context.serializers import BaseSerializer, JsonSerializer
from ..context.state_store import StateChangeLog

if TYPE_CHECKING:
    from ..context.context import Context
    from ..events import StartEvent
    from ..handler import WorkflowHandler
    from ..workflow import Workflow

__all__ = [
    "Run",
    "RunListener",
    "WorkflowGraph",
    "context_run",
    "encodes_entries_as_json",
    "graph_of",
    "launch",
    "make_start_event",
    "registry_for",
    "run_of",
    "set_serializer",
    "snapshot_from_dict",
    "snapshot_to_dict",
    "state_changes",
    "state_value",
]


def graph_of(workflow: Workflow) -> WorkflowGraph:
    """The workflow's step graph (routes, event types, start event class), built once
    per workflow class."""
    return workflow._graph()


def make_start_event(
    workflow: Workflow, start_event: StartEvent | None, kwargs: dict[str, Any]
) -> StartEvent:
    """The start event a run of ``workflow`` gets from ``run(start_event=..., **kwargs)``.

    Raises:
        WorkflowValidationError: ``kwargs`` do not fit the workflow's StartEvent.
        WorkflowRuntimeError: both a start event and keyword arguments were given.
    """
    return workflow._make_start_event(start_event, kwargs)


def launch(
    workflow: Workflow,
    ctx: Context[Any],
    start_event: StartEvent | None,
    listener: RunListener,
    *,
    run_id: str | None = None,
) -> WorkflowHandler:
    """Start (or, for a context restored from an unfinished run, resume) a run of
    ``workflow`` on ``ctx`` with ``listener`` told of each step boundary.

    As ``workflow.run(ctx=ctx, start_event=start_event)``; ``run_id`` names a new run.
    """
    return workflow._launch(ctx, start_event, {}, listener, run_id)


def run_of(handler: WorkflowHandler) -> Run:
    """The in-memory run behind a handler returned by :func:`launch`."""
    run = handler._run
    assert run is not None, "a launched handler has its run"
    return run


def context_run(ctx: Context[Any]) -> Run | None:
    """The run executing on ``ctx``, if any (also while a launch fails half-way)."""
    return ctx._run


def state_value(ctx: Context[Any]) -> Any:
    """The context's state object itself (a ``DictState`` or the state model), not a
    copy: read it synchronously, between two awaits."""
    return ctx._store._snapshot_state()


def state_changes(ctx: Context[Any]) -> StateChangeLog:
    """The log of the top-level state keys changed since the host last took it
    (:meth:`StateChangeLog.taken` clears it)."""
    return ctx._store._changes


def encodes_entries_as_json(serializer: BaseSerializer) -> TypeGuard[JsonSerializer]:
    """Whether ``serializer`` encodes a state as :class:`JsonSerializer` does, entry by
    entry (a subclass that changes the encoding, such as the pickle one, does not)."""
    kind = type(serializer)
    return (
        isinstance(serializer, JsonSerializer)
        and kind.encode is JsonSerializer.encode
        and getattr(kind, "_encode", None) is JsonSerializer._encode
    )


def set_serializer(workflow: Workflow, serializer: BaseSerializer) -> None:
    """Give ``workflow`` the serializer its runs' snapshots use, as
    ``Workflow(serializer=...)`` would have (for workflows built by other libraries).
    Call it before the workflow runs or is registered with an engine."""
    workflow._serializer = serializer
