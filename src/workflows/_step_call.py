"""Calling one step: its arguments and the check of what it returned.

:func:`call_step` builds the keyword arguments of a step call (the event, or the batch of
a ``list[E]`` collector or of a join, the context, the resources) and runs it: an
``async def`` step on the loop, a plain ``def`` in the loop's default thread pool.
"""

from __future__ import annotations

import contextvars
import functools
from typing import TYPE_CHECKING, Any

from ._run_state import Invocation
from ._step_spec import StepSpec
from .errors import WorkflowRuntimeError
from .events import Event

if TYPE_CHECKING:
    from ._runtime import Run


async def call_step(run: Run, spec: StepSpec, inv: Invocation) -> Any:
    """Call ``spec``'s step for ``inv`` and return what it returned."""
    kwargs: dict[str, Any] = {spec.event_param: inv.event}
    if spec.collect is not None:
        kwargs[spec.event_param] = list(getattr(inv.event, "events", ()))
    elif spec.join is not None:
        kwargs.update(_join_kwargs(spec, inv))
    if spec.context_param is not None:
        kwargs[spec.context_param] = run.ctx
    if spec.resources:
        manager = run.workflow._resource_manager
        # One scope per call: an uncached factory named twice builds one object.
        with manager.resolution_scope():
            for name, resource in spec.resources.items():
                kwargs[name] = await manager.get(resource)
    func = run.callables[spec.name]
    if spec.is_async:
        return await func(**kwargs)
    call = functools.partial(contextvars.copy_context().run, func, **kwargs)
    return await run.loop.run_in_executor(None, call)


def _join_kwargs(spec: StepSpec, inv: Invocation) -> dict[str, Event]:
    """The arguments a join step is called with: its batch, one event per slot."""
    slots = spec.join or ()
    bound = inv.bound
    if bound is None or len(bound) != len(slots):
        raise WorkflowRuntimeError(
            f"step {spec.name!r} joins {len(slots)} events but its call holds "
            f"{0 if bound is None else len(bound)} (a snapshot of another version?)"
        )
    return {name: event for (name, _), event in zip(slots, bound, strict=True)}


def check_result(spec: StepSpec, result: Any) -> None:
    """Raise (as the step's own failure) if ``result`` is not what a step may return."""
    if result is None:
        return
    if isinstance(result, list) and spec.fan_out:
        for item in result:
            if not isinstance(item, Event):
                raise WorkflowRuntimeError(
                    f"step {spec.name!r} returned a list holding a {type(item).__name__}; "
                    "a fan-out step must return a list of Events"
                )
        return
    if not isinstance(result, Event):
        raise WorkflowRuntimeError(
            f"step {spec.name!r} returned {type(result).__name__}; a step must return "
            "an Event or None" + (", or a list of Events" if spec.fan_out else "")
        )
    if spec.fan_out and not isinstance(result, spec.bare_emits):
        raise WorkflowRuntimeError(
            f"step {spec.name!r} returned a bare {type(result).__name__}, which its return "
            "annotation names only inside list[...]: return a one-element list to fan "
            "out, or add the type to the annotation (-> list[A] | B) to send it alone"
        )
