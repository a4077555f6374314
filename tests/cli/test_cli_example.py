"""The flagship example (``examples/approval_app.py``) through the ``workflows`` command:
typed start input checked before a run exists, typed answers, one-line errors."""

from __future__ import annotations

import json

import pytest

from .conftest import Cli, Result


def one_line_error(result: Result, code: int) -> str:
    """The single ``error: ...`` line of a failed command (no traceback, no URL)."""
    assert result.code == code, (result.code, result.out, result.err)
    assert len(result.err_lines) == 1, result.err
    line = result.err_lines[0]
    assert line.startswith("error: ")
    assert "Traceback" not in result.err and "never retrieved" not in result.err
    assert "errors.pydantic.dev" not in result.err and "For further information" not in line
    return line


def waiting_request(cli: Cli, store: str) -> dict[str, object]:
    (request,) = json.loads(cli("inbox", "--store", store, "--json").out)
    return request


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["amount=abc", "employee=ada"], ["amount: Input should be a valid number"]),
        (["amount=-5", "employee=ada"], ["amount: Input should be greater than 0"]),
        (["amount=5", "employee= "], ["employee: must not be empty"]),
        ([], ["employee: Field required", "amount: Field required"]),
    ],
)
def test_invalid_start_input_is_refused_before_a_run_exists(
    cli: Cli, args: list[str], fragments: list[str]
) -> None:
    target = cli.add_example() + ".expense"
    flags = [item for arg in args for item in ("--arg", arg)]
    line = one_line_error(cli("run", target, *flags, "--store", cli.store), 2)
    assert "ExpenseClaim" in line and "'--arg'" in line
    for fragment in fragments:
        assert fragment in line
    assert not (cli.cwd / "runs.db").exists(), "no store was touched, no run was made"


def test_run_asks_a_typed_answer_and_stores_runs_under_the_registry_name(cli: Cli) -> None:
    target = cli.add_example() + ".expense"
    # "Yes." is not a yes/no answer: asked again; then the reason.
    result = cli(
        "run",
        target,
        "--arg",
        "employee=ada",
        "--arg",
        "amount=420",
        "--store",
        cli.store,
        input="Yes.\ny\nwithin budget\n",
    )
    assert result.code == 0, result.err
    assert "Approve 420.00 for ada?" in result.out
    assert "'Yes.' is not a valid boolean" in result.out + result.err
    assert result.out.rstrip().endswith("approved 420.00 for ada: within budget")
    assert "started run " in result.err and " of expense" in result.err
    (run,) = json.loads(cli("runs", "--store", cli.store, "--json").out)
    assert run["workflow"] == "expense"  # the dict key, as `workflows serve app:WORKFLOWS`
    assert run["result"] == "approved 420.00 for ada: within budget"


def test_a_string_field_keeps_its_text(cli: Cli) -> None:
    target = cli.add_example() + ".expense"
    result = cli(
        "run",
        target,
        "--arg",
        "employee=007",
        "--arg",
        "amount=1",
        "--store",
        cli.store,
        "--no-input",
    )
    assert result.code == 0, result.err
    assert "Approve 1.00 for 007?" in result.err


def test_respond_refuses_typos_and_untyped_answers(cli: Cli) -> None:
    target = cli.add_example() + ".expense"
    started = cli(
        "run", target, "--arg", "employee=ada", "--arg", "amount=9", "--store", cli.store,
        "--no-input",
    )  # fmt: skip
    assert started.code == 0, started.err
    assert "answer with: workflows respond " in started.err
    assert """--json '{"approved": true, "reason": "..."}'""" in started.err
    request_id = str(waiting_request(cli, cli.store)["request_id"])

    # The typo of the issue: a truncated JSON object is not sent as text.
    line = one_line_error(cli("respond", request_id, '{"response": "yes"', "--store", cli.store), 2)
    assert "add --json" in line
    line = one_line_error(
        cli("respond", request_id, '{"approved": true', "--json", "--store", cli.store), 2
    )
    assert "not valid JSON" in line and "line 1 column 18" in line

    # Text is a plain {"response": ...}: refused by the typed request, with a hint.
    line = one_line_error(cli("respond", request_id, "yes", "--store", cli.store), 1)
    assert "field 'approved' is required" in line
    assert """answer with fields, e.g. --json '{"approved": true""" in line
    line = one_line_error(
        cli("respond", request_id, '{"approved": "Yes."}', "--json", "--store", cli.store), 1
    )
    assert "approved" in line and "boolean" in line
    assert waiting_request(cli, cli.store)["status"] == "pending"

    answered = cli(
        "respond",
        request_id,
        "--json",
        '{"approved": false, "reason": "no receipt"}',
        "--store",
        cli.store,
        "--app",
        target,
    )
    assert answered.code == 0, answered.err
    assert answered.out.strip() == "rejected 9.00 for ada: no receipt"


def test_validation_errors_of_the_engine_are_one_line(cli: Cli) -> None:
    """A field validator only pydantic knows (not in the JSON schema) fails in the
    engine; its report comes out as one line without pydantic's URLs."""
    (cli.cwd / "strict.py").write_text(
        "from pydantic import field_validator\n"
        "from workflows import Workflow, step\n"
        "from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent,"
        " StopEvent\n\n"
        "class Answer(HumanResponseEvent):\n"
        "    code: str\n\n"
        "    @field_validator('code')\n"
        "    @classmethod\n"
        "    def _upper(cls, value: str) -> str:\n"
        "        if value != value.upper():\n"
        "            raise ValueError('must be upper case')\n"
        "        return value\n\n"
        "class Strict(Workflow):\n"
        "    @step\n"
        "    async def ask(self, ev: StartEvent) -> InputRequiredEvent:\n"
        "        return InputRequiredEvent(prefix='Code?')\n\n"
        "    @step\n"
        "    async def done(self, ev: Answer) -> StopEvent:\n"
        "        return StopEvent(result=ev.code)\n\n"
        "WORKFLOWS = {'strict': Strict(timeout=None)}\n"
    )
    assert cli("run", "strict:WORKFLOWS.strict", "--store", cli.store, "--no-input").code == 0
    request_id = str(waiting_request(cli, cli.store)["request_id"])
    result = cli(
        "respond",
        request_id,
        "--json",
        '{"code": "abc"}',
        "--store",
        cli.store,
        "--app",
        "strict:WORKFLOWS",
    )
    line = one_line_error(result, 1)
    assert line.endswith("is invalid: code: must be upper case"), line

    # Interactively, the same error is shown and the question asked again.
    interactive = cli("run", "strict:WORKFLOWS.strict", "--store", cli.store, input="abc\nABC\n")
    assert interactive.code == 0, interactive.err
    assert "invalid answer: code: must be upper case" in interactive.err
    assert interactive.out.rstrip().endswith("ABC")
