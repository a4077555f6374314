"""Collection streams in a run: opening one, gathering its members, releasing batches.

The static half (which collector gathers which fan-out) and the stream record are in
:mod:`workflows._collection`; this module is what the run does with them. A stream counts
its live work items exactly (docs/architecture.md, "Collection streams"): a returned list
opens a stream holding one item until all its members are routed; an invocation that
ends settles ``deliveries - 1`` in its innermost stream; when the count reaches zero the
stream closes and every binding not yet released sends its batch to its collector.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ._collection import Binding, CollectionStream
from ._run_state import Invocation, QueuedEvent
from .errors import WorkflowRuntimeError
from .events import CollectionReleaseEvent, Event

if TYPE_CHECKING:
    from ._runtime import Run
    from ._step_spec import StepSpec

logger = logging.getLogger("workflows")


def fan_out(run: Run, spec: StepSpec, items: list[Event], inv: Invocation) -> None:
    """Open a stream for the list ``inv`` returned and emit each member into it."""
    bindings = run.graph.bindings.get(spec.name, ())
    stream = CollectionStream(f"stream-{inv.id}", spec.name, inv.scope, bindings)
    run.state.open_stream(stream)
    inner = (*inv.scope, stream.id)
    for item in items:
        stream.open += run.emit(item, None, inv.lineage, scope=inner)
        if run.done:
            return
    # The invocation's own work item becomes the releases its stream owes above.
    if inv.scope:
        settle(run, inv.scope[-1], len(bindings) - 1)
    settle(run, stream.id, -1)


def gather(run: Run, event: Event, collectors: tuple[str, ...], scope: tuple[str, ...]) -> None:
    """Give a member to the collectors of its innermost stream."""
    streams = run.state.streams
    stream = streams.get(scope[-1]) if scope and streams else None
    for name in collectors:
        binding = stream.binding_to(name) if stream is not None else None
        if stream is None or binding is None:
            logger.warning(
                "workflow %r run %s: %s reaches step %r, which takes a list[...], but "
                "it was produced %s; it is not gathered",
                run.workflow.workflow_name,
                run.state.run_id,
                type(event).__name__,
                name,
                "outside any fan-out stream (for example with ctx.send_event)"
                if stream is None
                else f"in a stream of step {stream.source!r}, which {name!r} does not gather",
            )
            continue
        batch = stream.add_member(binding, event)
        if batch is not None:
            _release(run, stream, binding, batch)


def _release(run: Run, stream: CollectionStream, binding: Binding, batch: list[Event]) -> None:
    release = CollectionReleaseEvent(events=batch, stream_id=stream.id, binding_id=binding.id)
    run.enqueue(binding.target, QueuedEvent(release, 0, stream.scope))


def settle(run: Run, stream_id: str, delta: int) -> None:
    """Count ``delta`` work items in a stream; deliver its releases if it closed."""
    if run.done:
        return
    closed = run.state.settle(stream_id, delta)
    if closed is not None:
        for binding, batch in closed.close():
            _release(run, closed, binding, batch)


def check_streams(run: Run) -> None:
    """Fail a run whose streams can never close: nothing queued or running is left."""
    state = run.state
    streams = state.streams
    if not streams or state.queued_count or state.in_flight or run.done:
        return
    details = "; ".join(
        f"stream {s.id!r} of step {s.source!r} with {s.open} open work item(s)"
        for s in streams.values()
    )
    error = WorkflowRuntimeError(
        "the run has no work left but collection streams are still open, so it can "
        f"never finish: {details} (a snapshot from another version of the workflow?)"
    )
    first = next(iter(streams.values()))
    run.fail(first.source, error, attempts=0, elapsed=0.0)
