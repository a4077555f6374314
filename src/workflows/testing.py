"""Helpers for testing workflows.

::

    result = await WorkflowTestRunner(MyWorkflow()).run(topic="x")
    assert result.result == "done"
    assert result.event_types[ProgressEvent] == 3
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .events import Event, StartEvent
from .workflow import Workflow

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


class WorkflowTestRunner:
    """Runs a workflow to the end and collects its stream for assertions."""

    def __init__(self, workflow: Workflow) -> None:
        self._workflow = workflow

    async def run(
        self,
        start_event: StartEvent | None = None,
        expose_internal: bool = False,
        exclude_events: Sequence[type[Event]] | None = None,
        **kwargs: Any,
    ) -> WorkflowTestResult:
        """Run the workflow, stream every event, await the result.

        Args:
            start_event: the start event (or give the StartEvent's fields as ``kwargs``).
            expose_internal: also collect the runtime's internal events.
            exclude_events: event types to leave out of ``collected``.

        Raises:
            Whatever ``await handler`` raises (the step's exception, a timeout...).
        """
        handler = self._workflow.run(start_event=start_event, **kwargs)
        excluded = tuple(exclude_events or ())
        collected: list[Event] = []
        async for event in handler.stream_events(expose_internal=expose_internal):
            if excluded and isinstance(event, excluded):
                continue
            collected.append(event)
        result = await handler
        counts = Counter(type(event) for event in collected)
        return WorkflowTestResult(collected=collected, event_types=dict(counts), result=result)
