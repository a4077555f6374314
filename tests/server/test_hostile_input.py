"""Hostile input against a live server over loopback HTTP, on SQLite and on PostgreSQL.

Every test follows one pattern: start a server on a fresh store, leave a few runs
waiting, take a picture of everything stored (runs, input requests, inbound events,
stream logs, read straight from the store), send the hostile requests and check each
answer's status *and* JSON error body, check that the picture has not changed (a refused
request stores nothing), then stop the server, start a new one on the same store and
finish a waiting run through it (the store is still sound).

PostgreSQL runs in a schema of its own per test; without a server the PostgreSQL half
skips, or fails when ``WORKFLOWS_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from _live_server import LiveServer
from _served_flows import server_workflows
from workflows import Context, Workflow, step
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent
from workflows.server import InputLimits, create_app
from workflows.stores import open_store

from ._helpers import assert_error, finished_run, pending_requests

MAX_INT = 2**63 - 1
MIB = 1024 * 1024


# -- an extra workflow: a run waiting in wait_for_event ------------------------------------
class Waiter(Workflow):
    """Waits in ``ctx.wait_for_event`` for a HumanResponseEvent (which no step accepts)."""

    @step
    async def wait(self, ctx: Context, ev: StartEvent) -> StopEvent:
        reply = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="say"), timeout=None
        )
        return StopEvent(result=reply.response)


def all_workflows() -> dict[str, Workflow]:
    return {**server_workflows(), "waiter": Waiter(timeout=None)}


# -- stores ----------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh SQLite file, or a fresh PostgreSQL schema (dropped after)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hostile.db'}"
    return str(request.getfixturevalue("postgres_schema_url"))


async def stored(url: str) -> dict[str, Any]:
    """Everything the store holds that a request could have changed."""
    store = await open_store(url)
    try:
        runs = await store.list_runs(limit=1000)
        requests = await store.list_requests(status=None, limit=1000)
        picture: dict[str, Any] = {
            "runs": sorted((r.run_id, r.status, repr(r.result), repr(r.error)) for r in runs),
            "requests": sorted(
                (q.request_id, q.status, repr(q.response), q.idempotency_key) for q in requests
            ),
            "inbound": {},
            "streams": {},
        }
        for run in runs:
            picture["streams"][run.run_id] = [e.seq for e in await store.read_stream(run.run_id)]
            if not run.is_finished:
                inbound = await store.list_inbound(run.run_id)
                picture["inbound"][run.run_id] = [(e.id, repr(e.payload)) for e in inbound]
        return picture
    finally:
        await store.close()


class Served:
    """A live server on ``url`` that can be stopped and started again on the same store."""

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        self.options = {"heartbeat": 0.5, **options}
        self.live: LiveServer | None = None

    def start(self, **options: Any) -> LiveServer:
        self.stop()
        app = create_app(self.url, all_workflows(), **{**self.options, **options})
        self.live = LiveServer(app).start()
        return self.live

    def stop(self) -> None:
        if self.live is not None and self.live.thread.is_alive():
            self.live.stop()
        self.live = None

    @property
    def base(self) -> str:
        assert self.live is not None
        return self.live.url


@pytest.fixture
def served(store_url: str) -> Iterator[Served]:
    server = Served(store_url)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def client(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.base, timeout=60) as client:
        yield client


async def start(client: httpx.AsyncClient, name: str, **fields: Any) -> str:
    response = await client.post(f"/workflows/{name}/runs", json={"input": fields})
    assert response.status_code == 201, response.text
    run_id: str = response.json()["run_id"]
    return run_id


async def waiting(client: httpx.AsyncClient, name: str, **fields: Any) -> tuple[str, str]:
    """Start a run of ``name`` and return it with its pending request once it waits."""
    run_id = await start(client, name, **fields)
    [request] = await pending_requests(client, run_id=run_id)
    return run_id, request["request_id"]


async def restart_and_finish(served: Served, request_id: str, body: Any, result: Any) -> None:
    """A new server on the same store answers ``request_id`` and its run ends with
    ``result``: nothing the hostile requests did broke the store or the runs."""
    served.start()
    async with httpx.AsyncClient(base_url=served.base, timeout=60) as client:
        assert (await client.get("/health")).json()["status"] == "ok"
        found = (await client.get(f"/requests/{request_id}")).json()
        answer = await client.post(f"/requests/{request_id}/response", json=body)
        assert answer.status_code == 200, answer.text
        run = await finished_run(client, found["run_id"])
        assert (run["status"], run["result"]) == ("completed", result)


def raw(text: str) -> bytes:
    """A JSON body written by hand (escapes as given: ``\\ud800`` stays an escape)."""
    return text.encode("utf-8")


# -- ids with NUL ------------------------------------------------------------------------------
async def test_nul_in_ids(served: Served, client: httpx.AsyncClient) -> None:
    run_id, request_id = await waiting(client, "approval", amount=3)
    before = await stored(served.url)
    for bad_run in ("a%00b", f"{run_id}%00", "%00"):
        for method, path, body in (
            ("GET", f"/runs/{bad_run}", None),
            ("GET", f"/runs/{bad_run}/events", None),
            ("POST", f"/runs/{bad_run}/events", {"type": "HumanResponseEvent", "data": {}}),
            ("POST", f"/runs/{bad_run}/cancel", None),
        ):
            response = await client.request(method, path, json=body)
            message = assert_error(response, 404, "run_not_found")["error"]["message"]
            assert "NUL" in message, message
    for bad_request in ("a%00b", f"{request_id}%00"):
        response = await client.get(f"/requests/{bad_request}")
        assert "NUL" in assert_error(response, 404, "request_not_found")["error"]["message"]
        response = await client.post(f"/requests/{bad_request}/response", json={"response": 1})
        assert "NUL" in assert_error(response, 404, "request_not_found")["error"]["message"]
    for path, name in (("/runs", "workflow"), ("/requests", "workflow"), ("/requests", "run_id")):
        response = await client.get(path, params={name: f"{run_id}\x00"})
        assert "NUL" in assert_error(response, 400, "bad_parameter")["error"]["message"]
    # NUL in names inside a body: no such type, no such step.
    url = f"/runs/{run_id}/events"
    for body, code in (
        ({"type": "HumanResponse\x00Event", "data": {"response": "x"}}, "unknown_event_type"),
        (
            {"type": "HumanResponseEvent", "data": {"response": "x"}, "step": "dec\x00ide"},
            "unknown_step",
        ),
    ):
        assert_error(await client.post(url, json=body), 422, code)
    assert await stored(served.url) == before
    await restart_and_finish(served, request_id, {"response": "ok"}, {"amount": 3, "verdict": "ok"})


# -- huge and odd integers ------------------------------------------------------------------------
async def test_huge_and_odd_integers(served: Served, client: httpx.AsyncClient) -> None:
    run_id, request_id = await waiting(client, "approval", amount=4)
    done = await start(client, "double", x=1)
    await finished_run(client, done)
    before = await stored(served.url)
    too_big = str(MAX_INT + 1)
    for path in ("/runs", "/requests"):
        for name, value in (
            ("offset", too_big),
            ("offset", "1" + "0" * 40),
            ("limit", too_big),
            ("offset", "١"),  # ARABIC-INDIC DIGIT ONE: int() would take it
            ("offset", "²"),
            ("offset", "+1"),
            ("offset", "1_0"),
            ("offset", " 1"),
            ("offset", "-0x1"),
        ):
            response = await client.get(path, params={name: value})
            message = assert_error(response, 400, "bad_parameter")["error"]["message"]
            assert repr(name) in message, message
        # The largest allowed value is a valid, empty page on every store.
        page = await client.get(path, params={"offset": str(MAX_INT)})
        assert page.status_code == 200, page.text
        assert next(iter(page.json().values())) == []
    events = f"/runs/{done}/events"
    for params, headers in (
        ({"after": too_big}, {}),
        ({"after": "9" * 30}, {}),
        ({"after": "٣"}, {}),
        ({}, {"Last-Event-ID": too_big}),
        ({}, {"Last-Event-ID": b"\xb2"}),  # "²": str.isdigit() says yes
        ({}, {"Last-Event-ID": b"\xb9\xb3"}),
        ({}, {"Last-Event-ID": "-1"}),
    ):
        response = await client.get(events, params=params, headers=headers)
        assert_error(response, 400, "bad_parameter")
    for params, headers in (({"after": str(MAX_INT)}, {}), ({}, {"Last-Event-ID": str(MAX_INT)})):
        async with client.stream("GET", events, params=params, headers=headers) as response:
            assert response.status_code == 200
            body = (await response.aread()).decode()
        assert "event:" not in body  # ends at once: nothing after MAX_INT
    assert await stored(served.url) == before
    await restart_and_finish(served, request_id, {"response": "y"}, {"amount": 4, "verdict": "y"})


# -- lone surrogates and bytes that are not UTF-8 -----------------------------------------------
async def test_lone_surrogates(served: Served, client: httpx.AsyncClient) -> None:
    run_id, request_id = await waiting(client, "approval", amount=5)
    nudged, _ = await waiting(client, "nudged")
    before = await stored(served.url)
    cases = [
        ("/workflows/approval/runs", r'{"input": {"amount": "\ud800"}}'),
        ("/workflows/approval/runs", r'{"input": {"amount": ["ok", {"deep": "x\udfff"}]}}'),
        ("/workflows/approval/runs", r'{"input": {"\udc00": 1}}'),
        ("/workflows/approval/runs", r'{"input": {"amount": "\ude00\ud83d"}}'),  # reversed pair
        (f"/requests/{request_id}/response", r'{"response": "\ud800"}'),
        (f"/runs/{nudged}/events", r'{"type": "Nudge", "data": {"value": 1, "note": "\udbff"}}'),
    ]
    for path, body in cases:
        response = await client.post(path, content=raw(body))
        message = assert_error(response, 422, "json_bad_string")["error"]["message"]
        assert "surrogate" in message, message
    for path, body in (
        ("/workflows/approval/runs", b'{"input": {"amount": "\xed\xa0\x80"}}'),  # CESU bytes
        (f"/requests/{request_id}/response", b'{"response": "\xff"}'),
    ):
        response = await client.post(path, content=body)
        assert "UTF-8" in assert_error(response, 400, "malformed_json")["error"]["message"]
    assert await stored(served.url) == before
    # A proper pair is a character like any other.
    pair = await client.post(
        "/workflows/double/runs?wait=true", content=raw(r'{"input": {"x": "\ud83d\ude00"}}')
    )
    assert pair.status_code == 200 and pair.json()["result"] == "\U0001f600" * 2
    await restart_and_finish(served, request_id, {"response": "n"}, {"amount": 5, "verdict": "n"})


# -- NaN, Infinity, out-of-range floats -----------------------------------------------------------
@pytest.mark.parametrize(
    "literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e999", "1E+309"]
)
async def test_non_finite_numbers(served: Served, client: httpx.AsyncClient, literal: str) -> None:
    run_id, request_id = await waiting(client, "approval", amount=6)
    nudged, _ = await waiting(client, "nudged")
    before = await stored(served.url)
    for path, body in (
        ("/workflows/double/runs", f'{{"input": {{"x": {literal}}}}}'),
        ("/workflows/double/runs?wait=true", f'{{"input": {{"x": [1, {{"y": {literal}}}]}}}}'),
        (f"/requests/{request_id}/response", f'{{"response": {literal}}}'),
        (f"/runs/{nudged}/events", f'{{"type": "Nudge", "data": {{"value": {literal}}}}}'),
    ):
        response = await client.post(path, content=raw(body))
        message = assert_error(response, 422, "json_bad_number")["error"]["message"]
        assert "finite" in message and literal.lstrip("-") in message, message
    assert await stored(served.url) == before
    await restart_and_finish(served, request_id, {"response": 1.5}, {"amount": 6, "verdict": "1.5"})


# -- nesting, item counts, number lengths ---------------------------------------------------------
def nested(levels: int) -> str:
    """A JSON array nested ``levels`` deep."""
    return "[" * levels + "]" * levels


async def test_deep_nesting(served: Served, client: httpx.AsyncClient) -> None:
    run_id, request_id = await waiting(client, "approval", amount=7)
    nudged, _ = await waiting(client, "nudged")
    before = await stored(served.url)
    # The reported case: 101 levels in a start input, 230 bytes, was stored as {}.
    reported = f'{{"input": {{"x": {nested(101)}}}}}'
    assert len(reported) < 240
    for path, body in (
        ("/workflows/double/runs", reported),
        ("/workflows/double/runs", f'{{"input": {{"x": {nested(63)}}}}}'),  # 65 with the body
        (f"/requests/{request_id}/response", f'{{"response": {nested(64)}}}'),
        (f"/runs/{nudged}/events", f'{{"type": "Nudge", "data": {{"v": {nested(80)}}}}}'),
        (f"/runs/{nudged}/events", '{"data": ' + '{"a": ' * 70 + "1" + "}" * 71),
    ):
        response = await client.post(path, content=raw(body))
        message = assert_error(response, 422, "json_too_deep")["error"]["message"]
        assert "nested deeper than the limit of 64" in message, message
    # 1 MB of brackets: every inner array is an item of the one around it.
    response = await client.post("/workflows/double/runs", content=raw(nested(500_000)))
    message = assert_error(response, 422, "json_too_many_items")["error"]["message"]
    assert "499999 items, more than the limit of 100000" in message, message
    assert await stored(served.url) == before
    # Exactly at the limit: taken, stored and finished.
    fits = await client.post(
        "/workflows/double/runs?wait=true", content=raw(f'{{"input": {{"x": {nested(62)}}}}}')
    )
    assert fits.status_code == 200, fits.text
    assert fits.json()["status"] == "completed"
    await restart_and_finish(served, request_id, {"response": "z"}, {"amount": 7, "verdict": "z"})


async def test_item_and_number_limits(served: Served, client: httpx.AsyncClient) -> None:
    run_id, request_id = await waiting(client, "approval", amount=8)
    before = await stored(served.url)
    many = "[" + ",".join(["0"] * 100_001) + "]"
    response = await client.post(
        "/workflows/double/runs", content=raw(f'{{"input": {{"x": {many}}}}}')
    )
    message = assert_error(response, 422, "json_too_many_items")["error"]["message"]
    assert "more than the limit of 100000" in message, message
    response = await client.post(
        f"/requests/{request_id}/response", content=raw(f'{{"response": {many}}}')
    )
    assert "100002 items" in assert_error(response, 422, "json_too_many_items")["error"]["message"]
    for literal in ("1" * 101, "0." + "1" * 99, "1e" + "0" * 99, "-" + "9" * 100):
        response = await client.post(
            "/workflows/double/runs", content=raw(f'{{"input": {{"x": {literal}}}}}')
        )
        message = assert_error(response, 422, "json_bad_number")["error"]["message"]
        assert "longer than the limit of 100" in message, message
    assert await stored(served.url) == before
    big = await client.post("/workflows/double/runs?wait=true", json={"input": {"x": 10**99}})
    assert big.status_code == 200 and big.json()["result"] == 2 * 10**99
    await restart_and_finish(served, request_id, {"response": "q"}, {"amount": 8, "verdict": "q"})


async def test_configured_limits(served: Served) -> None:
    served.start(limits=InputLimits(max_body_bytes=200, max_depth=4, max_items=5))
    async with httpx.AsyncClient(base_url=served.base, timeout=60) as client:
        run_id, request_id = await waiting(client, "approval", amount=9)
        before = await stored(served.url)
        response = await client.post(f"/requests/{request_id}/response", content=b" " * 201)
        assert (
            "limit of 200 bytes"
            in assert_error(response, 413, "body_too_large")["error"]["message"]
        )
        deep = await client.post("/workflows/double/runs", content=raw('{"input": {"x": [[[1]]]}}'))
        assert "limit of 4 levels" in assert_error(deep, 422, "json_too_deep")["error"]["message"]
        wide = await client.post(
            "/workflows/double/runs", content=raw('{"input": {"x": [1,2,3,4,5]}}')
        )
        assert "limit of 5" in assert_error(wide, 422, "json_too_many_items")["error"]["message"]
        assert await stored(served.url) == before
        ok = await client.post("/workflows/double/runs?wait=true", json={"input": {"x": [[2]]}})
        assert ok.status_code == 200, ok.text
    with pytest.raises(ValueError, match="max_depth must be at most 80"):
        InputLimits(max_depth=81)
    with pytest.raises(ValueError, match="positive integer"):
        InputLimits(max_body_bytes=0)
    await restart_and_finish(served, request_id, {"response": "w"}, {"amount": 9, "verdict": "w"})


# -- huge bodies -----------------------------------------------------------------------------------
def _rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class PeakRss:
    """The highest RSS of this process (client and in-thread server) while active."""

    def __init__(self) -> None:
        self.base = _rss()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def _read_answer(reader: asyncio.StreamReader) -> bytes:
    """An HTTP response up to the end of its JSON body (or the connection's end)."""
    data = b""
    while b"}}" not in data:
        more = await reader.read(4096)
        if not more:
            break
        data += more
    return data


async def _raw_request(port: int, head: bytes, chunks: int, chunk: bytes) -> tuple[bytes, int]:
    """Send ``head`` and up to ``chunks`` body chunks, stopping as soon as an answer
    arrives; returns the answer's first bytes and how many chunks were sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        sent = 0
        answer = asyncio.ensure_future(_read_answer(reader))
        while sent < chunks and not answer.done():
            writer.write(chunk)
            await writer.drain()
            sent += 1
            await asyncio.sleep(0)
        return await asyncio.wait_for(answer, 30), sent
    finally:
        writer.close()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc for RSS")
async def test_huge_bodies_streamed_in_chunks(served: Served, client: httpx.AsyncClient) -> None:
    run_id, request_id = await waiting(client, "approval", amount=10)
    before = await stored(served.url)
    chunk = b"[" + b"1," * 32_000 + b"1],"  # 64 KB of valid-looking JSON per chunk
    total = 100 * MIB

    async def body() -> AsyncIterator[bytes]:
        yield b'{"input": {"x": ['
        for _ in range(total // len(chunk)):
            yield chunk

    with PeakRss() as rss:
        response = await client.post("/workflows/double/runs", content=body())
        message = assert_error(response, 413, "body_too_large")["error"]["message"]
        assert "limit of 1048576 bytes" in message, message
        response = await client.post(f"/requests/{request_id}/response", content=body())
        assert_error(response, 413, "body_too_large")
    # 2 x 100 MB went through without being held: the process grew by far less.
    assert rss.peak - rss.base < 40 * MIB, (rss.base, rss.peak)

    # Raw HTTP, chunked: the 413 arrives while the client is still sending.
    assert served.live is not None
    port = served.live.port
    head = (
        b"POST /workflows/double/runs HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    data = b"0," * 32_768
    framed = b"%x\r\n%s\r\n" % (len(data), data)
    answer, sent = await _raw_request(port, head, 1600, framed)  # up to 100 MB
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"code":"body_too_large"' in answer and b"limit of 1048576 bytes" in answer
    assert sent < 400, sent  # answered within the first ~25 MB, not after 100 MB
    head = (
        f"POST /requests/{request_id}/response HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/json\r\nContent-Length: {total}\r\n\r\n"
    ).encode()
    answer, sent = await _raw_request(port, head, 1600, data)
    assert answer.startswith(b"HTTP/1.1 413") and sent < 400, (answer[:200], sent)
    assert b'"code":"body_too_large"' in answer and b"the body is 104857600 bytes" in answer
    assert (await client.get("/health")).status_code == 200
    assert await stored(served.url) == before
    await restart_and_finish(served, request_id, {"response": "b"}, {"amount": 10, "verdict": "b"})


# -- events over HTTP ---------------------------------------------------------------------------
CONTROL = [
    ("StopEvent", {"result": "pwned"}),
    ("WorkflowFailedEvent", {}),
    ("WorkflowCancelledEvent", {}),
    ("WorkflowTimedOutEvent", {"timeout": 1.0, "active_steps": []}),
    ("workflows.events.StopEvent", {"result": 1}),
    ("StartEvent", {"amount": 1}),
    ("InputRequiredEvent", {"prefix": "fake question"}),
    ("StepFailedEvent", {}),
]


async def test_control_and_unaccepted_events(served: Served, client: httpx.AsyncClient) -> None:
    run_id, request_id = await waiting(client, "approval", amount=11)
    nudged, nudge_request = await waiting(client, "nudged")
    before = await stored(served.url)
    url = f"/runs/{run_id}/events"
    for type_name, data in CONTROL:
        response = await client.post(url, json={"type": type_name, "data": data})
        message = assert_error(response, 422, "control_events_disabled")["error"]["message"]
        assert "control event" in message and "control_events" in message, message
    # A step that exists but does not accept the event: refused before it is stored.
    response = await client.post(
        url, json={"type": "HumanResponseEvent", "data": {"response": "x"}, "step": "ask"}
    )
    assert (
        "does not accept" in assert_error(response, 422, "event_not_accepted")["error"]["message"]
    )
    # No step of `nudged` accepts a plain HumanResponseEvent, and it waits in no waiter.
    response = await client.post(
        f"/runs/{nudged}/events", json={"type": "HumanResponseEvent", "data": {"response": 1}}
    )
    assert "no step" in assert_error(response, 422, "event_not_accepted")["error"]["message"]
    # A known class that is not an event at all, and an unknown one.
    for type_name in ("DictLikeModel", "Nope"):
        response = await client.post(url, json={"type": type_name, "data": {}})
        assert_error(response, 422, "unknown_event_type")
    # Sent events are not deduplicated: a key would promise what is not done.
    response = await client.post(
        url,
        json={"type": "HumanResponseEvent", "data": {"response": "x"}},
        headers={"Idempotency-Key": "k"},
    )
    assert "Idempotency-Key" in assert_error(response, 400, "bad_parameter")["error"]["message"]
    assert await stored(served.url) == before
    assert (await client.get(f"/runs/{run_id}")).json()["status"] == "waiting"

    # What is taken: an event a step accepts, and an event for a wait_for_event.
    waiter, _ = await waiting(client, "waiter")
    sent = await client.post(
        f"/runs/{waiter}/events", json={"type": "HumanResponseEvent", "data": {"response": "hi"}}
    )
    assert sent.status_code == 202, sent.text
    assert (await finished_run(client, waiter))["result"] == "hi"
    sent = await client.post(
        f"/runs/{nudged}/events", json={"type": "Nudge", "data": {"value": 2}, "step": "take"}
    )
    assert sent.status_code == 202, sent.text
    assert (await finished_run(client, nudged))["result"] == 3

    # Opted in: the same StopEvent ends the run with its result.
    served.start(control_events={"approval"})
    async with httpx.AsyncClient(base_url=served.base, timeout=60) as opted:
        other, _ = await waiting(opted, "chatty")
        response = await opted.post(f"/runs/{other}/events", json={"type": "StopEvent"})
        assert_error(response, 422, "control_events_disabled")  # chatty did not opt in
        stop = await opted.post(url, json={"type": "StopEvent", "data": {"result": "stopped"}})
        assert stop.status_code == 202, stop.text
        run = await finished_run(opted, run_id)
        assert (run["status"], run["result"]) == ("completed", "stopped")
    served.start()  # and the store still serves a fresh server
    async with httpx.AsyncClient(base_url=served.base, timeout=60) as again:
        assert (await again.get(f"/runs/{run_id}")).json()["status"] == "completed"
        _, request_id = await waiting(again, "approval", amount=12)
    await restart_and_finish(served, request_id, {"response": "k"}, {"amount": 12, "verdict": "k"})


# -- idempotency ----------------------------------------------------------------------------------
async def test_idempotency_key_with_another_body(served: Served, client: httpx.AsyncClient) -> None:
    run_id, request_id = await waiting(client, "approval", amount=13)
    url = f"/requests/{request_id}/response"
    first = await client.post(url, json={"response": "A"}, headers={"Idempotency-Key": "k1"})
    assert first.json() == {"accepted": True, "duplicate": False}
    await finished_run(client, run_id)
    before = await stored(served.url)
    repeat = await client.post(url, json={"response": "A"}, headers={"Idempotency-Key": "k1"})
    assert repeat.json() == {"accepted": True, "duplicate": True}
    other = await client.post(url, json={"response": "B"}, headers={"Idempotency-Key": "k1"})
    message = assert_error(other, 409, "idempotency_conflict")["error"]["message"]
    assert "different response under this Idempotency-Key" in message and "k1" in message
    extra = await client.post(
        url, json={"response": "A", "more": 1}, headers={"Idempotency-Key": "k1"}
    )
    assert_error(extra, 409, "idempotency_conflict")
    assert_error(
        await client.post(url, json={"response": "B"}, headers={"Idempotency-Key": "k2"}),
        409,
        "request_already_answered",
    )
    for key in ("ключ".encode(), b"k\xe9", "x" * 201):
        response = await client.post(url, json={"response": "A"}, headers={"Idempotency-Key": key})
        assert_error(response, 400, "bad_parameter")
    assert await stored(served.url) == before
    answered = (await client.get(f"/requests/{request_id}")).json()
    assert answered["response"] == {"response": "A"}

    # Two answers racing with one key and different bodies: one wins, the other is a 409.
    run_id, request_id = await waiting(client, "approval", amount=14)
    url = f"/requests/{request_id}/response"
    results = await asyncio.gather(
        *(
            client.post(url, json={"response": f"v{i}"}, headers={"Idempotency-Key": "race"})
            for i in range(4)
        )
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 409, 409, 409], [r.text for r in results]
    [winner] = [r for r in results if r.status_code == 200]
    assert winner.json()["duplicate"] is False
    stored_answer = (await client.get(f"/requests/{request_id}")).json()["response"]
    won = results.index(winner)
    assert stored_answer == {"response": f"v{won}"}

    # The CLI, through the server and straight on the store, refuses the same way.
    _, request_id = await waiting(client, "approval", amount=15)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOWS_")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "workflows.cli", "respond", request_id, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    where = ("--url", served.base)
    assert cli("A", *where, "--idempotency-key", "c1").returncode == 0
    repeated = cli("A", *where, "--idempotency-key", "c1")
    assert repeated.returncode == 0 and "already answered with this response" in repeated.stderr
    refused = cli("B", *where, "--idempotency-key", "c1")
    assert refused.returncode == 1 and "Idempotency-Key" in refused.stderr, refused.stderr
    on_store = cli("B", "--store", served.url, "--idempotency-key", "c1")
    assert on_store.returncode == 1, on_store.stderr
    assert "different response under idempotency key 'c1'" in on_store.stderr
    assert cli("A", "--store", served.url, "--idempotency-key", "c1").returncode == 0
    _, request_id = await waiting(client, "approval", amount=16)
    await restart_and_finish(served, request_id, {"response": "e"}, {"amount": 16, "verdict": "e"})


# -- a run whose stored data cannot be decoded ---------------------------------------------------
async def test_damaged_run_is_never_a_500(served: Served, client: httpx.AsyncClient) -> None:
    from tests._damage import TRUNCATED, damage

    run_id, request_id = await waiting(client, "approval", amount=17)
    _, healthy_request = await waiting(client, "approval", amount=18)
    served.stop()
    store = await open_store(served.url)
    try:
        await damage(store, "wf_runs", "snapshot", TRUNCATED, run_id)
        await damage(store, "wf_stream", "payload", TRUNCATED, (run_id, 1))
    finally:
        await store.close()
    served.start()
    async with httpx.AsyncClient(base_url=served.base, timeout=60) as client:
        run = await client.get(f"/runs/{run_id}")  # shown as far as it can be read
        assert run.status_code == 200, run.text
        assert run.json()["error"]["type"] == "CorruptRecordError"
        async with client.stream("GET", f"/runs/{run_id}/events") as response:
            assert response.status_code == 200
        for method, path, body in (
            ("POST", f"/runs/{run_id}/events", {"type": "HumanResponseEvent", "data": {}}),
            ("POST", f"/requests/{request_id}/response", {"response": "x"}),
            ("POST", f"/runs/{run_id}/cancel", None),
            ("GET", f"/runs/{run_id}", None),
            ("GET", f"/requests/{request_id}", None),
            ("GET", "/runs", None),
            ("GET", "/requests", None),
        ):
            response = await client.request(method, path, json=body)
            assert response.status_code < 500, (method, path, response.text)
            if response.status_code >= 400:
                assert_error(response, response.status_code, response.json()["error"]["code"])
    await restart_and_finish(
        served, healthy_request, {"response": "h"}, {"amount": 18, "verdict": "h"}
    )
