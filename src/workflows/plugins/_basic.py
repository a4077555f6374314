"""The in-process runtime, as an object code can name."""

from __future__ import annotations

__all__ = ["BasicRuntime", "basic_runtime", "get_current_runtime"]


class BasicRuntime:
    """The default runtime: runs steps as asyncio tasks in the calling process."""

    def __repr__(self) -> str:
        return "BasicRuntime()"

    @property
    def is_launched(self) -> bool:
        """Always True: the in-process runtime needs no launch step."""
        return True


basic_runtime = BasicRuntime()
"""The process-wide default runtime."""


def get_current_runtime() -> BasicRuntime:
    """The runtime new workflows use (always :data:`basic_runtime` here)."""
    return basic_runtime
