"""Store URLs that cannot be what was meant: a read command on a SQLite file that does
not exist, and ``sqlite:///tmp/x.db`` (the relative ``tmp/x.db``) meant as ``/tmp/x.db``."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from .conftest import Cli

READ_COMMANDS = [
    ["runs"],
    ["inbox"],
    ["show", "r"],
    ["events", "r"],
    ["events", "r", "--follow"],
    ["respond", "r:1", "yes"],
    ["cancel", "r"],
]


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: c[0])
def test_reading_a_missing_sqlite_file_is_refused(cli: Cli, command: list[str]) -> None:
    result = cli(*command, "--store", "sqlite:///fresh.db")
    assert result.code == 2, result.err
    assert len(result.err_lines) == 1
    assert f"no SQLite database at 'fresh.db' (that is {cli.cwd / 'fresh.db'})" in result.err
    assert not (cli.cwd / "fresh.db").exists(), "no empty database was created"

    default = cli(*command)
    assert default.code == 2
    assert "the default store sqlite:///workflows.db" in default.err
    assert str(cli.cwd / "workflows.db") in default.err
    assert not (cli.cwd / "workflows.db").exists()


@pytest.mark.parametrize("command", [["runs"], ["show", "r"], ["run", "flows:ALL.add"]])
def test_a_relative_path_meant_as_absolute_gets_a_hint(cli: Cli, command: list[str]) -> None:
    assert not (cli.cwd / "tmp").exists() and Path("/tmp").is_dir()
    args = ["--arg", "a=1", "--arg", "b=2"] if command[0] == "run" else []
    result = cli(*command, *args, "--store", "sqlite:///tmp/x.db")
    assert result.code == 2, result.err
    assert "did you mean sqlite:////tmp/x.db?" in result.err
    assert "'tmp/x.db'" in result.err


def test_commands_that_create_runs_need_the_directory(cli: Cli) -> None:
    result = cli(
        "run", "flows:ALL.add", "--arg", "a=1", "--arg", "b=2", "--store", "sqlite:///nodir/x.db"
    )
    assert result.code == 2
    assert "cannot create the SQLite database 'nodir/x.db'" in result.err
    assert "directory does not exist" in result.err and "did you mean" not in result.err
    created = cli(
        "run", "flows:ALL.add", "--arg", "a=1", "--arg", "b=2", "--store", "sqlite:///new.db"
    )
    assert created.code == 0, created.err
    assert (cli.cwd / "new.db").is_file()
    assert cli("runs", "--store", "sqlite:///new.db").code == 0


def test_the_command_line_wins_over_the_environment(cli: Cli) -> None:
    cli.env["WORKFLOWS_STORE"] = "sqlite:///missing.db"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = cli("runs", "--url", f"http://127.0.0.1:{port}")
    assert result.code == 1 and "cannot reach" in result.err  # not "give either ... not both"
    cli.env["WORKFLOWS_URL"] = f"http://127.0.0.1:{port}"
    del cli.env["WORKFLOWS_STORE"]
    result = cli("runs", "--store", "sqlite:///missing.db")
    assert result.code == 2 and "missing.db" in result.err
