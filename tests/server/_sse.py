"""A small SSE reader for the tests: messages and comments, as they arrive."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from _wait import TIMEOUT


@dataclass
class Message:
    """One SSE message, or a comment (``event == ":"``, text in ``data``)."""

    event: str
    data: str
    id: str | None = None

    def json(self) -> Any:
        return json.loads(self.data)


async def messages(response: httpx.Response) -> AsyncIterator[Message]:
    """Parse an ``text/event-stream`` response until it ends."""
    event, data, event_id = "message", [], None
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield Message(event, "\n".join(data), event_id)
            event, data, event_id = "message", [], None
        elif line.startswith(":"):
            yield Message(":", line[1:].strip())
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                event_id = value


async def take(stream: AsyncIterator[Message], count: int) -> list[Message]:
    """The next ``count`` messages (comments skipped), within the test timeout."""

    async def collect() -> list[Message]:
        found: list[Message] = []
        async for message in stream:
            if message.event != ":":
                found.append(message)
                if len(found) == count:
                    break
        return found

    return await asyncio.wait_for(collect(), TIMEOUT)


async def rest(stream: AsyncIterator[Message]) -> list[Message]:
    """Every message (comments skipped) until the stream ends, within the test timeout."""

    async def collect() -> list[Message]:
        return [m async for m in stream if m.event != ":"]

    return await asyncio.wait_for(collect(), TIMEOUT)
