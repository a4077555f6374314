"""Type aliases for what a run returns.

- ``StopEventT``: a type variable bound to :class:`~workflows.events.StopEvent`.
- ``RunResultT``: what ``await handler`` gives: the StopEvent subclass a workflow returns,
  or, for a plain ``StopEvent``, its ``result`` (any value).
"""

from __future__ import annotations

from typing import Any, TypeVar, Union

from .events import StopEvent

__all__ = ["RunResultT", "StopEventT"]

StopEventT = TypeVar("StopEventT", bound=StopEvent)
RunResultT = Union[StopEventT, Any]  # noqa: UP007 - a runtime alias, as in the reference
