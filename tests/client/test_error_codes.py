"""The client raises the class the error body's code names, never guessing from text."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from _served_flows import Nudge, client_workflows
from workflows.client import ClientError, GenericEvent, WorkflowClient
from workflows.errors import (
    IdempotencyConflictError,
    InputRequestAlreadyAnsweredError,
    InputRequestClosedError,
    InputRequestNotFoundError,
    InvalidResponseError,
    RunFinishedError,
    RunNotFoundError,
    WorkflowConfigurationError,
    WorkflowRuntimeError,
    WorkflowValidationError,
)
from workflows.server import InputLimits

from .test_client import until_prompt


async def test_each_kind_of_refusal_raises_its_class(client: WorkflowClient) -> None:
    with pytest.raises(RunNotFoundError) as not_found:
        await client.get("no-such-run").info()
    assert not_found.value.run_id == "no-such-run"
    with pytest.raises(InputRequestNotFoundError) as no_request:
        await client.request("no-such-request")
    assert no_request.value.request_id == "no-such-request"
    with pytest.raises(WorkflowConfigurationError, match="no workflow named 'nope'"):
        await client.workflow("nope")
    with pytest.raises(WorkflowValidationError, match="qty"):
        await client.start("double", qty="many")

    handle = await client.start("approval", amount=5)
    await until_prompt(handle)
    (request,) = await client.inbox(run_id=handle.run_id)
    with pytest.raises(InvalidResponseError) as invalid:
        await client.respond(request.request_id, {"approved": "perhaps"})
    assert invalid.value.request_id == request.request_id
    assert await client.respond(request.request_id, {"approved": True}, "k1")
    with pytest.raises(IdempotencyConflictError, match="Idempotency-Key"):
        await client.respond(request.request_id, {"approved": False}, "k1")
    with pytest.raises(InputRequestAlreadyAnsweredError) as answered:
        await client.respond(request.request_id, {"approved": False})
    assert type(answered.value) is InputRequestAlreadyAnsweredError
    await handle

    nudged = await client.start("nudged")
    await until_prompt(nudged)
    with pytest.raises(WorkflowValidationError, match="no event type"):
        await nudged.send_event(GenericEvent.of("Unheard", "x.Unheard", {}))
    await nudged.send_event(Nudge(value=1))
    await nudged
    with pytest.raises(RunFinishedError) as finished:
        await nudged.send_event(Nudge(value=2))
    assert isinstance(finished.value, WorkflowRuntimeError)  # as the local handler raises
    assert finished.value.run_id == nudged.run_id


async def test_an_answer_to_a_cancelled_run_is_closed(client: WorkflowClient) -> None:
    handle = await client.start("approval", amount=6)
    await until_prompt(handle)
    (request,) = await client.inbox(run_id=handle.run_id)
    await handle.cancel_run()
    with pytest.raises(InputRequestClosedError) as closed:
        await client.respond(request.request_id, {"approved": True})
    assert closed.value.request_id == request.request_id


async def test_a_body_over_the_limit_keeps_its_code(start_server: Any, sqlite_url: str) -> None:
    server = start_server(sqlite_url, limits=InputLimits(max_body_bytes=200))
    async with WorkflowClient(server.url, workflows=client_workflows()) as client:
        with pytest.raises(ClientError) as refused:
            await client.start("approval", note="x" * 500)
    assert (refused.value.status_code, refused.value.code) == (413, "body_too_large")


async def _answering(status: int, body: bytes) -> AsyncIterator[str]:
    """A loopback HTTP server answering every request with ``status`` and ``body``."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 {status} Whatever\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"Content-Type: application/json\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"


async def test_an_unknown_code_is_a_client_error_keeping_code_and_message() -> None:
    body = json.dumps({"error": {"code": "rate_limited", "message": "slow down"}}).encode()
    async for url in _answering(429, body):
        async with WorkflowClient(url) as client:
            with pytest.raises(ClientError) as unknown:
                await client.get("r1").info()
    assert type(unknown.value) is ClientError
    assert (unknown.value.status_code, unknown.value.code) == (429, "rate_limited")
    assert unknown.value.message == "slow down"


async def test_a_body_that_is_not_the_servers_is_a_client_error() -> None:
    async for url in _answering(502, b"<html>bad gateway</html>"):
        async with WorkflowClient(url) as client:
            with pytest.raises(ClientError) as foreign:
                await client.workflows()
    assert (foreign.value.status_code, foreign.value.code) == (502, "")
    assert "bad gateway" in foreign.value.message
