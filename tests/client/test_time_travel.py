"""WorkflowClient's time travel against the real server over loopback HTTP: the
checkpoints of a run, one read back, an edit before the answer, and a fork whose own
answer gives its own result; each refusal is the class the engine raises."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from _live_server import LiveServer
from _review_flow import Review, TypedReview
from _wait import until
from workflows import Workflow
from workflows.client import CheckpointViewInfo, InputRequestInfo, WorkflowClient
from workflows.errors import (
    CheckpointNotForkableError,
    CheckpointNotFoundError,
    RunFinishedError,
    RunNotFoundError,
    WorkflowValidationError,
)
from workflows.events import InputRequiredEvent


def _workflows() -> dict[str, Workflow]:
    return {"review": Review(timeout=None), "typed": TypedReview(timeout=None)}


@pytest.fixture
def served_workflows() -> Callable[[], dict[str, Workflow]]:
    return _workflows


@pytest.fixture
def server(start_server: Any, sqlite_url: str) -> LiveServer:
    live: LiveServer = start_server(sqlite_url, history="all")
    return live


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[WorkflowClient]:
    async with WorkflowClient(server.url, workflows=_workflows()) as client:
        yield client


async def asked(client: WorkflowClient, run_id: str) -> InputRequestInfo:
    [request] = await until(lambda: client.inbox(run_id=run_id), f"run {run_id} asks")
    return request


async def test_checkpoints_edit_and_fork(client: WorkflowClient) -> None:
    handle = await client.start("review", text="teh plan")
    request = await asked(client, handle.run_id)
    waiting = (await client.checkpoints(handle.run_id))[-1]
    assert (waiting.status, waiting.step, waiting.causes[-1]) == (
        "waiting",
        "review",
        "wait:review",
    )

    view = await client.checkpoint(handle.run_id, waiting.checkpoint_id)
    assert isinstance(view, CheckpointViewInfo)
    assert view.checkpoint == waiting
    assert view.state == {"text": "teh plan", "log": ["drafted"]}
    [wait] = view.open_waits
    assert wait.request_id == request.request_id
    assert isinstance(wait.prompt, InputRequiredEvent)  # decoded as the client's events
    assert wait.prompt.prefix == "publish teh plan?"
    assert (await client.checkpoint(handle.run_id, waiting.seq)).checkpoint == waiting

    edit = await client.update_state(
        handle.run_id, patch={"text": "the plan"}, reason="typo", by="ann"
    )
    assert (edit.causes, edit.by, edit.reason) == (("edit",), "ann", "typo")
    await client.respond(request.request_id, "yes")
    assert await handle == "the plan:yes"

    fork = await client.fork(handle.run_id, waiting.checkpoint_id, reason="try no", by="bea")
    assert fork.run_id != handle.run_id
    lineage = await client.lineage(fork.run_id)
    assert lineage.forked_from is not None
    assert (lineage.forked_from.parent_run_id, lineage.forked_from.parent_seq) == (
        handle.run_id,
        waiting.seq,
    )
    assert [link.run_id for link in (await client.lineage(handle.run_id)).forks] == [fork.run_id]
    [start] = await client.checkpoints(fork.run_id)
    assert (start.causes, start.by, start.forked_from) == (("fork",), "bea", waiting.checkpoint_id)
    await client.respond((await asked(client, fork.run_id)).request_id, "no")
    assert await fork == "teh plan:no"
    assert await handle == "the plan:yes"  # untouched


async def test_refusals_are_the_engines_classes(client: WorkflowClient) -> None:
    handle = await client.start("typed", text="one two")
    request = await asked(client, handle.run_id)
    with pytest.raises(WorkflowValidationError, match="words"):
        await client.update_state(handle.run_id, patch={"words": "many"})
    with pytest.raises(WorkflowValidationError, match="exactly one"):
        await client.update_state(handle.run_id)
    with pytest.raises(CheckpointNotFoundError) as missing:
        await client.checkpoint(handle.run_id, 10_000)
    assert missing.value.run_id == handle.run_id
    with pytest.raises(RunNotFoundError):
        await client.checkpoints("nope")
    await client.respond(request.request_id, "yes")
    assert await handle == "one two/2:yes"
    with pytest.raises(RunFinishedError):
        await client.update_state(handle.run_id, replace={"text": "x", "words": 1})
    end = (await client.checkpoints(handle.run_id))[-1]
    with pytest.raises(CheckpointNotForkableError, match="end of the run"):
        await client.fork(handle.run_id, end.seq)
    with pytest.raises(ValueError, match="non-printable"):
        await client.fork(handle.run_id, end.seq, by="bad\nname")  # checked before sending
