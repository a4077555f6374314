"""The event stream survives a dropped connection: it resumes by sequence number."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import Any

import httpx

from _served_flows import Progress, client_workflows
from workflows.client import WorkflowClient
from workflows.events import Event, InputRequiredEvent, StopEvent


class CountingTransport(httpx.AsyncBaseTransport):
    """The network, recording the ``Last-Event-ID`` of every event-stream request."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.resumed_from: list[str | None] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/events"):
            self.resumed_from.append(request.headers.get("last-event-id"))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_stream_resumes_across_a_server_restart(start_server: Any, sqlite_url: str) -> None:
    first = start_server(sqlite_url)
    transport = CountingTransport()
    seen: list[tuple[int, Event]] = []
    flows = client_workflows()
    async with WorkflowClient(first.url, workflows=flows, transport=transport) as client:
        handle = await client.start("chatty", count=3)
        async with aclosing(handle.stream_events()) as stream:
            async for event in stream:
                seen.append((handle.last_seq, event))
                if isinstance(event, InputRequiredEvent):
                    break_at = handle.last_seq
                    break
        # Follow the rest with a new stream, in a task that sits on the open connection
        # while the server goes away under it.
        (request,) = await client.inbox(run_id=handle.run_id)
        started = asyncio.Event()

        async def rest() -> None:
            stream = handle.stream_events(after=break_at)
            started.set()
            async for event in stream:
                seen.append((handle.last_seq, event))

        consumer = asyncio.create_task(rest())
        await started.wait()
        await asyncio.to_thread(first.stop)  # cuts the stream (or refuses its connection)
        second = start_server(sqlite_url, port=first.port)  # same port, same store
        assert await client.respond(request.request_id, "go")
        await asyncio.wait_for(consumer, 30)
        streams = list(transport.resumed_from)
        assert await handle == "done after 6"
        second.stop()

    seqs = [seq for seq, _ in seen]
    assert seqs == list(range(1, 9)), seqs  # no gap, no duplicate
    progress = [event.n for _, event in seen if isinstance(event, Progress)]
    assert progress == [0, 1, 2, 3, 4, 5]
    assert isinstance(seen[-1][1], StopEvent)
    # The first stream, then the one that was cut and every attempt to resume it.
    assert streams[0] == "0"
    assert len(streams) >= 3
    assert set(streams[1:]) == {"4"}


class CuttingProxy:
    """A TCP proxy in front of the server whose open connections can be cut at will."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> CuttingProxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.cut()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        """Abort every open connection (both sides), as a dropped network would."""
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()


async def test_stream_resumes_after_the_connection_is_cut(server: Any) -> None:
    seen: list[tuple[int, Event]] = []
    async with CuttingProxy(server.port) as proxy:
        transport = CountingTransport()
        flows = client_workflows()
        async with WorkflowClient(proxy.url, workflows=flows, transport=transport) as client:
            handle = await client.start("chatty", count=3)
            prompted = asyncio.Event()

            async def consume() -> None:
                async for event in handle.stream_events():
                    seen.append((handle.last_seq, event))
                    if isinstance(event, InputRequiredEvent):
                        prompted.set()

            consumer = asyncio.create_task(consume())
            await prompted.wait()
            (request,) = await client.inbox(run_id=handle.run_id)
            proxy.cut()  # the stream's connection dies while the consumer waits on it
            async with WorkflowClient(server.url) as answerer:  # someone else answers
                assert await answerer.respond(request.request_id, "go")
            await asyncio.wait_for(consumer, 30)
            streams = list(transport.resumed_from)

    assert [seq for seq, _ in seen] == list(range(1, 9))
    assert [e.n for _, e in seen if isinstance(e, Progress)] == [0, 1, 2, 3, 4, 5]
    assert streams[0] == "0" and len(streams) >= 2 and set(streams[1:]) == {"4"}
