"""Human tasks on the inbox and run pages, in a real headless Chromium against a real
server with a users file: two users in different groups each see only their tasks
(also live), the tabs, claiming and unclaiming from the page, a claim lost to another
user, priority/due/follow-up badges, and the run page's history of a request."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from _live_server import LiveServer, live_servers
from _team import TOKENS, team_workflows
from _team import team_server as serve_team
from _wait import until

SCREENSHOT = Path("/tmp/inbox-tasks.png")
RUN_SCREENSHOT = Path("/tmp/run-history.png")


@pytest.fixture
def team_server(tmp_path: Path, sqlite_url: str) -> Iterator[LiveServer]:
    """A server of the team (``tests/_team.py``) on a fresh SQLite file."""
    with serve_team(sqlite_url, tmp_path) as server:
        yield server


@pytest.fixture
async def root(team_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """The admin's HTTP client."""
    headers = {"Authorization": f"Bearer {TOKENS['root']}"}
    async with httpx.AsyncClient(base_url=team_server.url, headers=headers, timeout=30) as c:
        yield c


async def ask(root: httpx.AsyncClient, title: str, **routing: Any) -> str:
    """Start a ``routed`` run; its request id once it waits."""
    started = await root.post("/workflows/routed/runs", json={"input": {"title": title, **routing}})
    assert started.status_code == 201, started.text
    run_id = started.json()["run_id"]

    async def pending() -> str | None:
        found = (await root.get("/requests", params={"run_id": run_id})).json()["requests"]
        return found[0]["request_id"] if found else None

    return str(await until(pending, f"the request {title!r}"))


STREAM = re.compile(r"/requests/stream(\?.*)?$")
"""The inbox stream."""
LISTING = re.compile(r"/requests(\?.*)?$")
"""The inbox listing (not one request, nor its claim)."""


async def signed_in(page: Any, url: str, user: str, errors: list[str], live: bool = True) -> Any:
    """A tab of its own browser context (its own session) signed in as ``user``; its
    JavaScript errors go to ``errors``. ``live=False``: its inbox stream is cut."""
    context = await page.context.browser.new_context(viewport={"width": 1100, "height": 1000})
    await context.add_init_script(
        f"sessionStorage.setItem('workflows.token', {json.dumps(TOKENS[user])})"
    )
    if not live:
        await context.route(STREAM, lambda route: route.abort())
    tab = await context.new_page()
    tab.on("pageerror", lambda exc: errors.append(f"{user}: {exc}"))
    await tab.goto(url + "/")
    return tab


async def test_two_users_in_different_groups_each_see_and_claim_their_tasks(
    team_server: LiveServer, root: httpx.AsyncClient, page: Any
) -> None:
    from playwright.async_api import expect

    url = team_server.url
    books = await ask(root, "Close the books", groups=["finance"], priority=2, due_in=3600)
    await ask(root, "Sign the contract", groups=["legal"])

    # ada signs in through the page's form; the page asks GET /me who she is.
    await page.goto(url + "/")
    await page.get_by_label("Access token").fill(TOKENS["ada"])
    await page.get_by_role("button", name="Use token").click()
    await expect(page.locator("#whoami")).to_have_text("Signed in as ada · finance")
    await expect(page.get_by_label("Answering as")).to_be_hidden()
    ada_books = page.locator("article.request", has_text="Close the books")
    await expect(ada_books).to_be_visible()
    await expect(page.locator("article.request")).to_have_count(1)
    await expect(ada_books.locator(".badge.priority")).to_have_text("Priority 2")
    await expect(ada_books.locator(".badge.due")).to_contain_text("Due in 60 min")
    await expect(ada_books.locator(".badge.holder")).to_have_text("Offered to finance (group)")

    errors: list[str] = []
    bob = await signed_in(page, url, "bob", errors)
    await expect(bob.locator("#whoami")).to_have_text("Signed in as bob · legal")
    await expect(bob.locator("article.request", has_text="Sign the contract")).to_be_visible()
    await expect(bob.locator("article.request")).to_have_count(1)

    # carol (finance too) opens her inbox before ada claims; her page has no stream and
    # lists no more after that, so it still offers the claim when she clicks.
    carol = await signed_in(page, url, "carol", errors, live=False)
    carol_books = carol.locator("article.request", has_text="Close the books")
    await expect(carol_books.get_by_role("button", name="Claim", exact=True)).to_be_visible()
    await carol.context.route(LISTING, lambda route: route.abort())

    # The tabs: nothing is ada's yet; her group offers the books.
    tabs = page.get_by_role("tablist", name="Which requests")
    await tabs.get_by_role("tab", name="My tasks").click()
    await expect(page.locator("#empty")).to_contain_text("Nothing is assigned to you")
    await expect(page.locator("article.request")).to_have_count(0)
    await tabs.get_by_role("tab", name="My groups").click()
    await expect(tabs.get_by_role("tab", name="My groups")).to_have_attribute(
        "aria-selected", "true"
    )
    await expect(ada_books).to_be_visible()
    assert "tab=groups" in page.url

    await ada_books.get_by_role("button", name="Claim", exact=True).click()
    await expect(ada_books.locator(".badge.holder")).to_have_text("Assigned to you")
    await expect(ada_books.get_by_role("button", name="Unclaim")).to_be_focused()
    await expect(ada_books.get_by_role("button", name="Claim", exact=True)).to_be_hidden()
    await expect(page.locator("#announcer")).to_contain_text("Claimed: Close the books")
    await tabs.get_by_role("tab", name="My tasks").click()
    await expect(ada_books).to_be_visible()
    assert (await root.get(f"/requests/{books}")).json()["assignee"] == "ada"

    # carol's claim comes second: the page reads the request again and says who holds
    # it; she cannot answer it.
    await carol_books.get_by_role("button", name="Claim", exact=True).click()
    await expect(carol_books.locator(".task-error")).to_contain_text("Not claimed")
    await expect(carol_books.locator(".task-error")).to_contain_text("'ada'")
    await expect(carol_books.locator(".badge.holder")).to_have_text("Assigned to ada")
    await expect(carol_books.get_by_role("button", name="Answer")).to_be_disabled()

    # Unclaim from "My tasks": the request leaves the tab; claim it again from "All".
    await ada_books.get_by_role("button", name="Unclaim").click()
    await expect(page.locator("article.request")).to_have_count(0)
    await tabs.get_by_role("tab", name="All I can see").click()
    await ada_books.get_by_role("button", name="Claim", exact=True).click()
    await expect(ada_books.locator(".badge.holder")).to_have_text("Assigned to you")

    # A new finance request arrives live for ada, never for bob (his stream is his).
    await expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    await expect(bob.locator("#live-state")).to_have_attribute("data-state", "live")
    await ask(root, "Pay the rent", groups=["finance"], due_in=0, follow_up_in=0)
    await ask(root, "Read the brief", groups=["legal"])
    rent = page.locator("article.request", has_text="Pay the rent")
    await expect(rent).to_be_visible()
    await expect(rent.locator(".badge.due.overdue")).to_contain_text("Overdue")
    await expect(rent.locator(".badge.follow-up.come")).to_contain_text("Follow up")
    await expect(bob.locator("article.request", has_text="Read the brief")).to_be_visible()
    await expect(bob.locator("article.request")).to_have_count(2)
    await page.screenshot(path=str(SCREENSHOT), full_page=True)

    # ada answers what she holds; the run page lists the request's history.
    await ada_books.get_by_role("button", name="Answer").click()
    await ada_books.get_by_label("Response").fill("closed")
    await ada_books.get_by_role("button", name="Send answer").click()
    await expect(page.locator("#sent .sent-item")).to_contain_text("Close the books")
    await page.locator("#sent .sent-item").get_by_role("link").click()
    history = page.locator("#history > li", has_text="Close the books")
    entries = history.locator(".audit-what")
    await expect(entries).to_have_text(
        ["Created", "Claimed by ada", "Unclaimed by ada", "Claimed by ada", "Answered by ada"]
    )
    await expect(history.locator("li").nth(1)).to_contain_text(" at ")
    await expect(page.locator("#run-status")).to_have_text("completed")
    await page.screenshot(path=str(RUN_SCREENSHOT), full_page=True)

    assert errors == []


async def test_on_a_shared_token_server_the_answering_as_name_claims(
    sqlite_url: str, page: Any
) -> None:
    from playwright.async_api import expect

    with live_servers(team_workflows) as start:
        server = start(sqlite_url, token="s3cret")
        headers = {"Authorization": "Bearer s3cret"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
            request_id = await ask(client, "Water the plants")
            await page.goto(server.url + "/")
            await page.get_by_label("Access token").fill("s3cret")
            await page.get_by_role("button", name="Use token").click()
            plants = page.locator("article.request", has_text="Water the plants")
            await expect(plants).to_be_visible()
            await expect(page.locator("#whoami")).to_be_hidden()
            await page.get_by_label("Answering as").fill("dana")
            await plants.get_by_role("button", name="Claim", exact=True).click()
            await expect(plants.locator(".badge.holder")).to_have_text("Assigned to you")
            assert (await client.get(f"/requests/{request_id}")).json()["assignee"] == "dana"
            await page.get_by_role("tab", name="My tasks").click()
            await expect(plants).to_be_visible()
            # Another name has no tasks: the tab lists afresh for it.
            await page.get_by_label("Answering as").fill("eve")
            await expect(plants).to_have_count(0)
            await expect(page.locator("#empty")).to_contain_text("Nothing is assigned to you")


async def test_a_refusal_of_a_call_made_before_the_token_does_not_sign_the_page_out(
    team_server: LiveServer, page: Any
) -> None:
    """The page lists the inbox before anyone entered a token (a 401); when that answer
    comes only after the token was entered, the page stays signed in and live."""
    import asyncio

    from playwright.async_api import expect

    async def late_without_token(route: Any) -> None:
        if "authorization" not in route.request.headers:
            await asyncio.sleep(1.5)  # answered (401) after the token below is entered
        await route.continue_()

    await page.route(LISTING, late_without_token)
    refused = page.wait_for_event(
        "response", lambda r: bool(LISTING.search(r.url)) and r.status == 401
    )
    await page.goto(team_server.url + "/")
    await page.get_by_label("Access token").fill(TOKENS["ada"])
    await page.get_by_role("button", name="Use token").click()
    await expect(page.locator("#whoami")).to_have_text("Signed in as ada · finance")
    await refused  # the late 401 has reached the page
    await expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    await expect(page.get_by_label("Access token")).to_be_hidden()
