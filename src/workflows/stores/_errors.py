"""Store errors that ``workflows.errors`` does not (yet) define.

Both derive from :class:`~workflows.errors.StoreError`, so code that catches store
failures catches them too.
"""

from __future__ import annotations

from workflows.errors import StoreError

__all__ = ["InputRequestClosedError", "RunFinishedError"]


class RunFinishedError(StoreError):
    """The run has finished, so it takes no more events, answers or commits."""

    def __init__(self, run_id: str, status: str) -> None:
        self.run_id = run_id
        self.status = status
        super().__init__(f"run {run_id!r} is {status}; it accepts no more events")


class InputRequestClosedError(StoreError):
    """The input request was expired or cancelled, so it can no longer be answered."""

    def __init__(self, request_id: str, status: str) -> None:
        self.request_id = request_id
        self.status = status
        super().__init__(f"input request {request_id!r} is {status}; it can no longer be answered")
