"""durable-workflows: event-driven async workflows with durable human-in-the-loop pauses.

::

    from workflows import Context, Workflow, step
    from workflows.events import StartEvent, StopEvent

    class Hello(Workflow):
        @step
        async def hello(self, ctx: Context, ev: StartEvent) -> StopEvent:
            return StopEvent(result=f"hello {ev.name}")
"""

from .context import Context
from .decorators import catch_error, step
from .workflow import Workflow

__all__ = ["Context", "Workflow", "catch_error", "step"]

__version__ = "0.1.0"
