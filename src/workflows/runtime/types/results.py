"""Results a step invocation can end with, as user code refers to them.

Only :class:`WaitingForEvent` is public: code written for LlamaIndex Workflows (for
example llama-index-core's agents) catches broad exceptions around a tool call and
re-raises this one so that a step waiting for input is not mistaken for a failure.

Here ``ctx.wait_for_event`` never raises it: a waiting step is suspended in place (its
code before the wait does not run again in the same process), and a run released from
memory is cancelled, which ``except Exception`` does not catch. The class exists so
that such code imports and keeps its meaning.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from ...events import Event

__all__ = ["WaitingForEvent"]

EventType = TypeVar("EventType", bound=Event)


class WaitingForEvent(Exception, Generic[EventType]):
    """A step is waiting for an event of ``event_type`` (matching ``requirements``)."""

    def __init__(
        self,
        event_type: type[EventType] | None = None,
        requirements: dict[str, Any] | None = None,
        waiter_id: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.event_type = event_type
        self.requirements = dict(requirements or {})
        self.waiter_id = waiter_id
        self.timeout = timeout
        name = event_type.__name__ if event_type is not None else "an event"
        super().__init__(f"waiting for {name}")
