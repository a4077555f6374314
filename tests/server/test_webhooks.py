"""Outbound webhooks end to end: a live server on a SQLite file or a PostgreSQL schema
delivers request changes to a receiver on 127.0.0.1 (``tests/_webhook_receiver.py``)
that checks every signature.

Most changes are written by a second store on the same database, as another process would
(the server sees them by polling, so ``poll_interval`` is short here); they belong to
workflows the server does not serve, so its engine leaves those runs alone. One test
goes through the server's own API and a long poll interval: its own changes wake the
sender at once.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from _wait import until
from _webhook_receiver import Receiver
from workflows.stores import Commit, InputRequest, RunRecord, RunStore, open_store
from workflows.webhooks import Webhook

from ._helpers import pending_requests, started_run

SECRET = "whsec_test_secret"
FAST = {"retry_base": 0.05, "retry_max": 0.2, "poll_interval": 0.05}


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """The server's store: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return sqlite_url
    return str(request.getfixturevalue("postgres_schema_url"))


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[RunStore]:
    """A second store on the server's database: another process writing requests."""
    opened = await open_store(store_url)
    try:
        yield opened
    finally:
        await opened.close()


async def new_request(store: RunStore, workflow: str = "expense", **task: Any) -> str:
    """A run of ``workflow`` waiting on one new request (audit: ``created``) with the
    task fields ``task``."""
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    await store.create_run(RunRecord.new(run_id, workflow, {}, status="waiting"))
    request = InputRequest.new(request_id, run_id, workflow, "", {}, **task)
    await store.commit(Commit(run_id, 0, {}, "waiting", new_requests=[request]))
    return request_id


async def audit_ids(store: RunStore) -> list[int]:
    return [entry.id for entry in await store.audit_after(0, limit=1000)]


def hook(url: str, **options: Any) -> Webhook:
    return Webhook(url, SECRET, **{**FAST, **options})


async def test_a_failing_receiver_gets_the_message_on_the_third_attempt(
    start_server: Any, store_url: str, store: RunStore
) -> None:
    async with Receiver(SECRET, answer=lambda n, path: 500 if n < 2 else 204) as receiver:
        endpoint = hook(receiver.url + "/hooks", retry_base=0.1, retry_max=1)
        start_server(store_url, webhooks=[endpoint])
        request_id = await new_request(store)
        await until(receiver.accepted, "the message to be accepted")
        [audit_id] = await audit_ids(store)

        deliveries = await until(
            lambda: _at_least(store.list_deliveries(endpoint=endpoint.endpoint), 3),
            "three recorded attempts",
        )

    first, second, third = receiver.messages
    assert [m.status for m in receiver.messages] == [500, 500, 204]
    assert all(m.verified for m in receiver.messages)
    assert {m.path for m in receiver.messages} == {"/hooks"}
    # the same message each time, told apart from others by its delivery id
    assert first.body == second.body == third.body
    assert {m.headers["workflows-delivery"] for m in receiver.messages} == {
        f"{endpoint.endpoint}:{audit_id}"
    }
    assert {m.headers["workflows-event"] for m in receiver.messages} == {"request.created"}
    assert third.headers["content-type"] == "application/json"
    # the waits double: at least retry_base, then twice that
    assert second.received_at - first.received_at >= 0.1
    assert third.received_at - second.received_at >= 0.2

    message = third.json
    assert set(message) == {"id", "type", "at", "request", "actor", "detail"}
    assert (message["id"], message["type"], message["actor"]) == (
        audit_id,
        "request.created",
        None,
    )
    assert message["request"]["request_id"] == request_id
    assert message["request"]["workflow"] == "expense"
    assert message["request"]["status"] == "pending"

    # the attempts, newest first
    assert [(d.attempt, d.status_code, d.delivered) for d in deliveries] == [
        (3, 204, True),
        (2, 500, False),
        (1, 500, False),
    ]
    assert {(d.endpoint, d.audit_id, d.request_id) for d in deliveries} == {
        (endpoint.endpoint, audit_id, request_id)
    }
    assert deliveries[1].error == "HTTP 500" and deliveries[0].error is None
    assert deliveries[0].at >= deliveries[1].at >= deliveries[2].at
    assert await store.list_deliveries(request_id=request_id) == deliveries
    assert await store.list_deliveries(audit_id=audit_id, limit=1) == deliveries[:1]
    assert await until(
        lambda: _equals(store.webhook_cursor(endpoint.endpoint), audit_id), "the cursor"
    )


async def _at_least(listing: Any, count: int) -> Any:
    found = await listing
    return found if len(found) >= count else None


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def test_each_change_is_one_message_in_order(
    start_server: Any, store_url: str, store: RunStore
) -> None:
    async with Receiver(SECRET) as receiver:
        start_server(store_url, webhooks=[hook(receiver.url)])
        first = await new_request(store)
        second = await new_request(store)
        await store.set_assignee(first, "bob", actor="bob", action="claimed", expected=None)
        await store.set_assignee(first, "ada", actor="bob", action="assigned")
        await store.set_assignee(second, "bob", actor="bob", action="claimed", expected=None)
        await store.set_assignee(second, None, actor="bob", action="unclaimed")
        await store.answer_request(first, {"response": "yes"}, answered_by="ada")
        await until(lambda: len(receiver.accepted()) == 7, "seven messages")

    messages = [m.json for m in receiver.accepted()]
    assert [(m["type"], m["request"]["request_id"], m["actor"]) for m in messages] == [
        ("request.created", first, None),
        ("request.created", second, None),
        ("request.claimed", first, "bob"),
        ("request.assigned", first, "bob"),
        ("request.claimed", second, "bob"),
        ("request.unclaimed", second, "bob"),
        ("request.answered", first, "ada"),
    ]
    assert [m["id"] for m in messages] == await audit_ids(store)
    assert messages[3]["detail"] == {"assignee": "ada", "previous": "bob"}
    answered = messages[6]
    assert answered["request"]["status"] == "answered"
    assert answered["request"]["answered_by"] == "ada"
    assert len({m.headers["workflows-delivery"] for m in receiver.messages}) == 7


async def test_a_new_endpoint_starts_at_the_end_of_the_log(
    start_server: Any, store_url: str, store: RunStore
) -> None:
    before = await new_request(store)
    async with Receiver(SECRET) as receiver:
        endpoint = hook(receiver.url)
        start_server(store_url, webhooks=[endpoint])
        # the endpoint starts where the log ended when the server started
        assert await store.webhook_cursor(endpoint.endpoint) == max(await audit_ids(store))
        after = await new_request(store)
        await until(receiver.accepted, "a message")
        last = max(await audit_ids(store))
        await until(lambda: _equals(store.webhook_cursor(endpoint.endpoint), last), "the cursor")

    assert [m.json["request"]["request_id"] for m in receiver.accepted()] == [after]
    assert before not in {m.json["request"]["request_id"] for m in receiver.messages}


async def test_endpoints_filter_by_event_and_workflow(
    start_server: Any, store_url: str, store: RunStore
) -> None:
    async with Receiver(SECRET) as receiver:
        answers = hook(
            receiver.url + "/answers",
            events={"request.answered", "request.overdue"},
            name="answers",
        )
        travel = hook(receiver.url + "/travel", workflows={"travel"}, name="travel")
        start_server(store_url, webhooks=[answers, travel])
        expense = await new_request(store, "expense", due=1.0)
        trip = await new_request(store, "travel")
        assert [r.request_id for r in await store.mark_overdue(time.time())] == [expense]
        await store.answer_request(expense, {"response": "ok"}, answered_by="ada")
        await store.answer_request(trip, {"response": "ok"}, answered_by="bob")
        last = max(await audit_ids(store))
        for name in ("answers", "travel"):  # both went past every entry
            await until(
                lambda name=name: _equals(store.webhook_cursor(name), last), f"{name}'s cursor"
            )

    seen = {
        path: [(m.json["type"], m.json["request"]["request_id"]) for m in receiver.accepted(path)]
        for path in ("/answers", "/travel")
    }
    assert seen == {
        "/answers": [
            ("request.overdue", expense),
            ("request.answered", expense),
            ("request.answered", trip),
        ],
        "/travel": [("request.created", trip), ("request.answered", trip)],
    }
    assert len(receiver.messages) == 5
    # entries an endpoint does not want leave no attempt behind
    assert await store.list_deliveries(endpoint="travel", request_id=expense) == []


def _closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_dead_receiver_is_given_up_after_max_attempts_and_the_next_entry_sent(
    start_server: Any, store_url: str, store: RunStore
) -> None:
    dead = hook(f"http://127.0.0.1:{_closed_port()}/gone", max_attempts=3, name="dead")
    async with Receiver(SECRET, answer=lambda n, path: 503 if path == "/busy" else 200) as receiver:
        busy = hook(receiver.url + "/busy", max_attempts=2, name="busy")
        start_server(store_url, webhooks=[dead, busy])
        first = await new_request(store)
        second = await new_request(store)
        first_id, second_id = await audit_ids(store)
        for name in ("dead", "busy"):
            await until(
                lambda name=name: _equals(store.webhook_cursor(name), second_id),
                f"{name} to pass both entries",
            )

    dead_attempts = await store.list_deliveries(endpoint="dead")
    assert [(d.audit_id, d.attempt) for d in dead_attempts] == [
        (second_id, 3),
        (second_id, 2),
        (second_id, 1),
        (first_id, 3),
        (first_id, 2),
        (first_id, 1),
    ]
    assert not any(d.delivered for d in dead_attempts)
    assert all(d.status_code is None for d in dead_attempts)
    assert all(d.error and d.error.startswith("ConnectError") for d in dead_attempts)
    assert {d.request_id for d in dead_attempts} == {first, second}

    busy_attempts = await store.list_deliveries(endpoint="busy")
    assert [(d.audit_id, d.attempt, d.status_code) for d in busy_attempts] == [
        (second_id, 2, 503),
        (second_id, 1, 503),
        (first_id, 2, 503),
        (first_id, 1, 503),
    ]
    assert len(receiver.messages) == 4 and all(m.verified for m in receiver.messages)


async def test_delivery_resumes_after_a_restart_without_skipping(
    start_server: Any, store_url: str, store: RunStore
) -> None:
    accepting = asyncio.Event()
    async with Receiver(
        SECRET, answer=lambda n, path: 200 if accepting.is_set() else 500
    ) as receiver:
        endpoint = hook(receiver.url, max_attempts=1000, name="tasks")
        server = start_server(store_url, webhooks=[endpoint])
        first = await new_request(store)
        await until(
            lambda: _at_least(store.list_deliveries(endpoint="tasks"), 2), "two failed attempts"
        )
        server.stop()  # mid-way: the first message is not delivered yet
        failed = len(await store.list_deliveries(endpoint="tasks", limit=1000))
        second = await new_request(store)  # while the server is down
        accepting.set()

        start_server(store_url, webhooks=[endpoint])
        await until(lambda: len(receiver.accepted()) == 2, "both messages")
        first_id, second_id = await audit_ids(store)
        await until(lambda: _equals(store.webhook_cursor("tasks"), second_id), "the cursor")

    assert [m.json["request"]["request_id"] for m in receiver.accepted()] == [first, second]
    assert all(m.verified for m in receiver.messages)
    newest = await store.list_deliveries(endpoint="tasks", audit_id=first_id, limit=1)
    # the attempts are counted across the restart
    assert (newest[0].attempt, newest[0].delivered) == (failed + 1, True)
    [delivered_second] = await store.list_deliveries(endpoint="tasks", audit_id=second_id)
    assert (delivered_second.attempt, delivered_second.delivered) == (1, True)


async def test_the_servers_own_changes_wake_the_sender(start_server: Any, store_url: str) -> None:
    async with Receiver(SECRET) as receiver:
        # Polling alone would take a minute: the messages come from the wake-up.
        endpoint = hook(receiver.url, poll_interval=60, workflows={"approval"})
        server = start_server(store_url, webhooks=[endpoint])
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            run = await started_run(client, "approval", amount=12)
            [request] = await pending_requests(client, run_id=run["run_id"])
            await until(receiver.accepted, "request.created", seconds=20)
            response = await client.post(
                f"/requests/{request['request_id']}/response",
                json={"response": "approved"},
            )
            assert response.status_code in (200, 202), response.text
            await until(lambda: len(receiver.accepted()) == 2, "request.answered", seconds=20)

    created, answered = (m.json for m in receiver.accepted())
    assert (created["type"], answered["type"]) == ("request.created", "request.answered")
    assert created["request"]["request_id"] == request["request_id"]
    assert answered["request"]["request_id"] == request["request_id"]
    assert answered["request"]["response"] is not None


async def test_the_users_file_configures_webhooks(
    start_server: Any, sqlite_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Receiver(SECRET) as receiver:
        monkeypatch.setenv("TASK_HOOK_SECRET", SECRET)
        users = tmp_path / "users.toml"
        users.write_text(
            "[users.ada]\n"
            f'token_sha256 = "{"0" * 64}"\n'
            "[[webhooks]]\n"
            f'url = "{receiver.url}/from-file"\n'
            'secret_env = "TASK_HOOK_SECRET"\n'
            "poll_interval = 0.05\n",
            encoding="utf-8",
        )
        start_server(sqlite_url, users=str(users))
        store = await open_store(sqlite_url)
        try:
            request_id = await new_request(store)
        finally:
            await store.close()
        await until(receiver.accepted, "the message to the users file's endpoint")
    [message] = receiver.accepted()
    assert message.path == "/from-file" and message.verified
    assert message.json["request"]["request_id"] == request_id


def test_a_users_file_with_a_bad_webhook_does_not_start(tmp_path: Any) -> None:
    from workflows.errors import WorkflowConfigurationError
    from workflows.server import create_app

    users = tmp_path / "users.toml"
    users.write_text('[[webhooks]]\nurl = "http://127.0.0.1:9/x"\n', encoding="utf-8")
    with pytest.raises(WorkflowConfigurationError, match=r"users file .*webhooks\[0\]"):
        create_app("memory://", users=str(users))
