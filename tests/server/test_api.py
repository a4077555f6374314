"""Every endpoint over real loopback HTTP on a SQLite file, including the errors."""

from __future__ import annotations

import httpx

from ._helpers import assert_error, finished_run, pending_requests, started_run


async def test_health_and_openapi(client: httpx.AsyncClient) -> None:
    body = (await client.get("/health")).json()
    assert (body["status"], body["store"]) == ("ok", "sqlite")
    assert body["engine"]["engine"] == "open"
    assert body["engine"]["components"]["writer"] == {"state": "running", "backlog": 0}
    assert body["engine"]["components"]["listener"]["state"] == "off"  # SQLite: nothing to hear
    document = (await client.get("/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    assert "/runs/{run_id}/events" in document["paths"]
    assert "RunOut" in document["components"]["schemas"]


async def test_workflows(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/workflows")).json()["workflows"]
    assert [w["name"] for w in listed] == ["approval", "chatty", "double", "nudged"]
    nudged = (await client.get("/workflows/nudged")).json()
    assert nudged["response_schema"]["properties"]["value"]["type"] == "integer"
    assert "Nudge" in nudged["event_types"]
    assert nudged["mermaid"].startswith("flowchart")
    assert nudged["start_schema"]["type"] == "object"
    assert_error(await client.get("/workflows/nope"), 404, "unknown_workflow")


async def test_start_prompt_respond_result(client: httpx.AsyncClient) -> None:
    run = await started_run(client, "approval", amount=420)
    assert run["workflow"] == "approval" and run["status"] in ("running", "waiting")
    [request] = await pending_requests(client, run_id=run["run_id"])
    assert request["prompt"]["type"] == "InputRequiredEvent"
    assert request["prompt"]["data"]["prefix"] == "Approve 420?"
    assert request["status"] == "pending" and request["response"] is None
    assert (await client.get(f"/requests/{request['request_id']}")).json() == request

    url = f"/requests/{request['request_id']}/response"
    answer = await client.post(url, json={"response": "yes"}, headers={"Idempotency-Key": "k1"})
    assert answer.json() == {"accepted": True, "duplicate": False}
    again = await client.post(url, json={"response": "yes"}, headers={"Idempotency-Key": "k1"})
    assert again.json() == {"accepted": True, "duplicate": True}
    same_body = await client.post(url, json={"response": "yes"})
    assert same_body.json() == {"accepted": True, "duplicate": True}
    assert_error(await client.post(url, json={"response": "no"}), 409, "request_already_answered")

    done = await finished_run(client, run["run_id"])
    assert done["status"] == "completed"
    assert done["result"] == {"amount": 420, "verdict": "yes"}
    assert done["error"] is None
    answered = (await client.get("/requests", params={"status": "answered"})).json()
    assert [r["request_id"] for r in answered["requests"]] == [request["request_id"]]
    assert (await client.get("/requests")).json() == {"requests": [], "next_cursor": None}


async def test_respond_errors(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/requests/nope/response", json={}), 404, "request_not_found")
    run = await started_run(client, "nudged")
    [request] = await pending_requests(client, run_id=run["run_id"])
    url = f"/requests/{request['request_id']}/response"
    assert_error(await client.post(url, json={"value": "many"}), 422, "invalid_response")
    assert_error(await client.post(url, json=[1, 2]), 422, "invalid_response")
    assert_error(await client.post(url, content=b"{not json"), 400, "malformed_json")
    assert_error(await client.post(url, content=b""), 400, "body_required")
    assert_error(
        await client.post(url, json={"value": 1}, headers={"Idempotency-Key": ""}),
        400,
        "bad_parameter",
    )
    assert (await client.post(url, json={"value": 41})).json()["duplicate"] is False
    assert (await finished_run(client, run["run_id"]))["result"] == 42
    # The run finished: a request of a cancelled run is closed.
    run = await started_run(client, "approval")
    [request] = await pending_requests(client, run_id=run["run_id"])
    assert (await client.post(f"/runs/{run['run_id']}/cancel")).status_code == 200
    url = f"/requests/{request['request_id']}/response"
    assert_error(await client.post(url, json={"response": "late"}), 409, "request_closed")
    closed = (await client.get(f"/requests/{request['request_id']}")).json()
    assert closed["status"] == "cancelled"


async def test_wait_for_result(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/workflows/double/runs", params={"wait": "true"}, json={"input": {"x": 21}}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "completed" and response.json()["result"] == 42
    timed_out = await client.post(
        "/workflows/approval/runs", params={"wait": "true", "timeout": "0.2"}
    )
    assert timed_out.status_code == 200
    assert timed_out.json()["status"] in ("running", "waiting")
    no_body = await client.post("/workflows/double/runs")
    assert no_body.status_code == 201


async def test_start_errors(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/workflows/nope/runs"), 404, "unknown_workflow")
    url = "/workflows/double/runs"
    assert_error(await client.post(url, content=b"[1,"), 400, "malformed_json")
    assert_error(await client.post(url, content=b'{"input": NaN}'), 422, "json_bad_number")
    assert_error(await client.post(url, json={"input": 3}), 422, "validation_failed")
    assert_error(await client.post(url, json={"other": 3}), 422, "validation_failed")
    assert_error(await client.post(url, params={"wait": "maybe"}), 400, "bad_parameter")
    assert_error(await client.post(url, params={"timeout": "-1"}), 400, "bad_parameter")
    assert_error(await client.post(url, params={"timeout": "nan"}), 400, "bad_parameter")


async def test_list_and_get_runs(client: httpx.AsyncClient) -> None:
    first = await started_run(client, "double", x=1)
    second = await started_run(client, "approval")
    await finished_run(client, first["run_id"])
    runs = (await client.get("/runs")).json()["runs"]
    assert [r["run_id"] for r in runs] == [second["run_id"], first["run_id"]]
    only = (await client.get("/runs", params={"workflow": "double"})).json()["runs"]
    assert [r["run_id"] for r in only] == [first["run_id"]]
    completed = (await client.get("/runs", params={"status": "completed"})).json()["runs"]
    assert [r["run_id"] for r in completed] == [first["run_id"]]
    page = (await client.get("/runs", params={"limit": 1, "offset": 1})).json()["runs"]
    assert [r["run_id"] for r in page] == [first["run_id"]]
    got = (await client.get(f"/runs/{first['run_id']}")).json()
    assert got["result"] == 2 and got["status"] == "completed"
    assert_error(await client.get("/runs/nope"), 404, "run_not_found")
    for params in (
        {"limit": 0},
        {"limit": 1001},
        {"limit": "x"},
        {"offset": -1},
        {"status": "sleeping"},
    ):
        assert_error(await client.get("/runs", params=params), 400, "bad_parameter")
    for params in ({"status": "weird"}, {"limit": "0"}):
        assert_error(await client.get("/requests", params=params), 400, "bad_parameter")


async def test_send_event(client: httpx.AsyncClient) -> None:
    run = await started_run(client, "nudged")
    await pending_requests(client, run_id=run["run_id"])
    url = f"/runs/{run['run_id']}/events"
    assert_error(await client.post(url, json={"type": "Nope"}), 422, "unknown_event_type")
    assert_error(
        await client.post(url, json={"type": "Nudge", "data": {"value": "x"}}),
        422,
        "validation_failed",
    )
    assert_error(
        await client.post(url, json={"type": "Nudge", "data": {"value": 1}, "step": "nostep"}),
        422,
        "unknown_step",
    )
    assert_error(await client.post(url, json={"data": {}}), 422, "validation_failed")
    assert_error(await client.post(url, content=b"nope"), 400, "malformed_json")
    assert_error(
        await client.post("/runs/nope/events", json={"type": "Nudge"}), 404, "run_not_found"
    )
    sent = await client.post(url, json={"type": "Nudge", "data": {"value": 1}, "step": "take"})
    assert sent.status_code == 202 and sent.json() == {"accepted": True}
    assert (await finished_run(client, run["run_id"]))["result"] == 2
    assert_error(
        await client.post(url, json={"type": "Nudge", "data": {"value": 1}}), 409, "run_finished"
    )


async def test_send_builtin_event_by_type_key(client: httpx.AsyncClient) -> None:
    run = await started_run(client, "approval", amount=5)
    await pending_requests(client, run_id=run["run_id"])
    sent = await client.post(
        f"/runs/{run['run_id']}/events",
        json={"type": "workflows.events.HumanResponseEvent", "data": {"response": "ok"}},
    )
    assert sent.status_code == 202
    assert (await finished_run(client, run["run_id"]))["result"]["verdict"] == "ok"


async def test_cancel(client: httpx.AsyncClient) -> None:
    run = await started_run(client, "approval")
    await pending_requests(client, run_id=run["run_id"])
    cancelled = await client.post(f"/runs/{run['run_id']}/cancel")
    assert cancelled.status_code == 200
    body = cancelled.json()
    assert body["status"] == "cancelled"
    assert body["error"]["type"] == "WorkflowCancelledByUser"
    assert_error(await client.post(f"/runs/{run['run_id']}/cancel"), 409, "run_finished")
    assert_error(await client.post("/runs/nope/cancel"), 404, "run_not_found")


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/nowhere"), 404, "not_found")
    assert_error(await client.delete("/runs"), 405, "method_not_allowed")
    assert_error(await client.get("/requests/nope"), 404, "request_not_found")
