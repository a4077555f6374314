"""Tables: coloured and cut to width on a terminal (a pseudo-terminal here), plain text
when piped; and the helpers that format durations and condense error reports."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys

import pytest
from pydantic import BaseModel, Field

from workflows.cli._messages import condense, one_line, validation_summary
from workflows.cli._output import ago, format_duration

from .conftest import TIMEOUT, Cli

ANSI = re.compile(r"\x1b\[[0-9;]*m")
pty = pytest.importorskip("pty")


def on_terminal(cli: Cli, *args: str, columns: int = 200, **env: str) -> str:
    """The command's stdout when it is a terminal ``columns`` wide."""
    master, slave = pty.openpty()
    environment = {**cli.env, "TERM": "xterm", "COLUMNS": str(columns), **env}
    environment.pop("NO_COLOR", None)
    environment.update(env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "workflows.cli", *args],
        cwd=cli.cwd,
        env={k: v for k, v in environment.items() if v},
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError as exc:  # EIO: the other side closed
                if exc.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        proc.stderr.close()
        proc.wait(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    return b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.fixture
def three_runs(cli: Cli) -> Cli:
    add = ["run", "flows:ALL.add", "--store", cli.store]
    assert cli(*add, "--arg", "a=1", "--arg", "b=2").code == 0
    assert cli(*add, "--arg", "a=1", "--arg", 'b="x"').code == 1  # fails in the step
    assert cli("run", "flows:approval", "--arg", "amount=5", "--store", cli.store, "--no-input")
    return cli


def test_tables_are_coloured_and_aligned_on_a_terminal(three_runs: Cli) -> None:
    cli = three_runs
    out = on_terminal(cli, "runs", "--store", cli.store)
    assert "\x1b[" in out
    assert "\x1b[32mcompleted" in out and "\x1b[31mfailed" in out and "\x1b[35mwaiting" in out
    header, *rows = ANSI.sub("", out).splitlines()
    assert len(rows) == 3
    for column in ("WORKFLOW", "STATUS", "AGE", "DURATION", "RESULT"):
        start = header.index(column)
        assert all(row[start - 2 : start] == "  " and row[start] != " " for row in rows), column
    by_status = {row.split()[2]: row for row in rows}
    assert by_status["completed"].endswith("  3")
    assert "TypeError: " in by_status["failed"]
    assert by_status["waiting"].rstrip().endswith("-")

    plain = on_terminal(cli, "runs", "--store", cli.store, NO_COLOR="1")
    assert "\x1b[" not in plain
    assert [r.split()[:3] for r in plain.splitlines()] == [r.split()[:3] for r in [header, *rows]]


def test_long_cells_are_cut_to_the_terminal_but_not_when_piped(three_runs: Cli) -> None:
    cli = three_runs
    wide = cli("runs", "--store", cli.store, "--status", "failed").out
    narrow = on_terminal(cli, "runs", "--store", cli.store, "--status", "failed", columns=100)
    (row,) = ANSI.sub("", narrow).splitlines()[1:]
    assert len(row) <= 100 and row.endswith("…")
    (full,) = wide.splitlines()[1:]
    assert len(full) > 100 and "\x1b[" not in wide


def test_json_is_never_coloured(three_runs: Cli) -> None:
    out = on_terminal(three_runs, "runs", "--store", three_runs.store, "--json")
    assert "\x1b[" not in out
    assert sorted(run["status"] for run in json.loads(out)) == ["completed", "failed", "waiting"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0.123, "0.12s"),
        (4.25, "4.2s"),
        (42, "42s"),
        (303, "5m03s"),
        (7500, "2h05m"),
        (3 * 86400 + 4 * 3600, "3d04h"),
    ],
)
def test_durations(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_ages() -> None:
    assert ago(None) == "-"
    assert ago(100.0, now=112.5) == "12s"
    assert ago(0.0, now=3 * 3600 + 5) == "3h"
    assert ago(0.0, now=2 * 86400) == "2d"


class Claim(BaseModel):
    employee: str = Field(min_length=1)
    amount: float = Field(gt=0)
    tags: list[int] = []


def test_validation_reports_become_one_line_without_urls() -> None:
    with pytest.raises(Exception) as info:
        Claim.model_validate({"employee": "", "amount": "abc", "tags": [1, "x"]})
    report = str(info.value)
    assert "errors.pydantic.dev" in report  # pydantic's own text, as the engine passes it on
    expected = (
        "employee: String should have at least 1 character; "
        "amount: Input should be a valid number, unable to parse string as a number; "
        "tags.1: Input should be a valid integer, unable to parse string as an integer"
    )
    assert condense(report) == expected
    assert validation_summary(info.value) == expected  # type: ignore[arg-type]
    wrapped = f"response to input request 'r:1' is invalid: {report}"
    assert one_line(wrapped) == f"response to input request 'r:1' is invalid: {expected}"
    assert one_line("no report here\n  at all") == "no report here at all"
