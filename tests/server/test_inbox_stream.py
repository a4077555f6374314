"""The inbox stream's fan-out, over real loopback HTTP on SQLite.

Many subscribers cost one read of the inbox per change, not one each; every subscriber
gets every change; a subscriber that stops reading is resynced (its backlog replaced by
one ``resync`` message) instead of holding up the others or growing without bound.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from _live_server import LiveServer
from _served_flows import server_workflows
from _wait import TIMEOUT
from workflows import Context, Workflow, step
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent
from workflows.server import create_app
from workflows.stores import InputRequest, RequestStatus, SqliteStore

from ._sse import Message, messages, take


class Flood(Workflow):
    """Asks ``count`` questions of ``size`` characters at once (one commit, one change)."""

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        text = "?" * ev.get("size", 10)
        for n in range(1, ev.count):
            ctx.send_event(InputRequiredEvent(prefix=f"question {n}", text=text))
        return InputRequiredEvent(prefix="question 0", text=text)

    @step
    async def take(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=ev.response)


class SqliteCountingStore(SqliteStore):
    """A real SQLite store that counts how often the pending inbox is listed."""

    listings = 0

    async def list_requests(
        self,
        *,
        workflow: str | None = None,
        run_id: str | None = None,
        status: RequestStatus | None = "pending",
        limit: int = 100,
        offset: int = 0,
    ) -> list[InputRequest]:
        type(self).listings += 1
        return await super().list_requests(
            workflow=workflow, run_id=run_id, status=status, limit=limit, offset=offset
        )


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[LiveServer, type[SqliteCountingStore]]]:
    store_class = type("SqliteCountingStoreOfTest", (SqliteCountingStore,), {"listings": 0})
    store = store_class(tmp_path / "inbox.db")
    app = create_app(store, {**server_workflows(), "flood": Flood(timeout=None)}, heartbeat=30)
    server = LiveServer(app).start()
    yield server, store_class
    server.stop()


async def _subscribe(client: httpx.AsyncClient, stack: Any) -> AsyncIterator[Message]:
    response = await stack.enter_async_context(client.stream("GET", "/requests/stream"))
    assert response.status_code == 200
    stream = messages(response)
    first = await asyncio.wait_for(stream.__anext__(), TIMEOUT)
    assert (first.event, first.data) == (":", "connected")
    return stream


async def test_many_subscribers_one_read_per_change(
    live: tuple[LiveServer, type[SqliteCountingStore]],
) -> None:
    server, store_class = live
    from contextlib import AsyncExitStack

    limits = httpx.Limits(max_connections=100)
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client,
        AsyncExitStack() as stack,
    ):
        streams = [await _subscribe(client, stack) for _ in range(40)]
        before = store_class.listings
        run = (await client.post("/workflows/approval/runs", json={"input": {"amount": 1}})).json()
        created = await asyncio.gather(*(take(s, 1) for s in streams))
        for [message] in created:
            assert message.event == "request_created"
            assert message.json()["run_id"] == run["run_id"]
        request_id = created[0][0].json()["request_id"]
        answer = await client.post(f"/requests/{request_id}/response", json={"response": "y"})
        assert answer.status_code == 200
        closed = await asyncio.gather(*(take(s, 1) for s in streams))
        for [message] in closed:
            assert message.event == "request_closed"
            assert message.json()["request_id"] == request_id
            assert message.json()["status"] == "answered"
        # Two changes seen by 40 subscribers: a few listings in all (one per inbox
        # signal), where a re-read per subscriber would be 80 or more.
        assert store_class.listings - before <= 8, store_class.listings - before


def _stalled_subscriber(port: int) -> socket.socket:
    """A connection to the inbox stream that reads nothing after the headers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET /requests/stream HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.settimeout(TIMEOUT)
    head = b""
    while b": connected" not in head:
        head += sock.recv(1024)
    return sock


def _read_all(sock: socket.socket, until: bytes) -> bytes:
    data = b""
    deadline = time.monotonic() + TIMEOUT
    while until not in data:
        assert time.monotonic() < deadline, data[-500:]
        data += sock.recv(65536)
    return data


async def test_a_stalled_subscriber_is_resynced_and_holds_up_nobody(
    live: tuple[LiveServer, type[SqliteCountingStore]],
) -> None:
    server, _ = live
    # 10 changes of 200 requests of 4 KB: 8 MB of messages, more than the socket buffers
    # (up to 4 MB here) and the queue of a subscriber that reads nothing can hold.
    burst, bursts = 200, 10
    stalled = await asyncio.to_thread(_stalled_subscriber, server.port)
    try:
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=60) as client,
            client.stream("GET", "/requests/stream") as response,
        ):
            stream = messages(response)
            await asyncio.wait_for(stream.__anext__(), TIMEOUT)  # ": connected"
            seen: set[str] = set()
            for _ in range(bursts):
                started = await client.post(
                    "/workflows/flood/runs", json={"input": {"count": burst, "size": 4000}}
                )
                assert started.status_code == 201
                changes = await take(stream, burst)
                assert {m.event for m in changes} == {"request_created"}
                seen.update(m.json()["request_id"] for m in changes)
                health = await client.get("/health")
                assert health.status_code == 200
            assert len(seen) == burst * bursts
        # The stalled one now reads: part of the changes, then one resync in place of
        # what it could not take, and nothing lost silently.
        data = await asyncio.to_thread(_read_all, stalled, b"event: resync")
        received = data.count(b"event: request_created")
        assert 0 < received < burst * bursts, received
    finally:
        stalled.close()
