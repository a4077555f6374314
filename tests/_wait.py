"""The one bounded wait of the test suite: poll a condition until it holds.

Tests synchronise on events where the code offers them; where it does not (another
process, a store written from outside, a lease that must expire) they poll with
:func:`until`, which fails with what it waited for instead of hanging.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["TIMEOUT", "until"]

TIMEOUT = 30.0
"""Seconds a test waits for anything: generous, for a slow shared machine."""

_T = TypeVar("_T")


async def until(
    check: Callable[[], Awaitable[_T] | _T],
    what: str,
    seconds: float = TIMEOUT,
    interval: float = 0.02,
) -> _T:
    """Call ``check()`` (sync or async) until it returns something truthy; return that.

    Raises:
        AssertionError: ``seconds`` passed first; the message names ``what``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        value: Any = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[no-any-return]
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")
        await asyncio.sleep(interval)
