"""Running the ``workflows`` command in a subprocess, in a directory holding a small
workflow module (``flows.py``, whose approval comes from ``tests/_served_flows.py``,
copied beside it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import _serve_command as serve_command

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "approval_app.py"

SERVED_FLOWS = Path(__file__).resolve().parents[1] / "_served_flows.py"

FLOWS = """
from _served_flows import ReviewedApproval as Approval
from workflows import Workflow, step
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Hello(Workflow):
    @step
    async def ask(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="Your name?")

    @step
    async def greet(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=f"hello {ev.response}")


class Add(Workflow):
    @step
    async def add(self, ev: StartEvent) -> StopEvent:
        return StopEvent(result=ev.a + ev.b)


approval = Approval(timeout=None, workflow_name="approval")
ALL = {"approval": approval, "hello": Hello(timeout=None), "add": Add(timeout=None)}
NOT_A_WORKFLOW = 42
"""

TIMEOUT = 60


@dataclass
class Result:
    """What a command did."""

    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@dataclass
class Cli:
    """Runs ``python -m workflows.cli`` in ``cwd`` (which holds ``flows.py``)."""

    cwd: Path
    env: dict[str, str]

    @property
    def store(self) -> str:
        return f"sqlite:///{self.cwd / 'runs.db'}"

    def add_example(self) -> str:
        """Copy ``examples/approval_app.py`` here as ``app.py``; returns its target."""
        shutil.copy(EXAMPLE, self.cwd / "app.py")
        return "app.py:WORKFLOWS"

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
        """Start the command without waiting for it (stdout and stderr piped)."""
        return subprocess.Popen(
            [sys.executable, "-m", "workflows.cli", *args],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **kwargs,
        )

    def __call__(self, *args: str, input: str | None = None, **kwargs: Any) -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "workflows.cli", *args],
            cwd=self.cwd,
            env=self.env,
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
            **kwargs,
        )
        return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    (tmp_path / "flows.py").write_text(FLOWS)
    shutil.copy(SERVED_FLOWS, tmp_path)  # the approval of flows.py, answered with a Review
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOWS_")}
    env["NO_COLOR"] = "1"
    return Cli(tmp_path, env)


@pytest.fixture
def postgres_store(postgres_schema_url: str) -> str:
    """A PostgreSQL store URL on a schema of its own, dropped after the test."""
    return postgres_schema_url


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, cli: Cli) -> Iterator[str]:
    """A store URL the CLI's store commands are tested on: a SQLite file in the
    command's directory, or a fresh PostgreSQL schema (failing, not skipping, without
    PostgreSQL when ``WORKFLOWS_REQUIRE_POSTGRES=1``)."""
    if request.param == "sqlite":
        yield cli.store
    else:
        yield str(request.getfixturevalue("postgres_store"))


@contextmanager
def serving(cli: Cli, *args: str, token: str | None = "s3cret") -> Iterator[str]:
    """``workflows serve ARGS`` on a free port (``tests/_serve_command.py``); yields its
    URL once it listens, and stops it with SIGINT after the block."""
    env = dict(cli.env)
    if token is not None:
        env["WORKFLOWS_TOKEN"] = token
    with serve_command.serving(
        [*serve_command.SERVE, *args], cwd=cli.cwd, env=env, start_timeout=TIMEOUT
    ) as url:
        yield url
