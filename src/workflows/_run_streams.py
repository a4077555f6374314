"""Collection streams in a run: opening one, settling its work items, failing stuck ones.

The static half (which collector gathers which fan-out) and the stream record are in
:mod:`workflows._collection`; gathering members and releasing batches are decisions
(:mod:`workflows._run_decisions`); this module is what the run does with them. A stream counts
its live work items exactly (docs/architecture.md, "Collection streams"): a returned list
opens a stream holding one item until all its members are routed; an invocation that
ends settles ``deliveries - 1`` in its innermost stream; when the count reaches zero the
stream closes and every binding not yet released sends its batch to its collector.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _run_decisions
from ._collection import CollectionStream
from ._run_state import Invocation
from .events import Event

if TYPE_CHECKING:
    from ._runtime import Run
    from ._step_spec import StepSpec


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


def settle(run: Run, stream_id: str, delta: int) -> None:
    """Count ``delta`` work items in a stream; deliver its releases if it closed."""
    if run.done:
        return
    for release in _run_decisions.settle(run.state, stream_id, delta):
        run.ensure_worker(release.step)


def check_streams(run: Run) -> None:
    """Fail a run whose streams can never close: nothing queued or running is left."""
    if run.done:
        return
    failure = _run_decisions.stuck_streams(run.state)
    if failure is not None:
        run.fail(failure.step, failure.error, failure.attempts, failure.elapsed)
