"""The durable engine: runs committed to a store at every step boundary.

See :class:`Engine` and ``docs/durability.md``.
"""

from ._checkpoint_views import Checkpoint, CheckpointView, OpenWait, PendingEvent
from ._engine import Engine
from ._handle import RunHandle
from ._history import Retention
from ._replay import ReplayResult

__all__ = [
    "Checkpoint",
    "CheckpointView",
    "Engine",
    "OpenWait",
    "PendingEvent",
    "ReplayResult",
    "Retention",
    "RunHandle",
]
