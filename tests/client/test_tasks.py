"""Human tasks from the client, against a real server with a users file: each user sees
only their tasks, claims and reassigns by the rules, and reads the request's history."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from _live_server import LiveServer
from _team import TOKENS
from _team import team_server as serve_team
from _wait import until
from workflows.client import ForbiddenError, InputRequestInfo, UserInfo, WorkflowClient
from workflows.errors import InputRequestNotFoundError, RequestAssigneeChangedError


@pytest.fixture
def team_server(tmp_path: Path, sqlite_url: str) -> Iterator[LiveServer]:
    """A server of the team (``tests/_team.py``) on a fresh SQLite file."""
    with serve_team(sqlite_url, tmp_path) as server:
        yield server


@pytest.fixture
async def team(team_server: LiveServer) -> AsyncIterator[dict[str, WorkflowClient]]:
    """One client per user of the team, by user name."""
    async with AsyncExitStack() as stack:
        yield {
            user: await stack.enter_async_context(WorkflowClient(team_server.url, token))
            for user, token in TOKENS.items()
        }


async def ask(root: WorkflowClient, title: str, **routing: Any) -> InputRequestInfo:
    """Start a ``routed`` run (as the admin) and return its request once it waits."""
    handle = await root.start("routed", title=title, **routing)

    async def pending() -> InputRequestInfo | None:
        found = await root.inbox(run_id=handle.run_id)
        return found[0] if found else None

    request: InputRequestInfo = await until(pending, f"the request {title!r}")
    return request


def titles(requests: list[InputRequestInfo]) -> list[str]:
    return [r.prompt_text for r in requests]


async def test_each_user_sees_only_their_tasks(team: dict[str, WorkflowClient]) -> None:
    root, ada, bob = team["root"], team["ada"], team["bob"]
    assert await ada.me() == UserInfo("ada", ("finance",), admin=False, verified=True)
    assert (await root.me()).admin
    books = await ask(root, "Close the books", groups=["finance"], priority=2, due_in=3600)
    contract = await ask(root, "Sign the contract", groups=["legal"])
    await ask(root, "Review the memo", users=["bob"])
    open_to_all = await ask(root, "Water the plants")

    assert books.candidate_groups == ("finance",) and books.priority == 2
    assert books.due is not None and books.due > time.time()
    mine = await ada.requests()
    assert titles(mine.requests) == ["Water the plants", "Close the books"]
    assert mine.next_cursor is None
    assert titles((await bob.requests()).requests) == [
        "Water the plants",
        "Review the memo",
        "Sign the contract",
    ]
    assert len((await root.requests()).requests) == 4
    assert titles((await ada.requests(group="mine")).requests) == ["Close the books"]
    assert titles((await bob.requests(group=["legal"])).requests) == ["Sign the contract"]

    # A request the user may not see is answered as if it did not exist.
    with pytest.raises(InputRequestNotFoundError):
        await bob.request(books.request_id)
    with pytest.raises(InputRequestNotFoundError):
        await bob.claim(books.request_id)
    with pytest.raises(InputRequestNotFoundError):
        await bob.audit(books.request_id)
    assert (await ada.request(open_to_all.request_id)).request_id == open_to_all.request_id
    assert (await bob.request(contract.request_id)).candidate_groups == ("legal",)


async def test_claim_unclaim_assign_and_the_audit_list(team: dict[str, WorkflowClient]) -> None:
    root, ada, bob, carol = team["root"], team["ada"], team["bob"], team["carol"]
    books = await ask(root, "Close the books", groups=["finance"])

    claimed = await ada.claim(books.request_id)
    assert claimed.assignee == "ada"
    assert titles((await ada.requests(mine=True)).requests) == ["Close the books"]
    assert (await carol.requests(mine=True)).requests == []
    assert (await carol.requests(unassigned=True)).requests == []
    with pytest.raises(RequestAssigneeChangedError, match="ada"):
        await carol.claim(books.request_id)
    # carol sees it (her group) but may not answer nor hand on what ada holds.
    with pytest.raises(ForbiddenError, match="assigned to 'ada'"):
        await carol.respond(books.request_id, "done")
    with pytest.raises(ForbiddenError):
        await carol.assign(books.request_id, "carol")
    with pytest.raises(ForbiddenError):
        await carol.unclaim(books.request_id)

    assert (await ada.assign(books.request_id, "carol")).assignee == "carol"
    assert (await carol.unclaim(books.request_id)).assignee is None
    assert (await root.assign(books.request_id, "carol")).assignee == "carol"
    with pytest.raises(InputRequestNotFoundError):
        await bob.claim(books.request_id)
    assert await carol.respond(books.request_id, "closed")

    audit = await carol.audit(books.request_id)
    assert [(e.action, e.actor) for e in audit] == [
        ("created", None),
        ("claimed", "ada"),
        ("assigned", "ada"),
        ("unclaimed", "carol"),
        ("assigned", "root"),
        ("answered", "carol"),
    ]
    assert [e.describe() for e in audit[1:3]] == ["claimed by ada", "assigned to carol by ada"]
    assert audit[2].detail == {"assignee": "carol", "previous": "ada"}
    assert [e.at for e in audit] == sorted(e.at for e in audit)
    assert all(e.request_id == books.request_id and e.workflow == "routed" for e in audit)
    assert (await root.request(books.request_id)).answered_by == "carol"


async def test_two_users_claim_at_once_and_exactly_one_wins(
    team: dict[str, WorkflowClient],
) -> None:
    books = await ask(team["root"], "Close the books", groups=["finance"])
    outcomes = await asyncio.gather(
        team["ada"].claim(books.request_id),
        team["carol"].claim(books.request_id),
        return_exceptions=True,
    )
    won = [o for o in outcomes if isinstance(o, InputRequestInfo)]
    lost = [o for o in outcomes if isinstance(o, RequestAssigneeChangedError)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    assert (await team["root"].request(books.request_id)).assignee == won[0].assignee


async def test_filters_sorts_and_cursor_pages(team: dict[str, WorkflowClient]) -> None:
    root = team["root"]
    await ask(root, "low, due late", groups=["finance"], priority=1, due_in=7200)
    await ask(root, "high, no due", groups=["finance"], priority=5)
    await ask(root, "mid, due soon", groups=["finance"], priority=3, due_in=600)
    ada = team["ada"]

    by_due = await ada.requests(sort="due")
    assert titles(by_due.requests) == ["mid, due soon", "low, due late", "high, no due"]
    by_priority = await ada.requests(sort="priority")
    assert titles(by_priority.requests) == ["high, no due", "mid, due soon", "low, due late"]
    assert titles((await ada.requests(priority_min=3)).requests) == [
        "mid, due soon",
        "high, no due",
    ]
    soon = time.time() + 1800
    assert titles((await ada.requests(due_before=soon)).requests) == ["mid, due soon"]
    assert titles((await ada.requests(due_after=soon)).requests) == ["low, due late"]
    naive_utc = datetime.fromtimestamp(soon, timezone.utc).replace(tzinfo=None)
    assert titles((await ada.requests(due_before=naive_utc)).requests) == ["mid, due soon"]

    seen: list[str] = []
    page = await ada.requests(sort="priority", limit=2)
    while True:
        seen += titles(page.requests)
        if page.next_cursor is None:
            break
        page = await ada.requests(sort="priority", limit=2, cursor=page.next_cursor)
    assert seen == titles(by_priority.requests)


async def test_on_a_shared_token_server_the_user_is_who_the_client_names(
    start_server: Any, sqlite_url: str
) -> None:
    server = start_server(sqlite_url, token="s3cret")
    async with WorkflowClient(server.url, "s3cret", user="dana") as dana:
        assert await dana.me() == UserInfo("dana", (), admin=True, verified=False)
        handle = await dana.start("approval", amount=3)

        async def pending() -> list[InputRequestInfo]:
            return await dana.inbox(run_id=handle.run_id)

        (request,) = await until(pending, "the approval request")
        assert (await dana.claim(request.request_id)).assignee == "dana"
        assert [r.request_id for r in (await dana.requests(mine=True)).requests] == [
            request.request_id
        ]
        await dana.respond(request.request_id, {"approved": True})
        assert (await dana.request(request.request_id)).answered_by == "dana"
        assert [e.describe() for e in await dana.audit(request.request_id)] == [
            "created",
            "claimed by dana",
            "answered by dana",
        ]
