"""The ``workflows`` command, through subprocesses."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from workflows.engine import Engine

from .conftest import Cli, Result


def assert_one_line_error(result: Result, code: int) -> str:
    assert result.code == code, (result.code, result.err)
    assert len(result.err_lines) == 1, result.err
    assert result.err_lines[0].startswith("error: ")
    assert "Traceback" not in result.err
    return result.err_lines[0]


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["worker"],
        ["run"],
        ["runs"],
        ["inbox"],
        ["show"],
        ["events"],
        ["history"],
        ["respond"],
        ["cancel"],
        ["fork"],
        ["edit"],
        ["claim"],
        ["unclaim"],
        ["assign"],
        ["users"],
        ["draw"],
        ["health"],
    ],
)
def test_help_everywhere(cli: Cli, command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.code == 0, result.err
    assert result.out.startswith("Usage: workflows")


def test_the_console_script_exists() -> None:
    script = Path(sys.executable).parent / "workflows"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "Commands:" in done.stdout


def test_missing_extra_gives_a_one_line_hint(cli: Cli) -> None:
    code = "import sys; sys.modules['click'] = None; from workflows.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, "--help"],
        capture_output=True,
        text=True,
        env=cli.env,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "pip install 'durable-workflows[server]'" in done.stderr
    assert "click" in done.stderr


def test_draw_prints_mermaid(cli: Cli) -> None:
    result = cli("draw", "flows:approval")
    assert result.code == 0, result.err
    assert result.out.startswith("flowchart")
    assert "step_decide" in result.out
    several = cli("draw", "flows:ALL")
    assert several.out.count("flowchart") == 3
    assert "%% hello" in several.out
    one = cli("draw", "flows:ALL.hello")  # a dict entry
    assert one.out.count("flowchart") == 1


def test_draw_html_without_network(cli: Cli) -> None:
    result = cli("draw", "flows:approval", "--html", "graph.html")
    assert result.code == 0, result.err
    page = (cli.cwd / "graph.html").read_text()
    assert '<pre class="mermaid">' in page
    assert "event_StartEvent --&gt; step_ask" in page
    assert "<script" not in page  # no local mermaid.js: the text is shown, nothing fetched
    (cli.cwd / "mermaid.min.js").write_text("window.mermaid = {initialize() {}};")
    result = cli(
        "draw", "flows:approval", "--html", "rendered.html", "--mermaid-js", "mermaid.min.js"
    )
    assert result.code == 0, result.err
    page = (cli.cwd / "rendered.html").read_text()
    assert "window.mermaid = {initialize() {}};" in page
    assert "mermaid.initialize({startOnLoad: true})" in page
    assert "src=" not in page


def test_run_without_prompts(cli: Cli) -> None:
    result = cli("run", "flows:ALL.add", "--arg", "a=2", "--arg", "b=40", "--store", "memory://")
    assert result.code == 0, result.err
    assert result.out.strip() == "42"
    assert "StopEvent" in result.err


def test_run_answers_a_plain_prompt_from_stdin(cli: Cli) -> None:
    result = cli("run", "flows:Hello", "--store", cli.store, input="Ada\n")
    assert result.code == 0, result.err
    assert "Your name?" in result.out
    assert result.out.rstrip().endswith("hello Ada")
    assert "[1] InputRequiredEvent Your name?" in result.err


def test_run_asks_typed_fields_one_by_one(cli: Cli) -> None:
    # "perhaps" is not a boolean: click asks again; the note has a default.
    result = cli(
        "run",
        "flows:approval",
        "--arg",
        "amount=420",
        "--store",
        cli.store,
        input="perhaps\nyes\n\n",
    )
    assert result.code == 0, result.err
    assert "Approve 420?" in result.out
    assert "Approved [y/n]" in result.out and "Note [" in result.out
    last = result.out.strip().splitlines()[-1]  # prompts are not followed by a newline
    assert json.loads(last[last.index('{"amount"') :]) == {
        "amount": 420,
        "approved": True,
        "note": "",
    }


def test_run_aborted_at_end_of_input_leaves_the_run_waiting(cli: Cli) -> None:
    result = cli("run", "flows:approval", "--arg", "amount=1", "--store", cli.store)
    assert result.code == 1
    assert result.err_lines[-1].startswith("error: aborted; run ")  # after the progress lines
    assert "stays waiting" in result.err_lines[-1]
    runs = json.loads(cli("runs", "--store", cli.store, "--json").out)
    assert [r["status"] for r in runs] == ["waiting"]


def test_runs_inbox_respond_on_a_local_store(cli: Cli) -> None:
    started = cli("run", "flows:approval", "--arg", "amount=7", "--store", cli.store, "--no-input")
    assert started.code == 0, started.err
    assert "waits for input" in started.err

    inbox = cli("inbox", "--store", cli.store, "--json")
    assert inbox.code == 0, inbox.err
    (request,) = json.loads(inbox.out)
    assert request["prompt_text"] == "Approve 7?"
    assert request["prompt"]["type"] == "InputRequiredEvent"
    table = cli("inbox", "--store", cli.store)
    assert request["request_id"] in table.out and "Approve 7?" in table.out
    request_id = request["request_id"]

    bad = cli("respond", request_id, '{"approved": "perhaps"}', "--json", "--store", cli.store)
    assert "is invalid: field 'approved'" in assert_one_line_error(bad, 1)

    answered = cli(
        "respond",
        request_id,
        '{"approved": true}',
        "--json",
        "--store",
        cli.store,
        "--app",
        "flows:approval",
        "--wait",
        "20",
    )
    assert answered.code == 0, answered.err
    assert json.loads(answered.out) == {"amount": 7, "approved": True, "note": ""}

    again = cli("respond", request_id, '{"approved": true}', "--json", "--store", cli.store)
    assert again.code == 0 and "already answered with this response" in again.err
    other = cli("respond", request_id, '{"approved": false}', "--json", "--store", cli.store)
    assert "different response" in assert_one_line_error(other, 1)

    runs = cli("runs", "--store", cli.store, "--json")
    assert [r["status"] for r in json.loads(runs.out)] == ["completed"]
    assert "completed" in cli("runs", "--store", cli.store).out
    assert cli("inbox", "--store", cli.store, "--json").out.strip() == "[]"
    assert cli("respond", "nope", "yes", "--store", cli.store).code == 1


def test_respond_stores_the_answer_for_the_next_engine(cli: Cli) -> None:
    cli("run", "flows:Hello", "--store", cli.store, "--no-input")
    (request,) = json.loads(cli("inbox", "--store", cli.store, "--json").out)
    result = cli("respond", request["request_id"], "Grace", "--store", cli.store)
    assert result.code == 0, result.err
    assert "answered" in result.err

    sys.path.insert(0, str(cli.cwd))
    try:
        import flows  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(cli.cwd))

    async def resume() -> object:
        async with Engine(cli.store, {"flows.Hello": flows.Hello(timeout=None)}) as engine:
            return await engine.get(request["run_id"])

    assert asyncio.run(resume()) == "hello Grace"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "flows"], "expected MODULE:ATTR"),
        (["run", "no_such_module:wf"], "cannot import module"),
        (["run", "flws:approval"], "(did you mean 'flows'?)"),
        (["run", "flows:missing"], "has no attribute"),
        (["run", "flows:aproval"], "has no attribute 'aproval' (did you mean 'approval'?)"),
        (["run", "flows:ALL.helo"], "flows:ALL has no entry 'helo' (did you mean 'hello'?)"),
        (["run", "flws.py:approval"], "no such file: flws.py (did you mean 'flows.py'?)"),
        (["run", "flows:NOT_A_WORKFLOW"], "not a Workflow"),
        (["run", "flows:ALL"], "names several workflows (add, approval, hello); name one"),
        (["run", "flows:approval", "--arg", "amount"], "expected KEY=VALUE"),
        (["run", "flows:approval", "--bogus"], "No such option"),
        (["runs", "--store", "nosuchscheme://x"], "unknown store URL scheme"),
        (["runs", "--store", "memory://", "--url", "http://x"], "not both"),
        (["inbox", "--url", "ftp://x"], "http(s)://"),
        (["run", "flows:ALL.add", "--url", "ftp://x"], "http(s)://"),
        (["run", "flows:ALL.add", "--url", "http://x", "--store", "memory://"], "not both"),
        (["runs", "--store", "memory://"], "memory:// keeps nothing between commands"),
        (["respond", "r:1", '{"approved": true'], "add --json"),
        (["respond", "r:1", "[1, 2]"], "add --json"),
        (["respond", "r:1", '{"approved": true', "--json"], "not valid JSON"),
        (["cancel", "r", "--url", "http://x", "--app", "flows:approval"], "only applies"),
        (["draw", "flows:approval", "--mermaid-js", "x.js"], "only applies with --html"),
        (["serve"], "Missing argument"),
        (["frobnicate"], "No such command"),
    ],
)
def test_usage_errors_exit_2_with_one_line(cli: Cli, args: list[str], fragment: str) -> None:
    line = assert_one_line_error(cli(*args), 2)
    assert fragment in line


def test_runtime_errors_exit_1_with_one_line(cli: Cli) -> None:
    (cli.cwd / "broken_mod.py").write_text("raise RuntimeError('cannot start')\n")
    line = assert_one_line_error(cli("draw", "broken_mod:x"), 1)
    assert "cannot start" in line
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    line = assert_one_line_error(cli("runs", "--url", f"http://127.0.0.1:{port}"), 1)
    assert "cannot reach" in line
