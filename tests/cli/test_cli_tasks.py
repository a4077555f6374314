"""``workflows inbox --mine/--group/--sort``, ``claim``, ``unclaim``, ``assign`` and
``show``'s task lines: against a server with a users file (two users in different
groups each see only their tasks), and on a store."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import _team
from _team import TOKENS, team_server
from _wait import until
from workflows.client import WorkflowClient

from .conftest import Cli


@pytest.fixture
def team_url(tmp_path: Path, sqlite_url: str) -> Iterator[str]:
    """A server of the team (``tests/_team.py``) on a SQLite file."""
    with team_server(sqlite_url, tmp_path) as server:
        yield server.url


async def _ask(url: str, **routing: Any) -> str:
    """Start a ``routed`` run as the admin; its request id once it waits."""
    async with WorkflowClient(url, TOKENS["root"]) as root:
        handle = await root.start("routed", **routing)

        async def pending() -> str | None:
            found = await root.inbox(run_id=handle.run_id)
            return found[0].request_id if found else None

        return str(await until(pending, "the request"))


def ask(url: str, **routing: Any) -> str:
    return asyncio.run(_ask(url, **routing))


def as_user(cli: Cli, url: str, user: str, *args: str) -> Any:
    """Run ``workflows ARGS --url URL --token <user's token>``."""
    return cli(*args, "--url", url, "--token", TOKENS[user])


def listed(cli: Cli, url: str, user: str, *options: str) -> list[str]:
    """The prompts ``inbox --json OPTIONS`` lists for ``user``."""
    result = as_user(cli, url, user, "inbox", "--json", *options)
    assert result.code == 0, result.err
    return [r["prompt_text"] for r in json.loads(result.out)]


def test_two_users_see_their_tasks_claim_and_hand_over(cli: Cli, team_url: str) -> None:
    url = team_url
    books = ask(url, title="Close the books", groups=["finance"], priority=2, due_in=3600)
    ask(url, title="Sign the contract", groups=["legal"], due_in=60)
    run_id = books.partition(":")[0]

    assert listed(cli, url, "ada") == ["Close the books"]
    assert listed(cli, url, "bob") == ["Sign the contract"]
    assert listed(cli, url, "ada", "--group", "mine") == ["Close the books"]
    assert listed(cli, url, "root", "--sort", "due") == ["Sign the contract", "Close the books"]
    table = as_user(cli, url, "ada", "inbox")
    assert table.out.splitlines()[0].split() == [
        "REQUEST", "ID", "WORKFLOW", "STATUS", "AGE", "ASSIGNEE", "PRI", "DUE", "PROMPT",
    ]  # fmt: skip
    assert "(@finance)" in table.out and "in 59m" in table.out

    claimed = as_user(cli, url, "ada", "claim", books)
    assert claimed.code == 0, claimed.err
    assert claimed.err_lines == [f"claimed {books} (assigned to ada)"]
    refused = as_user(cli, url, "carol", "claim", books)
    assert refused.code == 1 and len(refused.err_lines) == 1
    assert "assigned to 'ada'" in refused.err
    hidden = as_user(cli, url, "bob", "claim", books)
    assert hidden.code == 1 and "not found" in hidden.err
    assert listed(cli, url, "ada", "--mine") == ["Close the books"]
    assert listed(cli, url, "carol", "--mine") == []
    assert listed(cli, url, "carol", "--unassigned") == []

    handed = as_user(cli, url, "ada", "assign", books, "carol")
    assert handed.code == 0 and handed.err_lines == [f"assigned {books} to carol"]
    forbidden = as_user(cli, url, "ada", "unclaim", books)
    assert forbidden.code == 1 and "only the assignee or an admin" in forbidden.err
    # No --as: carol's login name is not sent, the token says who answers.
    answered = as_user(cli, url, "carol", "respond", books, "closed")
    assert answered.code == 0, answered.err

    shown = as_user(cli, url, "root", "show", run_id)
    assert shown.code == 0, shown.err
    assert "    may claim @finance" in shown.out and "    priority  2" in shown.out
    assert "    by        carol" in shown.out
    history = shown.out[shown.out.index("    history") :].splitlines()[1:5]
    assert [line.strip().split("  ", 1)[1] for line in history] == [
        "created",
        "claimed by ada",
        "assigned to carol by ada",
        "answered by carol",
    ]
    details = json.loads(as_user(cli, url, "root", "show", run_id, "--json").out)
    (request,) = details["requests"]
    assert request["candidate_groups"] == ["finance"] and request["assignee"] == "carol"
    assert [e["action"] for e in request["audit"]] == ["created", "claimed", "assigned", "answered"]


def test_unclaim_and_assign_to_nobody(cli: Cli, team_url: str) -> None:
    memo = ask(team_url, title="Read the memo", users=["bob"])
    assert as_user(cli, team_url, "bob", "claim", memo).code == 0
    unclaimed = as_user(cli, team_url, "bob", "unclaim", memo)
    assert unclaimed.code == 0 and unclaimed.err_lines == [f"unclaimed {memo}; nobody holds it now"]
    assert as_user(cli, team_url, "root", "assign", memo, "bob").code == 0
    assert listed(cli, team_url, "bob", "--mine") == ["Read the memo"]
    nobody = as_user(cli, team_url, "root", "assign", memo, "--none")
    assert nobody.code == 0 and nobody.err_lines == [f"unassigned {memo}; nobody holds it now"]
    usage = as_user(cli, team_url, "root", "assign", memo, "bob", "--none")
    assert usage.code == 2 and "either USER or --none" in usage.err


def test_tasks_on_a_store(cli: Cli, store: str) -> None:
    shutil.copy(Path(_team.__file__), cli.cwd / "team.py")
    for title, groups in (("Close the books", "finance"), ("Sign the contract", "legal")):
        started = cli(
            "run", "team.py:WORKFLOWS.routed", "--store", store, "--no-input",
            "--arg", f"title={title}", "--arg", f'groups=["{groups}"]',
        )  # fmt: skip
        assert started.code == 0, started.err
    listed = json.loads(cli("inbox", "--store", store, "--json").out)
    books = next(r["request_id"] for r in listed if r["prompt_text"] == "Close the books")

    group = json.loads(cli("inbox", "--store", store, "--group", "finance", "--json").out)
    assert [r["prompt_text"] for r in group] == ["Close the books"]
    mine = cli("inbox", "--store", store, "--group", "mine")
    assert mine.code == 2 and "a store does not know your groups" in mine.err

    claimed = cli("claim", books, "--as", "ada", "--store", store)
    assert claimed.code == 0 and claimed.err_lines == [f"claimed {books} (assigned to ada)"]
    again = cli("claim", books, "--as", "carol", "--store", store)
    assert again.code == 1 and "assigned to 'ada'" in again.err
    ours = json.loads(cli("inbox", "--store", store, "--mine", "--as", "ada", "--json").out)
    assert [r["request_id"] for r in ours] == [books]
    assert cli("assign", books, "carol", "--as", "ada", "--store", store).code == 0
    assert cli("respond", books, "done", "--as", "carol", "--store", store).code == 0

    shown = cli("show", books.partition(":")[0], "--store", store)
    assert shown.code == 0, shown.err
    assert "    assignee  carol" in shown.out
    assert "claimed by ada" in shown.out and "assigned to carol by ada" in shown.out
    assert "answered by carol" in shown.out
