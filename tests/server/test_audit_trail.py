"""The audit trail over HTTP: who answered (the ``X-Workflows-User`` header) and each
run's start input, on a live server with a SQLite file; the Python client too."""

from __future__ import annotations

import httpx
import pytest

from _live_server import LiveServer
from _served_flows import Nudge
from workflows.client import WorkflowClient

from ._helpers import assert_error, finished_run, pending_requests, started_run

USER = "X-Workflows-User"


async def test_the_run_shows_its_start_input(client: httpx.AsyncClient) -> None:
    run = await started_run(client, "approval", amount=420, note="travel")
    assert run["input"] == {
        "type": "StartEvent",
        "type_key": "workflows.events.StartEvent",
        "data": {"amount": 420, "note": "travel"},
    }
    assert (await client.get(f"/runs/{run['run_id']}")).json()["input"] == run["input"]
    listed = (await client.get("/runs")).json()["runs"]
    assert [r["input"] for r in listed if r["run_id"] == run["run_id"]] == [run["input"]]
    document = (await client.get("/openapi.json")).json()
    assert "input" in document["components"]["schemas"]["RunOut"]["properties"]
    assert "answered_by" in document["components"]["schemas"]["RequestOut"]["properties"]


async def test_an_answer_records_the_user_header(client: httpx.AsyncClient) -> None:
    named = await started_run(client, "approval", amount=1)
    unnamed = await started_run(client, "approval", amount=2)
    [asked] = await pending_requests(client, run_id=named["run_id"])
    [other] = await pending_requests(client, run_id=unnamed["run_id"])
    assert asked["answered_by"] is None
    url = f"/requests/{asked['request_id']}/response"
    # UTF-8 on the wire (HTTP header values are bytes)
    answered = await client.post(url, json={"response": "yes"}, headers={USER: "Zoë Ng".encode()})
    assert answered.json() == {"accepted": True, "duplicate": False}
    await client.post(f"/requests/{other['request_id']}/response", json={"response": "no"})
    await finished_run(client, named["run_id"])
    closed = (await client.get(f"/requests/{asked['request_id']}")).json()
    assert (closed["status"], closed["answered_by"]) == ("answered", "Zoë Ng")
    assert closed["answered_at"] >= closed["created_at"]
    assert (await client.get(f"/requests/{other['request_id']}")).json()["answered_by"] is None
    # a repeat of the accepted answer by someone else changes nothing
    again = await client.post(url, json={"response": "yes"}, headers={USER: "eve"})
    assert again.json()["duplicate"] is True
    assert (await client.get(f"/requests/{asked['request_id']}")).json()["answered_by"] == "Zoë Ng"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b"", "empty"),
        (b"x" * 201, "201 characters; at most 200"),
        (b"ada\tbo", "non-printable character U+0009"),
        ("ada\u2028bo".encode(), "non-printable character U+2028"),
        ("ada\x85bo".encode(), "non-printable character U+0085"),
    ],
    ids=["empty", "too-long", "tab", "line-separator", "next-line"],
)
async def test_a_bad_user_header_is_a_400_and_answers_nothing(
    client: httpx.AsyncClient, value: bytes, why: str
) -> None:
    run = await started_run(client, "approval", amount=1)
    [asked] = await pending_requests(client, run_id=run["run_id"])
    url = f"/requests/{asked['request_id']}/response"
    body = assert_error(
        await client.post(url, json={"response": "yes"}, headers={USER: value}),
        400,
        "bad_parameter",
    )
    assert "X-Workflows-User" in body["error"]["message"] and why in body["error"]["message"]
    event = await client.post(
        f"/runs/{run['run_id']}/events",
        json={"type": "HumanResponseEvent", "data": {"response": "x"}},
        headers={USER: value},
    )
    assert_error(event, 400, "bad_parameter")
    assert (await client.get(f"/requests/{asked['request_id']}")).json()["status"] == "pending"


async def test_control_bytes_in_the_header_never_reach_the_app(server: LiveServer) -> None:
    """The HTTP server itself refuses a header value with control bytes (a 400)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as raw:
        response = await raw.post(
            "/requests/r:1/response", json={"response": "x"}, headers={USER: b"ada\x07"}
        )
    assert response.status_code == 400


async def test_the_header_given_twice_is_a_400(client: httpx.AsyncClient) -> None:
    run = await started_run(client, "approval", amount=1)
    [asked] = await pending_requests(client, run_id=run["run_id"])
    response = await client.post(
        f"/requests/{asked['request_id']}/response",
        json={"response": "yes"},
        headers=[(USER, "ada"), (USER, "bo")],
    )
    body = assert_error(response, 400, "bad_parameter")
    assert "more than once" in body["error"]["message"]


async def test_an_event_that_answers_records_who_sent_it(client: httpx.AsyncClient) -> None:
    run = await started_run(client, "nudged")
    [asked] = await pending_requests(client, run_id=run["run_id"])
    sent = await client.post(
        f"/runs/{run['run_id']}/events",
        json={"type": "Nudge", "data": {"value": 4}},
        headers={USER: "grace"},
    )
    assert sent.status_code == 202, sent.text
    assert (await finished_run(client, run["run_id"]))["result"] == 5
    closed = (await client.get(f"/requests/{asked['request_id']}")).json()
    assert (closed["status"], closed["answered_by"]) == ("answered", "grace")


async def test_the_client_names_who_answers(server: LiveServer) -> None:
    async with WorkflowClient(server.url) as client:
        handle = await client.start("approval", amount=7)
        [asked] = await client.inbox(run_id=handle.run_id)
        with pytest.raises(ValueError, match="non-printable"):
            await client.respond(asked.request_id, "yes", answered_by="a\nb")
        assert await client.respond(asked.request_id, "yes", answered_by="Łukasz")
        await handle.result()
        [closed] = await client.inbox(run_id=handle.run_id, status="all")
        assert (closed.answered_by, closed.status) == ("Łukasz", "answered")
        assert closed.answered_at is not None and closed.answered_at >= closed.created_at
        info = await handle.info()
        assert info.input is not None and info.input["data"] == {"amount": 7}

        nudged = await client.start("nudged")
        [asked] = await client.inbox(run_id=nudged.run_id)
        await nudged.send_event(Nudge(value=1), sent_by="kim")
        assert await nudged.result() == 2
        assert (await client.request(asked.request_id)).answered_by == "kim"
