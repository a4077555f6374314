"""The inbox stream's fan-out, over real loopback HTTP on SQLite (and PostgreSQL).

Many subscribers cost one read of the request changes per change, not one each; every
subscriber gets every change; a subscriber that stops reading is resynced (its backlog
replaced by one ``resync`` message) instead of holding up the others or growing without
bound. A change reaches the users who see the request however many newer requests are
open, and whichever process made it.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
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
from workflows.stores import (
    AuditEntry,
    Commit,
    InputRequest,
    RunRecord,
    RunStore,
    SqliteStore,
    open_store,
)

from ._sse import Message, messages, take
from ._users import bearer, write_users


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
    """A real SQLite store that counts how often the request changes are read."""

    reads = 0

    async def audit_after(self, after_id: int, limit: int = 100) -> list[AuditEntry]:
        type(self).reads += 1
        return await super().audit_after(after_id, limit)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[LiveServer, type[SqliteCountingStore]]]:
    store_class = type("SqliteCountingStoreOfTest", (SqliteCountingStore,), {"reads": 0})
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
    limits = httpx.Limits(max_connections=100)
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client,
        AsyncExitStack() as stack,
    ):
        streams = [await _subscribe(client, stack) for _ in range(40)]
        before = store_class.reads
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
        # Two changes seen by 40 subscribers: a few reads in all (one per inbox signal
        # or poll), where a read per subscriber would be 80 or more.
        assert store_class.reads - before <= 8, store_class.reads - before


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


# -- every request, every process -----------------------------------------------------------

NEWER = 1200
"""Pending requests newer than the one that changes: more than the newest 1,000 that a
re-read of the inbox would compare."""


@dataclass
class Team:
    """A live server with a users file, and another connection to its database."""

    server: LiveServer
    store: RunStore

    def client(self, user: str) -> httpx.AsyncClient:
        """An HTTP client calling as ``user``."""
        return httpx.AsyncClient(base_url=self.server.url, timeout=60, headers=bearer(user))


@pytest.fixture(params=["sqlite", "postgres"])
async def team(
    request: pytest.FixtureRequest, start_server: Any, sqlite_url: str, tmp_path: Path
) -> AsyncIterator[Team]:
    url = sqlite_url
    if request.param == "postgres":
        url = str(request.getfixturevalue("postgres_schema_url"))
    # No engine signal for the changes made from outside, and no heartbeat re-read in
    # the test's time: only the reader's own poll can see them.
    server = start_server(url, users=str(write_users(tmp_path / "users.toml")), heartbeat=60)
    outside = await open_store(url)  # another process's connection to the database
    try:
        yield Team(server, outside)
    finally:
        await outside.close()


async def _old_request_under_many(store: RunStore) -> str:
    """A pending request for finance, then ``NEWER`` newer pending ones for legal
    (written in batches of commits, as workflows of another process would); the id of
    the first."""
    now = time.time()
    runs = [RunRecord.new(f"run-{n}", "expense", {}, status="waiting") for n in range(13)]
    for run in runs:
        await store.create_run(run)
    old = InputRequest.new("req-old", "run-0", "expense", "", {}, candidate_groups=["finance"])
    commits = [Commit("run-0", 0, {}, "waiting", new_requests=[old])]
    for n, run in enumerate(runs[1:]):
        newer = [
            InputRequest.new(
                f"req-{n}-{k}",
                run.run_id,
                "expense",
                "",
                {},
                now=now + 1 + k,
                candidate_groups=["legal"],
            )
            for k in range(NEWER // 12)
        ]
        commits.append(Commit(run.run_id, 0, {}, "waiting", new_requests=newer))
    for start in range(0, len(commits), 4):
        outcomes = await store.commit_many(commits[start : start + 4])
        assert all(isinstance(outcome, int) for outcome in outcomes), outcomes
    return old.request_id


async def _beyond_the_newest_thousand(team: Team, request_id: str) -> None:
    async with team.client("root") as root:
        listed = (await root.get("/requests", params={"limit": 1000})).json()["requests"]
    assert len(listed) == 1000
    assert request_id not in {r["request_id"] for r in listed}


async def test_a_change_of_a_request_older_than_a_thousand_others_is_streamed(
    team: Team,
) -> None:
    old = await _old_request_under_many(team.store)
    await _beyond_the_newest_thousand(team, old)
    async with AsyncExitStack() as stack:
        ada, bob, root = [
            await stack.enter_async_context(team.client(u)) for u in ("ada", "bob", "root")
        ]
        ada_stream, bob_stream = [await _subscribe(c, stack) for c in (ada, bob)]
        assert (await ada.post(f"/requests/{old}/claim")).status_code == 200
        [claimed] = await take(ada_stream, 1)
        assert (claimed.event, claimed.json()["request_id"]) == ("request_updated", old)
        assert claimed.json()["assignee"] == "ada"
        # handed to bob (not in finance): into his sight, and still in ada's
        given = await root.post(f"/requests/{old}/assign", json={"assignee": "bob"})
        assert given.status_code == 200, given.text
        [handed] = await take(ada_stream, 1)
        assert (handed.event, handed.json()["assignee"]) == ("request_updated", "bob")
        [got] = await take(bob_stream, 1)  # his first: he never saw ada's claim
        assert (got.event, got.json()["request_id"]) == ("request_updated", old)
        assert got.json()["assignee"] == "bob"


async def test_changes_made_by_another_process_are_streamed(team: Team) -> None:
    old = await _old_request_under_many(team.store)
    async with AsyncExitStack() as stack:
        ada = await stack.enter_async_context(team.client("ada"))
        stream = await _subscribe(ada, stack)
        await team.store.set_assignee(old, "ada", actor="root", action="assigned")
        [assigned] = await take(stream, 1)
        assert (assigned.event, assigned.json()["request_id"]) == ("request_updated", old)
        assert assigned.json()["assignee"] == "ada"
        await team.store.answer_request(old, {"response": "ok"}, answered_by="ada")
        [closed] = await take(stream, 1)
        assert (closed.event, closed.json()["request_id"]) == ("request_closed", old)
        assert closed.json()["status"] == "answered"
        # a new one for finance, then one for legal she does not see, then hers again
        await team.store.create_run(RunRecord.new("run-new", "expense", {}, status="waiting"))
        new = [
            InputRequest.new(
                f"req-new-{group}", "run-new", "expense", "", {}, candidate_groups=[group]
            )
            for group in ("finance", "legal")
        ]
        await team.store.commit(Commit("run-new", 0, {}, "waiting", new_requests=new))
        [created] = await take(stream, 1)
        assert (created.event, created.json()["request_id"]) == (
            "request_created",
            new[0].request_id,
        )
        await team.store.set_assignee(new[1].request_id, "ada", actor="root", action="assigned")
        [updated] = await take(stream, 1)
        assert (updated.event, updated.json()["request_id"]) == (
            "request_updated",
            new[1].request_id,
        )
