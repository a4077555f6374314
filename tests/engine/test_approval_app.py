"""examples/approval_app.py: a typed approval started in one process and answered from
another; invalid input is refused before a run exists, and only a yes/no answer counts."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from workflows.engine import Engine
from workflows.errors import InvalidResponseError, WorkflowValidationError

APP = Path(__file__).resolve().parents[2] / "examples" / "approval_app.py"


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(APP), *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


@pytest.fixture(scope="module")
def app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("approval_app_under_test", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_answers_a_run_from_another_process() -> None:
    done = _run("demo")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("started ")
    assert lines[1].endswith("\tApprove 420.00 for ada?")
    assert lines[-1] == "approved 420.00 for ada: within budget"


def test_subcommands_share_the_default_file(tmp_path: Path) -> None:
    started = _run("start", "--employee", "bob", "--amount", "99.5", cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    assert (tmp_path / "approvals.db").exists()
    listing = _run("inbox", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    [line] = listing.stdout.strip().splitlines()
    request_id = line.split("\t")[0]
    answered = _run("respond", request_id, "reject", "--reason", "no receipt", cwd=tmp_path)
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.strip() == "rejected 99.50 for bob: no receipt"
    again = _run("respond", request_id, "approve", cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr.startswith("error: ") and "answered" in again.stderr.lower()
    assert _run("inbox", cwd=tmp_path).stdout.strip() == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--amount", "0"], "error: amount: Input should be greater than 0"),
        (["--amount", "-3"], "error: amount: Input should be greater than 0"),
        (["--employee", "  "], "error: employee: must not be empty"),
    ],
)
def test_invalid_claims_are_refused_before_a_run_exists(
    tmp_path: Path, args: list[str], message: str
) -> None:
    done = _run("start", *args, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == message
    assert not (tmp_path / "approvals.db").exists()


def test_only_approve_or_reject_is_an_answer(tmp_path: Path) -> None:
    assert _run("start", cwd=tmp_path).returncode == 0
    request_id = _run("inbox", cwd=tmp_path).stdout.split("\t")[0]
    done = _run("respond", request_id, "yes", cwd=tmp_path)
    assert done.returncode == 2
    assert "invalid choice: 'yes' (choose from 'approve', 'reject')" in done.stderr
    assert _run("inbox", cwd=tmp_path).stdout.startswith(request_id)


async def test_the_workflow_is_typed(app: ModuleType, tmp_path: Path) -> None:
    wf = app.WORKFLOWS["expense"]
    assert wf.start_event_class is app.ExpenseClaim
    async with Engine(f"sqlite:///{tmp_path / 'runs.db'}", app.WORKFLOWS) as engine:
        with pytest.raises(WorkflowValidationError, match="amount"):
            await engine.start("expense", employee="ada", amount="abc")
        assert await engine.runs() == []

        handle = await engine.start("expense", employee="ada", amount=420)
        (request,) = await engine.inbox()
        schema = request.response_schema
        assert schema["properties"]["approved"]["type"] == "boolean"
        assert schema["properties"]["reason"]["type"] == "string"
        assert schema["required"] == ["approved"]
        # A free-text answer is refused instead of counting as a rejection.
        for answer in ("yes", "Yes.", {"approved": "approve"}):
            with pytest.raises(InvalidResponseError):
                await engine.respond(request.request_id, answer)
        assert await engine.respond(request.request_id, {"approved": True, "reason": "ok"})
        assert await handle == "approved 420.00 for ada: ok"
