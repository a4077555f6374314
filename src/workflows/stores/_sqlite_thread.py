"""The one thread that owns a SQLite connection, and the cheap hand-off to it.

``loop.run_in_executor`` costs a ``concurrent.futures.Future`` (a lock and a condition),
a chained asyncio future and one wake-up of the event loop per call. A store makes a few
calls per step boundary, so that cost showed up as a quarter of a busy server's CPU.
Here a call is one asyncio future and one ``SimpleQueue.put``; the thread runs the calls
back to back and wakes the loop once for every batch of finished calls, however many.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

__all__ = ["SqliteThread"]

_Call = tuple["asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


class SqliteThread:
    """A dedicated worker thread that runs calls in order and settles their futures.

    A call cancelled before the thread takes it up does not run; one the thread already
    runs completes (its outcome is dropped, like a lost reply). The thread is a daemon:
    a process that exits without closing its store does not hang on it (an interrupted
    SQLite transaction is rolled back by SQLite itself).

    Args:
        loop: The event loop whose futures the thread settles.
        name: The thread's name.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str) -> None:
        self._loop = loop
        self._calls: SimpleQueue[_Call | None] = SimpleQueue()
        self._done: deque[tuple[asyncio.Future[Any], bool, Any]] = deque()
        self._wake_pending = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def call(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Queue ``fn(*args)`` for the thread; the future settles with its outcome.

        The future belongs to the running loop (normally the loop the thread was made
        for; another loop's calls are settled one by one on that loop).
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls.put((future, fn, args))
        return future

    async def stop(self) -> None:
        """Let the queued calls finish, then end the thread (without blocking the loop)."""
        finished = self.call(lambda: None)
        self._calls.put(None)
        await asyncio.shield(finished)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)

    def _serve(self) -> None:
        while True:
            item = self._calls.get()
            if item is None:  # stop()
                return
            future, fn, args = item
            if future.cancelled():
                continue
            try:
                outcome: tuple[asyncio.Future[Any], bool, Any] = (future, True, fn(*args))
            except BaseException as exc:  # handed to the awaiting caller
                outcome = (future, False, exc)
            if future.get_loop() is not self._loop:
                with contextlib.suppress(RuntimeError):  # that loop closed: nobody waits
                    future.get_loop().call_soon_threadsafe(_settle_one, *outcome)
                continue
            self._done.append(outcome)
            # One wake-up per batch: the loop drains everything appended before it runs.
            if not self._wake_pending:
                self._wake_pending = True
                try:
                    self._loop.call_soon_threadsafe(self._settle)
                except RuntimeError:  # the loop is closed: nobody waits any more
                    return

    def _settle(self) -> None:
        # Clear the flag before draining: an outcome appended after this line schedules
        # another call; one appended before it is drained below.
        self._wake_pending = False
        done = self._done
        while done:
            _settle_one(*done.popleft())


def _settle_one(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # cancelled while the thread ran it
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
