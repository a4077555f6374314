"""The event stream a run writes for its caller: a buffer with one reader and an end."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

from .errors import WorkflowRuntimeError
from .events import Event, InternalDispatchEvent


class EventStream:
    """Events in write order; one reader at a time; ends after the run's StopEvent.

    The buffer holds what the reader has not taken yet and nothing else, so a caller that
    keeps up retains nothing per event.
    """

    __slots__ = ("_buffer", "_closed", "_consumed", "_loop", "_reader", "_waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._buffer: deque[Event] | None = None  # allocated on the first event
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._reader = False
        self._consumed = False

    def put(self, event: Event) -> None:
        """Append an event and wake the reader."""
        if self._buffer is None:
            self._buffer = deque()
        self._buffer.append(event)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def close(self) -> None:
        """Mark the end: the reader stops once the buffer is drained."""
        self._closed = True
        self.put_nothing()

    def put_nothing(self) -> None:
        """Wake the reader without an event (used by close)."""
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def events(self, expose_internal: bool = False) -> AsyncIterator[Event]:
        """Yield events until the end of the stream.

        Raises:
            WorkflowRuntimeError: the stream was already fully consumed, or another reader
                is reading it.
        """
        if self._consumed:
            raise WorkflowRuntimeError("the event stream was already consumed")
        if self._reader:
            raise WorkflowRuntimeError("the event stream is already being read")
        self._reader = True
        try:
            while True:
                buffer = self._buffer
                while buffer:
                    event = buffer.popleft()
                    if not expose_internal and isinstance(event, InternalDispatchEvent):
                        continue
                    yield event
                if self._closed:
                    self._consumed = True
                    return
                waiter = self._loop.create_future()
                self._waiter = waiter
                await waiter
        finally:
            self._reader = False
