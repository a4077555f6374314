"""``WorkflowTestRunner``: run a workflow to its end and collect what it streamed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..context import Context
from ..events import Event, StartEvent
from ..workflow import Workflow

__all__ = ["WorkflowTestResult", "WorkflowTestRunner"]


@dataclass
class WorkflowTestResult:
    """What a run wrote to its stream, and how it ended."""

    collected: list[Event] = field(default_factory=list)
    """Every streamed event, in order (the StopEvent last)."""
    event_types: dict[type[Event], int] = field(default_factory=dict)
    """How many events of each type were streamed."""
    result: Any = None
    """What ``await handler`` returned."""
    ctx: Context[Any] | None = None
    """The run's context (its state store, for assertions on state)."""


class WorkflowTestRunner:
    """Runs a workflow to the end and collects its stream for assertions."""

    def __init__(self, workflow: Workflow) -> None:
        self._workflow = workflow

    async def run(
        self,
        start_event: StartEvent | None = None,
        ctx: Context[Any] | None = None,
        expose_internal: bool = True,
        exclude_events: Sequence[type[Event]] | None = None,
        **kwargs: Any,
    ) -> WorkflowTestResult:
        """Run the workflow, stream every event, await the result.

        Args:
            start_event: the start event (or give the StartEvent's fields as ``kwargs``;
                with neither, a plain ``StartEvent()``).
            ctx: a context to run with (to continue its state, or resume a snapshot).
            expose_internal: also collect the runtime's internal events (step state
                changes...); on by default, as in LlamaIndex Workflows.
            exclude_events: event types to leave out of ``collected`` (exact types).

        Raises:
            Whatever ``await handler`` raises (the step's exception, a timeout...).
        """
        handler = self._workflow.run(ctx=ctx, start_event=start_event, **kwargs)
        excluded = tuple(exclude_events or ())
        collected: list[Event] = []
        async for event in handler.stream_events(expose_internal=expose_internal):
            if excluded and type(event) in excluded:
                continue
            collected.append(event)
        result = await handler
        counts = Counter(type(event) for event in collected)
        return WorkflowTestResult(
            collected=collected, event_types=dict(counts), result=result, ctx=handler.ctx
        )
