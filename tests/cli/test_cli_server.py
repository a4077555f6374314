"""``workflows serve`` in a subprocess, and ``runs``/``inbox``/``respond`` against it."""

from __future__ import annotations

import asyncio
import getpass
import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import aclosing

import pytest

from _wait import until
from _webhook_receiver import Receiver
from workflows.client import WorkflowClient
from workflows.events import InputRequiredEvent

from .conftest import Cli, serving


@pytest.fixture
def served(cli: Cli) -> Iterator[str]:
    """``workflows serve flows:ALL`` on a free port; yields its URL once it listens."""
    with serving(cli, "flows:ALL", "--store", cli.store, "--max-body", "4096") as url:
        yield url


@pytest.fixture
def waiting_expense(cli: Cli) -> Iterator[tuple[str, str]]:
    """``workflows serve`` of the example app (token ``s3cret``) with one run of
    ``expense`` (ada, 5) started by ``workflows run --no-input``: its URL and run id."""
    target = cli.add_example()
    cli.env["WORKFLOWS_TOKEN"] = "s3cret"
    with serving(cli, target, "--store", cli.store) as url:
        started = cli(
            "run", "expense", "--url", url, "--arg", "employee=ada", "--arg", "amount=5",
            "--no-input",
        )  # fmt: skip
        assert started.code == 0, started.err
        (run,) = json.loads(cli("runs", "--url", url, "--json").out)
        yield url, run["run_id"]


async def start_and_wait_for_prompt(url: str) -> str:
    async with WorkflowClient(url, "s3cret") as client:
        handle = await client.start("approval", amount=3)
        async with aclosing(handle.stream_events()) as stream:
            async for event in stream:
                if isinstance(event, InputRequiredEvent):
                    break
        return handle.run_id


async def result_of(url: str, run_id: str) -> object:
    async with WorkflowClient(url, "s3cret") as client:
        return await client.get(run_id)


def test_commands_against_a_server(cli: Cli, served: str) -> None:
    run_id = asyncio.run(start_and_wait_for_prompt(served))
    cli.env["WORKFLOWS_TOKEN"] = "s3cret"

    inbox = cli("inbox", "--url", served, "--json")
    assert inbox.code == 0, inbox.err
    (request,) = json.loads(inbox.out)
    assert request["run_id"] == run_id and request["prompt_text"] == "Approve 3?"

    runs = cli("runs", "--url", served, "--status", "waiting", "--json")
    assert [r["run_id"] for r in json.loads(runs.out)] == [run_id]

    answered = cli(
        "respond", request["request_id"], "--json", '{"approved": true}', "--url", served
    )
    assert answered.code == 0, answered.err
    assert asyncio.run(result_of(served, run_id)) == {"amount": 3, "approved": True, "note": ""}
    again = cli("respond", request["request_id"], "--json", '{"approved": true}', "--url", served)
    assert "already answered" in again.err

    denied = cli("runs", "--url", served, "--token", "wrong")
    assert denied.code == 1 and len(denied.err_lines) == 1
    assert "unauthorized" in denied.err


def test_serve_applies_its_body_limit(served: str) -> None:
    import httpx

    body = {"input": {"note": "x" * 5000}}
    response = httpx.post(
        f"{served}/workflows/approval/runs",
        json=body,
        headers={"Authorization": "Bearer s3cret"},
    )
    assert response.status_code == 413, response.text
    assert "4096" in response.text


def test_run_on_a_server(cli: Cli) -> None:
    target = cli.add_example()
    cli.env["WORKFLOWS_TOKEN"] = "s3cret"
    with serving(cli, target, "--store", cli.store) as url:
        result = cli(
            "run",
            "expense",  # the server's name for it
            "--url",
            url,
            "--arg",
            "employee=ada",
            "--arg",
            "amount=420",
            input="perhaps\nn\nno receipt\n",
        )
        assert result.code == 0, result.err
        assert f"of expense on {url}" in result.err
        assert "'perhaps' is not a valid boolean" in result.out + result.err
        assert result.out.rstrip().endswith("rejected 420.00 for ada: no receipt")

        # MODULE:ATTR names the same workflow; --no-input leaves the run waiting.
        left = cli(
            "run", f"{target}.expense", "--url", url, "--arg", "employee=bob",
            "--arg", "amount=3", "--no-input",
        )  # fmt: skip
        assert left.code == 0, left.err
        assert f"--url {url}" in left.err_lines[-1]
        (request,) = json.loads(cli("inbox", "--url", url, "--json").out)
        assert request["prompt_text"] == "Approve 3.00 for bob?"

        typo = cli("run", "expnse", "--url", url)
        assert typo.code == 2 and len(typo.err_lines) == 1
        assert "no workflow 'expnse' (did you mean 'expense'?); it runs: expense" in typo.err
        bad = cli("run", "expense", "--url", url, "--arg", "employee=ada", "--arg", "amount=0")
        assert bad.code == 2 and len(bad.err_lines) == 1, bad.err
        assert "amount: Input should be greater than 0" in bad.err
        assert len(json.loads(cli("runs", "--url", url, "--json").out)) == 2  # none was made


def test_show_events_and_cancel_on_a_server(cli: Cli, waiting_expense: tuple[str, str]) -> None:
    url, run_id = waiting_expense
    shown = cli("show", run_id[:6], "--url", url)
    assert shown.code == 0, shown.err
    assert f"run       {run_id}" in shown.out and "status    waiting" in shown.out
    assert f"{run_id}:1  pending" in shown.out
    events = cli("events", run_id, "--url", url)  # what is there now, then it stops
    assert events.code == 0, events.err
    assert events.out.splitlines() == ["[1] InputRequiredEvent Approve 5.00 for ada?"]

    follower = cli.popen("events", run_id, "--url", url, "--follow", "--json")
    try:
        cancelled = cli("cancel", run_id, "--url", url)
        assert cancelled.code == 0, cancelled.err
        assert f"cancelled run {run_id}" in cancelled.err
        out, err = follower.communicate(timeout=30)
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    types = [json.loads(line)["type"] for line in out.splitlines()]
    assert types == ["InputRequiredEvent", "WorkflowCancelledEvent"]
    assert "run cancelled" in err

    details = json.loads(cli("show", run_id, "--url", url, "--json").out)
    assert details["run"]["status"] == "cancelled"
    assert [r["status"] for r in details["requests"]] == ["cancelled"]
    again = cli("cancel", run_id, "--url", url)
    assert again.code == 0 and "already finished (cancelled)" in again.err
    missing = cli("show", "nope", "--url", url)
    assert missing.code == 1 and missing.err_lines == ["error: run 'nope' not found"]


def test_auth_errors_name_the_options(cli: Cli, served: str) -> None:
    for args in (["runs"], ["show", "x"], ["events", "x"], ["cancel", "x"], ["run", "add"]):
        result = cli(*args, "--url", served)
        assert result.code == 1 and len(result.err_lines) == 1, result.err
        assert result.err.startswith("error: unauthorized: ")
        assert "--token or the WORKFLOWS_TOKEN environment variable" in result.err
        assert "token=" not in result.err


def test_a_run_started_here_continues_on_the_server(cli: Cli) -> None:
    """`workflows run app:WORKFLOWS.expense` stores the run under the name the server
    gives the workflow (`expense`), so the server can continue it."""
    target = cli.add_example()
    started = cli(
        "run", f"{target}.expense", "--store", cli.store, "--arg", "employee=ada",
        "--arg", "amount=42", "--no-input",
    )  # fmt: skip
    assert started.code == 0, started.err
    with serving(cli, target, "--store", cli.store) as url:
        cli.env["WORKFLOWS_TOKEN"] = "s3cret"
        (request,) = json.loads(cli("inbox", "--url", url, "--json").out)
        assert request["workflow"] == "expense"
        answered = cli(
            "respond", request["request_id"], "--json", '{"approved": true}', "--url", url
        )
        assert answered.code == 0, answered.err
        assert asyncio.run(result_of(url, request["run_id"])) == "approved 42.00 for ada"


def test_serve_refuses_a_port_in_use(cli: Cli) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = cli("serve", "flows:ALL", "--store", cli.store, "--port", str(port))
    assert result.code == 1, result.err
    assert result.err_lines == [
        f"error: cannot listen on 127.0.0.1:{port}: address already in use (is another "
        "server running there? choose another --port)"
    ]


def test_serve_exits_non_zero_when_the_server_cannot_start(cli: Cli) -> None:
    """When the port is taken after the check (a race), uvicorn logs why and the
    command exits 1 with one line, without asyncio's traceback."""
    code = (
        "import sys; import workflows.cli._serve as s; s.check_port_free = lambda h, p: None; "
        "from workflows.cli import main; main(sys.argv[1:])"
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-c", code, "serve", "flows:ALL", "--store", cli.store,
             "--port", str(port)],
            cwd=cli.cwd, env=cli.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "address already in use" in done.stderr  # uvicorn's own line
    assert done.stderr.strip().splitlines()[-1] == "error: the server could not start (see above)"
    assert "Traceback" not in done.stderr and "never retrieved" not in done.stderr


def test_the_server_refuses_invalid_start_input_in_one_line(cli: Cli) -> None:
    import httpx

    target = cli.add_example()
    with serving(cli, target, "--store", cli.store, token=None) as url:
        response = httpx.post(
            f"{url}/workflows/expense/runs", json={"input": {"employee": "", "amount": "abc"}}
        )
        assert response.status_code == 422, response.text
        message = response.json()["error"]["message"]
        assert "employee" in message and "must not be empty" in message
        assert "amount: Input should be a valid number" in message
        assert "\n" not in message and "errors.pydantic.dev" not in message
        assert httpx.get(f"{url}/runs").json()["runs"] == []


def test_respond_on_a_server_records_who_answered_and_show_says_so(
    cli: Cli, waiting_expense: tuple[str, str]
) -> None:
    url, run_id = waiting_expense
    # The server has a token; a token is no identity: the user name is what is recorded.
    body = json.dumps({"approved": True, "reason": "fine"})
    answered = cli("respond", f"{run_id}:1", "--json", body, "--url", url)  # no --as
    assert answered.code == 0, answered.err

    shown = cli("show", run_id, "--url", url)
    assert shown.code == 0, shown.err
    assert f"    by        {getpass.getuser()}" in shown.out
    assert re.search(r"^  employee  ada$", shown.out, re.M), shown.out
    assert re.search(r"answered  \S+ \S+ \(after [\d.]+s\)", shown.out), shown.out
    details = json.loads(cli("show", run_id, "--url", url, "--json").out)
    (request,) = details["requests"]
    assert request["answered_by"] == getpass.getuser()
    assert request["answered_at"] >= request["created_at"]
    assert details["run"]["input"]["data"]["employee"] == "ada"


async def test_serve_sends_webhooks(cli: Cli) -> None:
    async with Receiver("hook-secret") as receiver:
        cli.env["HOOK_SECRET"] = "hook-secret"
        hook = f"{receiver.url}/tasks"
        args = ("flows:ALL", "--store", cli.store, "--webhook", hook)
        with serving(cli, *args, "--webhook-secret-env", "HOOK_SECRET") as url:
            async with WorkflowClient(url, "s3cret") as client:
                handle = await client.start("approval", amount=3)
                await until(receiver.accepted, "a webhook message")
    [message] = receiver.accepted()
    assert message.path == "/tasks" and message.verified
    assert message.json["type"] == "request.created"
    assert message.json["request"]["run_id"] == handle.run_id


def test_serve_refuses_a_webhook_without_its_secret(cli: Cli) -> None:
    result = cli("serve", "flows:ALL", "--webhook", "http://127.0.0.1:9/x")
    assert result.code == 2
    assert "WORKFLOWS_WEBHOOK_SECRET" in result.err and "not set" in result.err
    cli.env["WORKFLOWS_WEBHOOK_SECRET"] = "s"
    result = cli("serve", "flows:ALL", "--webhook", "ftp://example.com/x")
    assert result.code == 2 and "http(s) URL" in result.err
