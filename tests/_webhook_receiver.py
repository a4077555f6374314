"""A webhook receiver on 127.0.0.1 for the tests: a small HTTP/1.1 server on asyncio
streams that checks every message's signature and answers as the test tells it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workflows.webhooks import verify_signature

__all__ = ["Message", "Receiver"]


@dataclass(frozen=True)
class Message:
    """One POST the receiver got (every attempt, whatever it answered)."""

    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    verified: bool
    status: int  # what the receiver answered
    received_at: float  # the loop's clock

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


class Receiver:
    """Receives webhook messages; ``answer(message_count_so_far, path)`` picks the
    status (default: 200). A message with a bad signature gets 400."""

    def __init__(self, secret: str, answer: Callable[[int, str], int] | None = None) -> None:
        self.secret = secret
        self.answer = answer or (lambda n, path: 200)
        self.messages: list[Message] = []
        self._server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def accepted(self, path: str | None = None) -> list[Message]:
        """The messages answered with 2xx (at ``path``, if given), in arrival order."""
        return [
            m for m in self.messages if 200 <= m.status < 300 and (path is None or m.path == path)
        ]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        try:
            while line := await reader.readline():
                _method, path, _version = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (header := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                verified = verify_signature(self.secret, headers.get("workflows-signature"), body)
                status = self.answer(len(self.messages), path) if verified else 400
                self.messages.append(Message(path, headers, body, verified, status, loop.time()))
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the sender went away (a server stopping mid-attempt)
        finally:
            writer.close()
