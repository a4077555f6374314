"""A small server-sent-events parser over an httpx response's lines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

__all__ = ["ServerSentEvent", "iter_sse"]


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched SSE message."""

    event: str
    data: str
    id: str | None


async def iter_sse(response: httpx.Response) -> AsyncIterator[ServerSentEvent]:
    """Yield the messages of an ``text/event-stream`` response (comments are skipped)."""
    event = ""
    data: list[str] = []
    last_id: str | None = None
    async for line in response.aiter_lines():
        line = line.rstrip("\r\n")
        if not line:
            if data:
                yield ServerSentEvent(event or "message", "\n".join(data), last_id)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            last_id = value
