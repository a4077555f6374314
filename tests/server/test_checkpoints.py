"""Time travel over HTTP: a run's checkpoints and one read back, a change of a waiting
run's state (who may, recorded with who and why), and forks; on a live server keeping
every commit (``history="all"``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from _live_server import LiveServer
from _review_flow import Review, TaskReview, TypedReview
from _served_flows import Approval
from _wait import TIMEOUT
from workflows import Workflow, step
from workflows.events import StartEvent, StopEvent

from ._helpers import assert_error, finished_run, pending_requests, started_run
from ._users import bearer, write_users

GATE = threading.Event()
"""Holds the ``held`` run in its step until set."""


class Held(Workflow):
    """Runs (does not wait) until :data:`GATE` is set."""

    @step
    async def hold(self, ev: StartEvent) -> StopEvent:
        await asyncio.to_thread(GATE.wait, TIMEOUT)
        return StopEvent(result="free")


def _workflows() -> dict[str, Workflow]:
    return {
        "approval": Approval(timeout=None),
        "review": Review(timeout=None),
        "typed": TypedReview(timeout=None),
        "task": TaskReview(timeout=None),
        "held": Held(timeout=None),
    }


@pytest.fixture
def served_workflows() -> Callable[[], dict[str, Workflow]]:
    return _workflows


@pytest.fixture
def server(start_server: Any, sqlite_url: str) -> LiveServer:
    """A server without auth that keeps every commit as a checkpoint."""
    live: LiveServer = start_server(sqlite_url, history="all")
    return live


@pytest.fixture
def released_gate() -> Iterator[None]:
    GATE.clear()
    yield
    GATE.set()  # never leave a step blocked, whatever the test did


async def _waiting(client: httpx.AsyncClient, name: str, **fields: Any) -> tuple[str, str]:
    """Start a run of ``name``; its id and its one request's id once it asks."""
    run_id = (await started_run(client, name, **fields))["run_id"]
    [request] = await pending_requests(client, run_id=run_id)
    return run_id, request["request_id"]


async def _checkpoints(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    response = await client.get(f"/runs/{run_id}/checkpoints")
    assert response.status_code == 200, response.text
    listed: dict[str, Any] = response.json()
    return listed


async def _answer(client: httpx.AsyncClient, request_id: str, text: str, **headers: str) -> None:
    response = await client.post(
        f"/requests/{request_id}/response", json={"response": text}, headers=headers
    )
    assert response.status_code == 200, response.text


# -- inspect --------------------------------------------------------------------------------


async def test_the_checkpoints_of_a_waiting_run_and_one_read_back(
    client: httpx.AsyncClient,
) -> None:
    run_id, request_id = await _waiting(client, "review", text="draft one")
    listed = await _checkpoints(client, run_id)
    assert (listed["forked_from"], listed["forks"]) == (None, [])
    history = listed["checkpoints"]
    assert [c["seq"] for c in history] == sorted({c["seq"] for c in history})
    waiting = history[-1]
    assert (waiting["status"], waiting["step"], waiting["causes"][-1]) == (
        "waiting",
        "review",
        "wait:review",
    )
    assert waiting["checkpoint_id"] == f"{run_id}:c{waiting['seq']}"
    assert (waiting["by"], waiting["reason"], waiting["forked_from"]) == (None, None, None)

    for ref in (waiting["checkpoint_id"], str(waiting["seq"])):
        response = await client.get(f"/runs/{run_id}/checkpoints/{ref}")
        assert response.status_code == 200, response.text
        view = response.json()
        assert view["checkpoint"] == waiting
        assert view["state"] == {"text": "draft one", "log": ["drafted"]}
        assert view["pending_events"] == [] and view["in_flight"] == []
        [wait] = view["open_waits"]
        assert (wait["step"], wait["request_id"]) == ("review", request_id)
        assert wait["waits_for"].endswith("HumanResponseEvent")
        assert wait["prompt"]["type"] == "InputRequiredEvent"
        assert wait["prompt"]["data"]["prefix"] == "publish draft one?"

    missing = f"/runs/{run_id}/checkpoints"
    assert_error(await client.get(f"{missing}/{waiting['seq'] + 100}"), 404, "checkpoint_not_found")
    assert_error(await client.get(f"{missing}/c1"), 404, "checkpoint_not_found")
    assert_error(await client.get(f"{missing}/other:c1"), 404, "checkpoint_not_found")
    assert_error(await client.get("/runs/nope/checkpoints"), 404, "run_not_found")
    assert_error(await client.get("/runs/nope/checkpoints/1"), 404, "run_not_found")

    await _answer(client, request_id, "yes")
    assert (await finished_run(client, run_id))["result"] == "draft one:yes"
    last = (await _checkpoints(client, run_id))["checkpoints"][-1]
    assert (last["status"], last["causes"][-1]) == ("completed", "end:StopEvent")
    view = (await client.get(f"/runs/{run_id}/checkpoints/{last['seq']}")).json()
    assert view["state"]["log"] == ["drafted", "yes"] and view["open_waits"] == []


# -- edit, then resume ------------------------------------------------------------------------


async def test_an_edit_before_the_answer_changes_the_result(client: httpx.AsyncClient) -> None:
    run_id, request_id = await _waiting(client, "approval", amount=5)
    edit = await client.post(
        f"/runs/{run_id}/state",
        json={"patch": {"amount": 7}, "reason": "typo"},
        headers={"X-Workflows-User": "ann"},
    )
    assert edit.status_code == 200, edit.text
    checkpoint = edit.json()
    assert (checkpoint["causes"], checkpoint["by"], checkpoint["reason"]) == (
        ["edit"],
        "ann",
        "typo",
    )
    assert checkpoint["status"] == "waiting"
    assert checkpoint in (await _checkpoints(client, run_id))["checkpoints"]
    view = (await client.get(f"/runs/{run_id}/checkpoints/{checkpoint['checkpoint_id']}")).json()
    assert view["state"] == {"amount": 7}
    # The same question, still pending; answered once.
    [still] = await pending_requests(client, run_id=run_id)
    assert still["request_id"] == request_id
    await _answer(client, request_id, "ok")
    assert (await finished_run(client, run_id))["result"] == {"amount": 7, "verdict": "ok"}
    after = await client.post(f"/runs/{run_id}/state", json={"patch": {"amount": 8}})
    assert_error(after, 409, "run_finished")


async def test_a_replaced_state_is_validated_by_its_type(client: httpx.AsyncClient) -> None:
    run_id, request_id = await _waiting(client, "typed", text="one two")
    state = f"/runs/{run_id}/state"
    assert_error(
        await client.post(state, json={"patch": {"words": "many"}}), 422, "validation_failed"
    )
    both = {"patch": {"words": 1}, "replace": {"text": "x", "words": 1}}
    assert_error(await client.post(state, json=both), 422, "validation_failed")
    assert_error(await client.post(state, json={"reason": "nothing"}), 422, "validation_failed")
    assert_error(await client.post(state, json={"patch": [1]}), 422, "validation_failed")
    assert_error(await client.post(state, json={"patch": {}, "by": "x"}), 422, "validation_failed")
    kept = (await _checkpoints(client, run_id))["checkpoints"]
    assert all(c["causes"] != ["edit"] for c in kept)  # nothing refused was written
    replaced = await client.post(state, json={"replace": {"text": "one two three", "words": 3}})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["by"] == "anonymous"  # no X-Workflows-User, no users file
    await _answer(client, request_id, "yes")
    assert (await finished_run(client, run_id))["result"] == "one two three/3:yes"


async def test_a_running_run_cannot_be_edited(
    client: httpx.AsyncClient, released_gate: None
) -> None:
    run_id = (await started_run(client, "held"))["run_id"]
    refused = await client.post(f"/runs/{run_id}/state", json={"patch": {"n": 1}})
    assert_error(refused, 409, "run_not_waiting")
    assert_error(await client.post("/runs/nope/state", json={"patch": {}}), 404, "run_not_found")
    GATE.set()
    assert (await finished_run(client, run_id))["result"] == "free"


async def test_only_who_may_answer_every_pending_request_may_edit(
    start_server: Any, sqlite_url: str, tmp_path: Path
) -> None:
    users = str(write_users(tmp_path / "users.toml"))  # ada (finance), bob (legal), root
    live = start_server(sqlite_url, users=users, history="all")

    def as_user(name: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=live.url, timeout=30, headers=bearer(name))

    async with as_user("root") as root, as_user("ada") as ada, as_user("bob") as bob:
        run_id, request_id = await _waiting(root, "task", text="plan")  # assigned to ada
        state = f"/runs/{run_id}/state"
        assert_error(await bob.post(state, json={"patch": {"text": "x"}}), 403, "forbidden")
        named = await ada.post(
            state, json={"patch": {"text": "x"}}, headers={"X-Workflows-User": "root"}
        )
        assert_error(named, 403, "forbidden")  # the header may only repeat the caller
        edit = await ada.post(state, json={"patch": {"text": "the plan"}, "reason": "typo"})
        assert edit.status_code == 200, edit.text
        assert (edit.json()["by"], edit.json()["reason"]) == ("ada", "typo")
        by_admin = await root.post(state, json={"patch": {"log": ["checked"]}})
        assert by_admin.json()["by"] == "root"
        # Anyone may read the history (as anyone may read runs) and fork.
        listed = (await bob.get(f"/runs/{run_id}/checkpoints")).json()["checkpoints"]
        assert [c["by"] for c in listed if c["causes"] == ["edit"]] == ["ada", "root"]
        fork = await bob.post(f"/runs/{run_id}/fork", json={"checkpoint": listed[-1]["seq"]})
        assert fork.status_code == 201, fork.text
        [start] = (await bob.get(f"/runs/{fork.json()['run_id']}/checkpoints")).json()[
            "checkpoints"
        ]
        assert start["by"] == "bob"
        await _answer(ada, request_id, "yes")
        assert (await finished_run(root, run_id))["result"] == "the plan:yes"


# -- fork -------------------------------------------------------------------------------------


async def test_a_fork_before_the_answer_gets_its_own_answer(client: httpx.AsyncClient) -> None:
    run_id, request_id = await _waiting(client, "approval", amount=5)
    waiting = (await _checkpoints(client, run_id))["checkpoints"][-1]
    await _answer(client, request_id, "yes")
    original = await finished_run(client, run_id)
    before = await _checkpoints(client, run_id)

    response = await client.post(
        f"/runs/{run_id}/fork",
        json={"checkpoint": waiting["checkpoint_id"], "reason": "try no"},
        headers={"X-Workflows-User": "bea"},
    )
    assert response.status_code == 201, response.text
    fork = response.json()
    assert fork["run_id"] != run_id
    assert (fork["workflow"], fork["status"]) == ("approval", "waiting")
    [asked] = await pending_requests(client, run_id=fork["run_id"])
    assert asked["request_id"] == fork["run_id"] + request_id[len(run_id) :]
    await _answer(client, asked["request_id"], "no")
    assert (await finished_run(client, fork["run_id"]))["result"] == {"amount": 5, "verdict": "no"}

    # The original is untouched; both ends of the link are listed.
    assert await finished_run(client, run_id) == original
    after = await _checkpoints(client, run_id)
    assert after["checkpoints"] == before["checkpoints"]
    [link] = after["forks"]
    assert (link["run_id"], link["parent_checkpoint_id"]) == (
        fork["run_id"],
        waiting["checkpoint_id"],
    )
    forked = await _checkpoints(client, fork["run_id"])
    assert forked["forked_from"] == link and forked["forks"] == []
    first = forked["checkpoints"][0]
    assert (first["seq"], first["causes"], first["by"], first["reason"]) == (
        0,
        ["fork"],
        "bea",
        "try no",
    )
    assert first["forked_from"] == waiting["checkpoint_id"]


async def test_a_fork_may_start_from_a_patched_state(client: httpx.AsyncClient) -> None:
    run_id, request_id = await _waiting(client, "approval", amount=5)
    waiting = (await _checkpoints(client, run_id))["checkpoints"][-1]
    fork = await client.post(
        f"/runs/{run_id}/fork", json={"checkpoint": waiting["seq"], "state_patch": {"amount": 99}}
    )
    assert fork.status_code == 201, fork.text
    fork_id = fork.json()["run_id"]
    [asked] = await pending_requests(client, run_id=fork_id)
    await _answer(client, asked["request_id"], "ok")
    await _answer(client, request_id, "ok")
    assert (await finished_run(client, fork_id))["result"] == {"amount": 99, "verdict": "ok"}
    assert (await finished_run(client, run_id))["result"] == {"amount": 5, "verdict": "ok"}

    end = (await _checkpoints(client, run_id))["checkpoints"][-1]
    path = f"/runs/{run_id}/fork"
    refused = await client.post(path, json={"checkpoint": end["checkpoint_id"]})
    assert_error(refused, 409, "checkpoint_not_forkable")
    gone = await client.post(path, json={"checkpoint": end["seq"] + 100})
    assert_error(gone, 404, "checkpoint_not_found")
    assert_error(await client.post(path, json={"checkpoint": -1}), 404, "checkpoint_not_found")
    assert_error(await client.post(path, json={}), 422, "validation_failed")
    assert_error(await client.post("/runs/nope/fork", json={"checkpoint": 1}), 404, "run_not_found")
    assert len((await _checkpoints(client, run_id))["forks"]) == 1  # refusals fork nothing


async def test_the_openapi_document_has_the_time_travel_endpoints(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    paths = document["paths"]
    assert set(paths["/runs/{run_id}/checkpoints"]) == {"get"}
    assert set(paths["/runs/{run_id}/checkpoints/{checkpoint}"]) == {"get"}
    assert paths["/runs/{run_id}/state"]["post"]["operationId"] == "updateRunState"
    fork = paths["/runs/{run_id}/fork"]["post"]
    assert fork["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/RunOut"
    )
    schemas = document["components"]["schemas"]
    assert {"CheckpointList", "CheckpointViewOut", "StateEditIn", "ForkIn"} <= set(schemas)
