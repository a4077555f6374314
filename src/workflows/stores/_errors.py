"""The store errors defined in :mod:`workflows.errors`, importable from here as before.

Stores raise them; they sit in the one exception tree drawn in ``workflows.errors``.
"""

from __future__ import annotations

from workflows.errors import (
    CheckpointNotFoundError,
    InputRequestClosedError,
    RequestAssigneeChangedError,
    RunFinishedError,
)

__all__ = [
    "CheckpointNotFoundError",
    "InputRequestClosedError",
    "RequestAssigneeChangedError",
    "RunFinishedError",
]
