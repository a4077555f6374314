"""``workflows history`` and ``workflows fork``, through subprocesses: on a store
(SQLite and PostgreSQL) with the run's workflow loaded by ``--app``, and against
``workflows serve --history all``."""

from __future__ import annotations

import asyncio
import json
import re

from _wait import until
from workflows.client import WorkflowClient

from .conftest import Cli, Result, serving

APP = "app.py:WORKFLOWS"


def _ok(result: Result) -> Result:
    assert result.code == 0, result.err
    return result


def _checkpoints(cli: Cli, run_id: str, *where: str) -> list[dict[str, object]]:
    listed = json.loads(_ok(cli("history", run_id, *where, "--json")).out)
    assert listed["run_id"] == run_id
    checkpoints: list[dict[str, object]] = listed["checkpoints"]
    return checkpoints


def test_history_and_fork_on_a_store(cli: Cli, store: str) -> None:
    target = cli.add_example() + ".expense"
    started = _ok(
        cli(
            "run", target, "--arg", "employee=ada", "--arg", "amount=420",
            "--store", store, "--no-input", "--history", "all",
        )
    )  # fmt: skip
    match = re.search(r"started run (\w+) of expense", started.err)
    assert match, started.err
    run_id = match.group(1)

    table = _ok(cli("history", run_id[:8], "--store", store)).out.splitlines()
    assert table[0].split() == ["SEQ", "AT", "STATUS", "CAUSES", "BY"]
    assert table[-1].split()[3] == "waiting"  # SEQ, date, time, STATUS
    waiting = _checkpoints(cli, run_id, "--store", store)[-1]
    assert waiting["status"] == "waiting"
    seq = str(waiting["seq"])

    needs_app = cli("history", run_id, seq, "--store", store)
    assert needs_app.code == 2 and "--app" in needs_app.err, needs_app.err
    shown = _ok(cli("history", run_id, seq, "--store", store, "--app", APP)).out
    assert f"checkpoint {run_id}:c{seq}" in shown and "status     waiting" in shown
    assert '{"claim": {"employee": "ada", "amount": 420.0}}' in shown
    view = json.loads(
        _ok(cli("history", run_id, seq, "--store", store, "--app", APP, "--json")).out
    )
    assert view["state"] == {"claim": {"employee": "ada", "amount": 420.0}}
    assert view["checkpoint"]["checkpoint_id"] == waiting["checkpoint_id"]
    assert view["open_waits"] == []  # a prompt returned by a step, not a wait_for_event

    answer = json.dumps({"approved": True, "reason": "ok"})
    respond = ("respond", f"{run_id}:1", "--json", answer, "--store", store, "--app", APP)
    _ok(cli(*respond, "--history", "all"))
    assert _checkpoints(cli, run_id, "--store", store)[-1]["status"] == "completed"

    patch = json.dumps({"claim": {"employee": "ada", "amount": 90}})
    forked = cli(
        "fork", run_id, str(waiting["checkpoint_id"]), "--store", store, "--app", APP,
        "--patch", patch, "--reason", "lower", "--as", "grace",
    )  # fmt: skip
    _ok(forked)
    fork_id = forked.out.strip()
    assert fork_id and fork_id != run_id
    assert f"as run {fork_id} (waiting)" in forked.err
    [first] = _checkpoints(cli, fork_id, "--store", store)
    assert (first["causes"], first["by"], first["reason"]) == (["fork"], "grace", "lower")
    fork_table = _ok(cli("history", fork_id, "--store", store)).out
    assert f"forked from {run_id}:c{seq}" in fork_table and "by grace (lower)" in fork_table
    assert (
        f"forked as {fork_id} from checkpoint {seq}" in cli("history", run_id, "--store", store).out
    )

    _ok(cli("respond", f"{fork_id}:1", "--json", answer, "--store", store, "--app", APP))
    assert json.loads(cli("show", fork_id, "--store", store, "--json").out)["run"]["result"] == (
        "approved 90.00 for ada: ok"
    )
    original = json.loads(cli("show", run_id, "--store", store, "--json").out)["run"]
    assert original["result"] == "approved 420.00 for ada: ok"  # untouched

    end = _checkpoints(cli, run_id, "--store", store)[-1]
    refused = cli("fork", run_id, str(end["seq"]), "--store", store, "--app", APP)
    assert refused.code == 1 and "cannot be forked" in refused.err, refused.err
    bad = cli("fork", run_id, seq, "--store", store, "--app", APP, "--patch", "[1]")
    assert bad.code == 2 and "--patch" in bad.err
    assert cli("fork", run_id, seq, "--store", store).code == 2  # the workflow is needed


def test_history_and_fork_against_a_server(cli: Cli) -> None:
    cli.env["WORKFLOWS_TOKEN"] = "s3cret"
    with serving(cli, "flows:ALL", "--store", cli.store, "--history", "all") as url:
        run_id, request_id = asyncio.run(_asked(url))
        table = _ok(cli("history", run_id, "--url", url)).out
        assert "waiting" in table.splitlines()[-1]
        waiting = _checkpoints(cli, run_id, "--url", url)[-1]
        seq = str(waiting["seq"])
        shown = _ok(cli("history", run_id, seq, "--url", url)).out
        assert '{"amount": 3}' in shown
        view = json.loads(_ok(cli("history", run_id, seq, "--url", url, "--json")).out)
        assert view["state"] == {"amount": 3}

        forked = _ok(cli("fork", run_id[:10], seq, "--url", url, "--as", "grace"))
        fork_id = forked.out.strip()
        assert f"as run {fork_id} (waiting)" in forked.err
        [first] = _checkpoints(cli, fork_id, "--url", url)
        assert (first["by"], first["forked_from"]) == ("grace", waiting["checkpoint_id"])
        assert f"forked from {run_id}:c{seq}" in cli("history", fork_id, "--url", url).out
        answer = json.dumps({"approved": False, "note": "fork"})
        _ok(cli("respond", fork_id + request_id[len(run_id) :], "--json", answer, "--url", url))
        done = json.loads(cli("show", fork_id, "--url", url, "--json").out)["run"]
        assert done["result"] == {"amount": 3, "approved": False, "note": "fork"}
        assert json.loads(cli("show", run_id, "--url", url, "--json").out)["run"]["status"] == (
            "waiting"  # the original still waits for its own answer
        )
        missing = cli("history", run_id, "9999", "--url", url)
        assert missing.code == 1 and "no checkpoint" in missing.err, missing.err
    refused = cli("serve", "flows:ALL", "--store", cli.store, "--history", "sometimes")
    assert refused.code == 2 and "--history" in refused.err, refused.err


async def _asked(url: str) -> tuple[str, str]:
    """Start an approval of 3 on the server; its run id and request id once it asks."""
    async with WorkflowClient(url, "s3cret") as client:
        handle = await client.start("approval", amount=3)
        [request] = await until(lambda: client.inbox(run_id=handle.run_id), "the run asks")
        return handle.run_id, request.request_id


def test_edit_then_answer_on_a_store(cli: Cli, store: str) -> None:
    target = cli.add_example() + ".expense"
    started = _ok(
        cli(
            "run", target, "--arg", "employee=ada", "--arg", "amount=420",
            "--store", store, "--no-input",
        )
    )  # fmt: skip
    match = re.search(r"started run (\w+) of expense", started.err)
    assert match, started.err
    run_id = match.group(1)
    patch = json.dumps({"claim": {"employee": "ada", "amount": 90}})
    needs_app = cli("edit", run_id, patch, "--store", store)
    assert needs_app.code == 2 and "--app" in needs_app.err, needs_app.err
    not_an_object = cli("edit", run_id, "[1]", "--store", store, "--app", APP)
    assert not_an_object.code == 2 and "JSON object" in not_an_object.err
    edit = ("edit", run_id[:8], patch, "--store", store, "--app", APP)
    edited = _ok(cli(*edit, "--reason", "receipt says 90", "--as", "grace"))
    assert f"changed the state of {run_id[:8]}: checkpoint" in edited.out
    last = _checkpoints(cli, run_id, "--store", store)[-1]
    assert (last["causes"], last["by"], last["reason"]) == (["edit"], "grace", "receipt says 90")
    answer = json.dumps({"approved": True, "reason": "ok"})
    _ok(cli("respond", f"{run_id}:1", "--json", answer, "--store", store, "--app", APP))
    done = json.loads(cli("show", run_id, "--store", store, "--json").out)["run"]
    assert done["result"] == "approved 90.00 for ada: ok"
    finished = cli(*edit)
    assert finished.code == 1 and "is completed" in finished.err, finished.err


def test_edit_against_a_server(cli: Cli) -> None:
    cli.env["WORKFLOWS_TOKEN"] = "s3cret"
    with serving(cli, "flows:ALL", "--store", cli.store) as url:
        run_id, request_id = asyncio.run(_asked(url))
        edited = _ok(cli("edit", run_id, '{"amount": 5}', "--url", url, "--reason", "typo"))
        assert "checkpoint" in edited.out
        [edit] = [c for c in _checkpoints(cli, run_id, "--url", url) if c["causes"] == ["edit"]]
        assert edit["reason"] == "typo"
        answer = json.dumps({"approved": True, "note": "edited"})
        _ok(cli("respond", request_id, "--json", answer, "--url", url))
        done = json.loads(cli("show", run_id, "--url", url, "--json").out)["run"]
        assert done["result"] == {"amount": 5, "approved": True, "note": "edited"}
