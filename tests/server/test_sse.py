"""Server-sent events: a run's stream with resume, heartbeats and an end; inbox changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx

from _wait import TIMEOUT

from ._helpers import assert_error, pending_requests
from ._sse import Message, messages, rest, take


async def start(client: httpx.AsyncClient, name: str) -> str:
    response = await client.post(f"/workflows/{name}/runs")
    assert response.status_code == 201
    run_id: str = response.json()["run_id"]
    return run_id


async def test_stream_resume_and_end(client: httpx.AsyncClient) -> None:
    run_id = await start(client, "chatty")
    url = f"/runs/{run_id}/events"
    async with client.stream("GET", url) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        first = await take(messages(response), 4)
    assert [m.event for m in first] == ["Progress"] * 3 + ["InputRequiredEvent"]
    ids = [int(m.id or 0) for m in first]
    assert ids == sorted(ids) and len(set(ids)) == 4
    body = first[0].json()
    assert body["seq"] == ids[0] and body["type"] == "Progress" and body["data"] == {"n": 0}
    assert body["type_key"].endswith("_served_flows.Progress")

    # Resume after the second event: Last-Event-ID wins over ?after=.
    headers = {"Last-Event-ID": str(ids[1])}
    async with client.stream("GET", url, params={"after": 0}, headers=headers) as response:
        stream = messages(response)
        resumed = await take(stream, 2)
        assert [int(m.id or 0) for m in resumed] == ids[2:]
        [request] = await pending_requests(client, run_id=run_id)
        answer = await client.post(
            f"/requests/{request['request_id']}/response", json={"response": "go"}
        )
        assert answer.status_code == 200
        tail = await rest(stream)  # ends by itself after the StopEvent
    assert [m.event for m in tail] == ["StopEvent"]  # answers are not stream events
    assert tail[-1].json()["data"]["result"] == "done"

    # ?after= past the end of a finished run: ends at once, empty.
    async with client.stream("GET", url, params={"after": 1000}) as response:
        assert await rest(messages(response)) == []
    async with client.stream("GET", url, params={"after": ids[-1]}) as response:
        assert [m.event for m in await rest(messages(response))] == ["StopEvent"]


async def test_heartbeat_while_idle(client: httpx.AsyncClient) -> None:
    run_id = await start(client, "approval")
    async with client.stream("GET", f"/runs/{run_id}/events") as response:
        seen: list[Message] = []

        async def until_heartbeat() -> None:
            async for message in messages(response):
                seen.append(message)
                if message.event == ":" and message.data == "heartbeat":
                    return

        await asyncio.wait_for(until_heartbeat(), TIMEOUT)
    assert seen[0].event == "InputRequiredEvent"


async def test_stream_errors(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/runs/nope/events"), 404, "run_not_found")
    run_id = await start(client, "double")
    for headers, params in (
        ({"Last-Event-ID": "x"}, {}),
        ({}, {"after": "-1"}),
        ({}, {"after": "one"}),
    ):
        response = await client.get(f"/runs/{run_id}/events", headers=headers, params=params)
        assert_error(response, 400, "bad_parameter")


async def test_inbox_stream(client: httpx.AsyncClient) -> None:
    async with client.stream("GET", "/requests/stream") as response:
        stream = messages(response)
        [connected] = [m async for m in _first(stream)]
        assert connected.event == ":" and connected.data == "connected"
        run_id = await start(client, "approval")
        [created] = await take(stream, 1)
        assert created.event == "request_created"
        request: dict[str, Any] = created.json()
        assert request["run_id"] == run_id and request["status"] == "pending"
        answer = await client.post(
            f"/requests/{request['request_id']}/response", json={"response": "yes"}
        )
        assert answer.status_code == 200
        [closed] = await take(stream, 1)
        assert closed.event == "request_closed"
        assert closed.json()["request_id"] == request["request_id"]
        assert closed.json()["status"] == "answered"


async def _first(stream: AsyncIterator[Message]) -> AsyncIterator[Message]:
    async for message in stream:
        yield message
        return
