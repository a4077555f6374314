"""``workflows runs``, ``show``, ``events`` and ``cancel`` on a store (SQLite and
PostgreSQL), through subprocesses."""

from __future__ import annotations

import json
import re
import time

from .conftest import Cli, Result


def start_waiting(cli: Cli, store: str, employee: str = "ada", amount: str = "420") -> str:
    """Start the example's run, leave it waiting; return its run id."""
    target = cli.add_example() + ".expense"
    result = cli(
        "run",
        target,
        "--arg",
        f"employee={employee}",
        "--arg",
        f"amount={amount}",
        "--store",
        store,
        "--no-input",
    )
    assert result.code == 0, result.err
    match = re.search(r"started run (\w+) of expense", result.err)
    assert match, result.err
    return match.group(1)


def answer(cli: Cli, store: str, run_id: str, approved: bool = True, *more: str) -> Result:
    body = json.dumps({"approved": approved, "reason": "ok"})
    return cli(
        "respond",
        f"{run_id}:1",
        "--json",
        body,
        "--store",
        store,
        "--app",
        "app.py:WORKFLOWS",
        *more,
    )


def test_runs_show_and_events_of_a_run(cli: Cli, store: str) -> None:
    run_id = start_waiting(cli, store)

    table = cli("runs", "--store", store)
    assert table.code == 0, table.err
    header, row = table.out.splitlines()
    assert header.split() == ["RUN", "ID", "WORKFLOW", "STATUS", "AGE", "DURATION", "RESULT"]
    assert row.split()[:3] == [run_id, "expense", "waiting"]
    assert "\x1b[" not in table.out  # not a terminal: plain text

    shown = cli("show", run_id[:8], "--store", store)  # an abbreviated id
    assert shown.code == 0, shown.err
    top = [line for line in shown.out.splitlines() if line[:1] != " " and line != "requests:"]
    fields = dict(line.split(None, 1) for line in top)
    assert fields["run"] == run_id and fields["workflow"] == "expense"
    assert fields["status"] == "waiting" and fields["events"].startswith("1 ")
    assert f"  {run_id}:1  pending" in shown.out
    assert "prompt    Approve 420.00 for ada?" in shown.out
    # The start input, one field a line under its event type.
    assert re.search(r"^input     \w+$", shown.out, re.M), shown.out
    assert re.search(r"^  employee  ada$", shown.out, re.M), shown.out
    assert re.search(r"^  amount\s+420(\.0)?$", shown.out, re.M), shown.out

    refused = answer(cli, store, run_id, True, "--as", "bad\x07name")
    assert refused.code == 2 and "--as" in refused.err and "U+0007" in refused.err
    assert answer(cli, store, run_id, True, "--as", "Grace Hopper").code == 0

    shown = cli("show", run_id, "--store", store)
    assert "status    completed" in shown.out
    assert "result    approved 420.00 for ada: ok" in shown.out
    assert re.search(r"duration  [\d.]+s", shown.out), shown.out
    assert re.search(r"answered  \S+ \S+ \(after [\d.]+s\)", shown.out), shown.out
    assert "    by        Grace Hopper" in shown.out
    assert 'response  {"approved": true, "reason": "ok"}' in shown.out
    details = json.loads(cli("show", run_id, "--store", store, "--json").out)
    assert details["run"]["status"] == "completed" and details["events"] == 2
    assert details["run"]["duration"] >= 0
    (request,) = details["requests"]
    assert request["status"] == "answered" and request["answered_at"] >= request["created_at"]
    assert request["answered_by"] == "Grace Hopper"
    assert details["run"]["input"]["data"] == {"employee": "ada", "amount": 420.0}
    assert request["response"] == {"approved": True, "reason": "ok"}

    row = cli("runs", "--store", store).out.splitlines()[1]
    assert row.split()[2] == "completed" and row.endswith("approved 420.00 for ada: ok")

    events = cli("events", run_id, "--store", store)
    assert events.code == 0, events.err
    first, last = events.out.splitlines()
    assert first.startswith("[1] ") and first.endswith("InputRequiredEvent Approve 420.00 for ada?")
    assert last.startswith("[2] ") and last.endswith("StopEvent approved 420.00 for ada: ok")
    lines = [
        json.loads(line)
        for line in cli("events", run_id, "--store", store, "--json").out.splitlines()
    ]
    assert [(e["seq"], e["type"]) for e in lines] == [(1, "InputRequiredEvent"), (2, "StopEvent")]
    assert lines[0]["data"]["employee"] == "ada" and lines[1]["data"]["result"].startswith("appro")
    after = cli("events", run_id, "--store", store, "--after", "1", "--json").out.splitlines()
    assert [json.loads(line)["seq"] for line in after] == [2]


def test_events_follow_until_the_run_ends(cli: Cli, store: str) -> None:
    run_id = start_waiting(cli, store)
    follower = cli.popen("events", run_id, "--follow", "--store", store)
    try:
        time.sleep(1.0)  # it prints the first event and keeps looking
        assert follower.poll() is None
        assert answer(cli, store, run_id, approved=False).code == 0
        out, err = follower.communicate(timeout=30)
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    assert [line.split()[0] for line in out.splitlines()] == ["[1]", "[2]"]
    assert out.splitlines()[-1].endswith("rejected 420.00 for ada: ok")
    assert "run completed" in err


def test_cancel_a_waiting_run(cli: Cli, store: str) -> None:
    run_id = start_waiting(cli, store)
    stored = cli("cancel", run_id, "--store", store)
    assert stored.code == 0, stored.err
    assert "cancel stored" in stored.err and "still waiting" in stored.err
    # The engine that executes the run takes the cancel in: here, one loaded with --app.
    ended = cli("cancel", run_id, "--store", store, "--app", "app.py:WORKFLOWS")
    assert ended.code == 0, ended.err
    assert f"cancelled run {run_id}" in ended.err
    details = json.loads(cli("show", run_id, "--store", store, "--json").out)
    assert details["run"]["status"] == "cancelled"
    assert [r["status"] for r in details["requests"]] == ["cancelled"]
    again = cli("cancel", run_id, "--store", store)
    assert again.code == 0 and "already finished (cancelled)" in again.err
    assert cli("inbox", "--store", store, "--json").out.strip() == "[]"

    other = start_waiting(cli, store, "bob", "7")
    at_once = cli("cancel", other[:10], "--store", store, "--app", "app.py:WORKFLOWS")
    assert at_once.code == 0 and f"cancelled run {other}" in at_once.err
    assert "cancelled" in cli("show", other, "--store", store).out


def test_unknown_and_ambiguous_run_ids(cli: Cli, store: str) -> None:
    start_waiting(cli, store)
    start_waiting(cli, store, "bob", "1")
    for command in ("show", "events", "cancel"):
        missing = cli(command, "nope", "--store", store)
        assert missing.code == 1 and missing.err_lines == ["error: run 'nope' not found"]
        several = cli(command, "", "--store", store)
        assert several.code == 2, several.err
        assert "is the start of 2 run ids" in several.err


def test_a_misspelled_workflow_filter_is_pointed_out(cli: Cli, store: str) -> None:
    start_waiting(cli, store)
    result = cli("runs", "--store", store, "--workflow", "expnse")
    assert result.code == 0
    assert result.err_lines == [
        "no runs",
        "note: no workflow named 'expnse' here (did you mean 'expense'?)",
    ]
    inbox = cli("inbox", "--store", store, "--workflow", "expens")
    assert "(did you mean 'expense'?)" in inbox.err
